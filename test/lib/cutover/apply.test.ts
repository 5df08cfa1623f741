import {CreateBucketCommand, GetBucketNotificationConfigurationCommand, PutBucketNotificationConfigurationCommand} from '@aws-sdk/client-s3'
import {CreateQueueCommand} from '@aws-sdk/client-sqs'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {applyPlan, type CutoverDeps, rollbackBucket} from '../../../src/lib/cutover/apply.js'
import {parseCutoverConfig, resolveBucket, selectBuckets} from '../../../src/lib/cutover/config.js'
import type {GateRunners} from '../../../src/lib/cutover/gates.js'
import type {TransferClient, TransferJobSpec} from '../../../src/lib/cutover/leg.js'
import {normalizeNotification} from '../../../src/lib/cutover/notification.js'
import {planBuckets} from '../../../src/lib/cutover/plan.js'
import {LocalStateStore} from '../../../src/lib/cutover/state.js'
import {ExitCode} from '../../../src/lib/exit-codes.js'
import {startAws} from '../../helpers/fauxqs.js'
import {tempDir} from '../../helpers/tmp.js'
import {mutating, s3Double, sqsRecorded} from './aws-double.js'

const EXISTING = {
  TopicConfigurations: [{Id: 'deletes', TopicArn: 'arn:aws:sns:us-east-1:000000000000:deletes', Events: ['s3:ObjectRemoved:*' as const]}],
  LambdaFunctionConfigurations: [
    {Id: 'thumbs', LambdaFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:thumbs', Events: ['s3:ObjectCreated:Put' as const], Filter: {Key: {FilterRules: [{Name: 'prefix' as const, Value: 'images/'}]}}},
  ],
}

describe('cutover plan / apply / rollback against fauxqs and the SDK boundary', () => {
  let aws: Awaited<ReturnType<typeof startAws>>
  let fifoUrl = ''
  beforeAll(async () => {
    aws = await startAws()
    fifoUrl = (await aws.sqs.send(new CreateQueueCommand({QueueName: 'logs.fifo', Attributes: {FifoQueue: 'true'}}))).QueueUrl!
    for (const b of ['web-logs', 'api-logs', 'fifo-logs']) await aws.s3.send(new CreateBucketCommand({Bucket: b}))
  })
  afterAll(async () => aws.stop())

  let n = 0
  async function setup(opts: {gates?: Partial<Record<'reconcile' | 'latency', boolean>>; failPut?: (b: string) => boolean} = {}) {
    const dir = tempDir('cutover')
    const queueUrl = (await aws.sqs.send(new CreateQueueCommand({QueueName: `logs-events-${++n}`}))).QueueUrl!
    const s3 = s3Double(aws.endpoint, {failPut: opts.failPut})
    const sqs = sqsRecorded(aws.endpoint)
    const jobs = new Map<string, Omit<TransferJobSpec, 'status'> & {status: string}>()
    const transfer: TransferClient = {
      async getJob(name) {
        return jobs.get(name)
      },
      async createJob(job) {
        jobs.set(job.name, {...job})
        return {name: job.name}
      },
      async setStatus(name, _p, status) {
        jobs.get(name)!.status = status
      },
    }
    const gates: GateRunners = {
      reconcile: async () => ({passed: opts.gates?.reconcile ?? true, summary: 'hours compared'}),
      latency: async () => ({passed: opts.gates?.latency ?? true, summary: 'p99 41s <= 5m'}),
    }
    const cfg = parseCutoverConfig({
      state: path.join(dir, 'state.json'),
      buckets: {
        'web-logs': {wave: 0, queue: queueUrl, prefix: 'AWSLogs/', table: 'alb_logs', leg: {stream: true, transfer: {projectId: 'proj', gcsBucket: 'landing'}}},
        'api-logs': {wave: 1, queue: 'main', table: 'api_logs', suffix: '.gz'},
        'fifo-logs': {wave: 9, queue: fifoUrl, table: 'x_logs'},
      },
      queues: {main: queueUrl},
    })
    let clock = Date.parse('2024-05-01T00:00:00Z')
    const store = new LocalStateStore(path.join(dir, 'state.json'))
    const deps = (actor = 'alice'): CutoverDeps => ({s3: s3.client, sqs: sqs.client, transfer: () => transfer, store, gates, actor, now: () => new Date((clock += 60_000))})
    const plan = async (bucket: string, d = deps()) => {
      const {state} = await store.read()
      return planBuckets(selectBuckets(cfg, {bucket}), {state, location: store.location}, d, {actor: d.actor, now: d.now()})
    }
    const apply = async (bucket: string, extra: {force?: boolean; reason?: string} = {}, d = deps()) =>
      applyPlan(await plan(bucket, d), new Map([[bucket, resolveBucket(cfg, bucket)]]), d, {warehouse: 'duckdb:x', lockTimeoutMs: 900_000, ...extra})
    const requests = () => [...s3.requests, ...sqs.requests]
    const clear = () => {
      s3.requests.length = 0
      sqs.requests.length = 0
    }
    return {dir, queueUrl, s3, sqs, jobs, cfg, store, deps, plan, apply, requests, clear}
  }

  it('plans a batch -> shadow move with reads only, then applies, re-applies idempotently, and rolls back byte-identically', async () => {
    const t = await setup()
    await t.s3.client.send(new PutBucketNotificationConfigurationCommand({Bucket: 'web-logs', NotificationConfiguration: EXISTING}))
    const snapshot = JSON.stringify(normalizeNotification(await t.s3.client.send(new GetBucketNotificationConfigurationCommand({Bucket: 'web-logs'}))))
    t.clear()

    const plan = await t.plan('web-logs')
    expect(mutating(t.requests())).toEqual([])
    expect(plan.buckets[0]).toMatchObject({from: 'batch', to: 'shadow', gates: false})
    expect(plan.buckets[0].actions.map((a) => [a.resource, a.change])).toEqual([
      ['queue-policy', 'add'],
      ['s3-notification', 'add'],
      ['stream', 'add'],
      ['transfer-job', 'add'],
      ['state', 'change'],
    ])
    expect(plan.totals).toEqual({add: 4, change: 1, remove: 0})

    const r = await t.apply('web-logs')
    expect(r.exitCode).toBe(ExitCode.OK)
    expect(r.buckets[0].outcome).toBe('applied')
    // the SDK serialized the merged configuration: SNS and Lambda kept, the queue added
    const put = t.s3.notifications.get('web-logs')!
    expect(put).toContain('<Id>deletes</Id>')
    expect(put).toContain('<Id>thumbs</Id>')
    expect(put).toContain('<Id>seneka-web-logs</Id>')
    expect(put).toContain('<Event>s3:ObjectCreated:*</Event>')
    // the queue policy on fauxqs allows the bucket
    const policy = JSON.parse((await t.sqs.client.send(new (await import('@aws-sdk/client-sqs')).GetQueueAttributesCommand({QueueUrl: t.queueUrl, AttributeNames: ['Policy']}))).Attributes!.Policy!)
    expect(policy.Statement.find((s: {Sid: string}) => s.Sid === 'SenekaS3weblogs').Condition.ArnEquals['aws:SourceArn']).toBe('arn:aws:s3:::web-logs')
    expect(t.jobs.get('transferJobs/seneka-web-logs')?.eventStream.name).toMatch(/^arn:aws:sqs:us-east-1:000000000000:logs-events-\d+$/)
    const state = JSON.parse(readFileSync(t.store.file, 'utf8'))
    expect(state.buckets['web-logs']).toMatchObject({mode: 'shadow', wave: 0, by: 'alice'})
    expect(state.buckets['web-logs'].snapshots.notification).toBe(snapshot)
    expect(state.lock).toBeUndefined()

    // re-running the same move: nothing left to do for infrastructure; the next plan is shadow -> event-driven
    t.clear()
    const again = await t.plan('web-logs')
    expect(again.buckets[0]).toMatchObject({from: 'shadow', to: 'event-driven', gates: true})
    expect(again.buckets[0].actions.filter((a) => a.change !== 'none').map((a) => a.resource)).toEqual(['state'])

    const e = await t.apply('web-logs')
    expect(e.buckets[0].outcome).toBe('applied')
    expect(e.buckets[0].gates?.passed).toBe(true)
    expect(mutating(t.requests()).map((q) => q.operation)).toEqual([]) // only the state changed

    // rollback: dry run sends nothing, the real one restores the exact snapshot
    t.clear()
    const dry = await rollbackBucket(resolveBucket(t.cfg, 'web-logs'), t.deps(), {to: 'batch', dryRun: true, lockTimeoutMs: 1})
    expect(dry.actions.map((a) => [a.resource, a.change])).toEqual([['s3-notification', 'change'], ['queue-policy', 'remove'], ['transfer-job', 'remove'], ['stream', 'remove'], ['state', 'change']])
    expect(mutating(t.requests())).toEqual([])
    const rb = await rollbackBucket(resolveBucket(t.cfg, 'web-logs'), t.deps('bob'), {to: 'batch', lockTimeoutMs: 1})
    expect(rb.exitCode).toBe(ExitCode.OK)
    const restored = JSON.stringify(normalizeNotification(await t.s3.client.send(new GetBucketNotificationConfigurationCommand({Bucket: 'web-logs'}))))
    expect(restored).toBe(snapshot)
    expect(t.jobs.get('transferJobs/seneka-web-logs')?.status).toBe('DELETED')
    const policyAfter = (await t.sqs.client.send(new (await import('@aws-sdk/client-sqs')).GetQueueAttributesCommand({QueueUrl: t.queueUrl, AttributeNames: ['Policy']}))).Attributes?.Policy
    expect(policyAfter ?? '').not.toContain('SenekaS3weblogs')
    const final = JSON.parse(readFileSync(t.store.file, 'utf8')).buckets['web-logs']
    expect(final.mode).toBe('batch')
    expect(final.history.map((h: {operation: string; to: string}) => `${h.operation}:${h.to}`)).toEqual(['apply:shadow', 'apply:event-driven', 'rollback:batch'])
  })

  it('a failing gate blocks shadow -> event-driven (GATE_FAILED) unless --force with a reason', async () => {
    const t = await setup({gates: {latency: false}})
    expect((await t.apply('api-logs')).buckets[0].to).toBe('shadow')
    const blocked = await t.apply('api-logs')
    expect(blocked.exitCode).toBe(ExitCode.GATE_FAILED)
    expect(blocked.buckets[0].outcome).toBe('gate-failed')
    let s = JSON.parse(readFileSync(t.store.file, 'utf8')).buckets['api-logs']
    expect(s.mode).toBe('shadow')
    expect(s.gates).toMatchObject({passed: false, forced: false})
    const forced = await t.apply('api-logs', {force: true, reason: 'p99 breach was the May 2 incident'})
    expect(forced.exitCode).toBe(ExitCode.OK)
    s = JSON.parse(readFileSync(t.store.file, 'utf8')).buckets['api-logs']
    expect(s.mode).toBe('event-driven')
    expect(s.gates).toMatchObject({passed: false, forced: true, reason: 'p99 breach was the May 2 incident'})
    expect(s.history.at(-1)).toMatchObject({to: 'event-driven', forced: true, reason: 'p99 breach was the May 2 incident'})
  })

  it('refuses a FIFO queue with a clear error and changes nothing', async () => {
    const t = await setup()
    await expect(t.plan('fifo-logs')).rejects.toThrow(/FIFO queue/)
    expect(mutating(t.requests())).toEqual([])
  })

  it('a concurrent apply is refused with CONFLICT', async () => {
    const t = await setup()
    // alice's apply is in flight: she holds the lease while her gates run
    let release!: () => void
    const slow: GateRunners = {reconcile: () => new Promise((r) => (release = () => r({passed: true, summary: 'ok'}))), latency: async () => ({passed: true, summary: 'ok'})}
    await t.apply('api-logs')
    const alice = {...t.deps('alice'), gates: slow}
    const first = t.apply('api-logs', {}, alice)
    await new Promise((r) => setTimeout(r, 200))
    const err = await t.apply('api-logs', {}, t.deps('bob')).catch((e) => e)
    expect(err.exitCode).toBe(ExitCode.CONFLICT)
    expect(err.message).toMatch(/alice is running "cutover apply"/)
    release()
    expect((await first).buckets[0].outcome).toBe('applied')
  })

  it('a plan made before someone else applied is refused with CONFLICT', async () => {
    const t = await setup()
    const stale = await t.plan('api-logs')
    await t.apply('api-logs')
    const err = await applyPlan(stale, new Map([['api-logs', resolveBucket(t.cfg, 'api-logs')]]), t.deps(), {warehouse: 'duckdb:x', lockTimeoutMs: 1}).catch((e) => e)
    expect(err.exitCode).toBe(ExitCode.CONFLICT)
  })

  it('on a failure it stops, reports exactly what was applied, and a re-run completes', async () => {
    let fail = true
    const t = await setup({failPut: () => fail})
    const r = await t.apply('web-logs')
    expect(r.exitCode).toBe(ExitCode.PARTIAL_FAILURE)
    expect(r.stopped).toBe(true)
    expect(r.buckets[0].applied.map((a) => a.resource)).toEqual(['queue-policy'])
    expect(r.buckets[0].failed?.action.resource).toBe('s3-notification')
    expect(r.buckets[0].failed?.error).toMatch(/refused the notification configuration/)
    const s = JSON.parse(readFileSync(t.store.file, 'utf8'))
    expect(s.buckets['web-logs'].mode).toBe('batch')
    expect(s.buckets['web-logs'].snapshots).toBeDefined()
    expect(s.lock).toBeUndefined()
    fail = false
    const again = await t.apply('web-logs')
    expect(again.exitCode).toBe(ExitCode.OK)
    expect(again.buckets[0].applied.map((a) => a.resource)).toEqual(['s3-notification', 'stream', 'transfer-job', 'state'])
  })
})
