import {CreateBucketCommand} from '@aws-sdk/client-s3'
import {CreateQueueCommand} from '@aws-sdk/client-sqs'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {applyPlan, type CutoverDeps, rollbackBucket} from '../../../src/lib/cutover/apply.js'
import {createGcpLegClient} from '../../../src/lib/cutover/clients.js'
import {parseCutoverConfig, resolveBucket, selectBuckets} from '../../../src/lib/cutover/config.js'
import type {GcpLegClient} from '../../../src/lib/cutover/gcs-leg.js'
import type {GateRunners} from '../../../src/lib/cutover/gates.js'
import type {TransferClient} from '../../../src/lib/cutover/leg.js'
import {planBuckets} from '../../../src/lib/cutover/plan.js'
import {renderPlan} from '../../../src/lib/cutover/render.js'
import {LocalStateStore} from '../../../src/lib/cutover/state.js'
import {ExitCode} from '../../../src/lib/exit-codes.js'
import {startAws} from '../../helpers/fauxqs.js'
import {type GcpDouble, startGcpDouble} from '../../helpers/gcp-doubles.js'
import {type PubsubDouble, startPubsubDouble} from '../../helpers/pubsub-double.js'
import {tempDir} from '../../helpers/tmp.js'
import {s3Double, sqsRecorded} from './aws-double.js'

const P = 'projects/seneka-test'

describe('cutover: the GCS -> Pub/Sub leg through the real Google clients (GCS HTTP double, Pub/Sub gRPC double)', () => {
  let aws: Awaited<ReturnType<typeof startAws>>
  let gcs: GcpDouble
  let pubsub: PubsubDouble
  let gcp: GcpLegClient
  beforeAll(async () => {
    aws = await startAws()
    gcs = await startGcpDouble()
    pubsub = await startPubsubDouble()
    gcp = await createGcpLegClient({project: 'seneka-test', gcsEndpoint: gcs.endpoint, pubsubEndpoint: pubsub.endpoint})
    await aws.s3.send(new CreateBucketCommand({Bucket: 'web-logs'}))
  })
  afterAll(async () => {
    await gcp?.close()
    await pubsub?.close()
    await gcs?.close()
    await aws?.stop()
  })

  let n = 0
  async function setup() {
    n++
    const dir = tempDir('cutover-gcs')
    const queueUrl = (await aws.sqs.send(new CreateQueueCommand({QueueName: `gcs-leg-${n}`}))).QueueUrl!
    const s3 = s3Double(aws.endpoint)
    const sqs = sqsRecorded(aws.endpoint)
    const jobs = new Map<string, {status: string}>()
    const transfer: TransferClient = {
      getJob: async (name) => (jobs.get(name) ? {name, status: jobs.get(name)!.status} : undefined),
      createJob: async (job) => (jobs.set(job.name, {status: 'ENABLED'}), {name: job.name}),
      setStatus: async (name, _p, status) => void (jobs.get(name)!.status = status),
    }
    const gates: GateRunners = {reconcile: async () => ({passed: true, summary: 'ok'}), latency: async () => ({passed: true, summary: 'ok'})}
    const landing = `landing-${n}`
    const names = {
      topic: `${P}/topics/logs-${n}`,
      subscription: `${P}/subscriptions/logs-${n}-seneka`,
      deadLetterTopic: `${P}/topics/logs-${n}-dead-letter`,
      deadLetterSubscription: `${P}/subscriptions/logs-${n}-dead-letter`,
    }
    const cfg = parseCutoverConfig({
      buckets: {
        'web-logs': {wave: 0, queue: queueUrl, table: 'alb_logs', leg: {stream: true, transfer: {projectId: 'seneka-test', gcsBucket: landing, gcsPath: 'from-s3/'}, pubsub: {gcsBucket: landing, topic: names.topic}}},
      },
    })
    let clock = Date.parse('2024-05-01T00:00:00Z')
    const store = new LocalStateStore(path.join(dir, 'state.json'))
    const deps = (): CutoverDeps => ({s3: s3.client, sqs: sqs.client, transfer: () => transfer, gcp: () => gcp, store, gates, actor: 'alice', now: () => new Date((clock += 60_000))})
    const plan = async () => {
      const d = deps()
      const {state} = await store.read()
      return planBuckets(selectBuckets(cfg, {bucket: 'web-logs'}), {state, location: store.location}, d, {actor: d.actor, now: d.now()})
    }
    const apply = async () => applyPlan(await plan(), new Map([['web-logs', resolveBucket(cfg, 'web-logs')]]), deps(), {warehouse: 'duckdb:x', lockTimeoutMs: 900_000})
    const rollback = (dryRun = false) => rollbackBucket(resolveBucket(cfg, 'web-logs'), deps(), {to: 'batch', dryRun, lockTimeoutMs: 1})
    const state = () => JSON.parse(readFileSync(store.file, 'utf8')).buckets['web-logs']
    const pubsubCalls = (re: RegExp) => pubsub.calls.filter((c) => re.test(c.method)).map((c) => `${c.method} ${c.request.name ?? c.request.topic ?? c.request.subscription}`)
    const gcsWrites = () => gcs.requests.filter((r) => r.path.endsWith('/notificationConfigs') || r.path.includes('/notificationConfigs/')).filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path.replace(/^\/storage\/v1/, '')}`)
    /** Pub/Sub Create/Delete calls, then GCS notification writes, since a mark */
    const since = () => ({calls: pubsub.calls.length, requests: gcs.requests.length})
    const gcpWritesSince = (mark: {calls: number; requests: number}) => [
      ...pubsub.calls.slice(mark.calls).filter((c) => /^(Create|Delete)/.test(c.method)).map((c) => c.method),
      ...gcs.requests.slice(mark.requests).filter((r) => r.path.includes('/notificationConfigs') && r.method !== 'GET').map((r) => r.method),
    ]
    return {landing, names, plan, apply, rollback, state, pubsubCalls, gcsWrites, since, gcpWritesSince}
  }

  it('apply creates each resource once (topics, dead-letter subscription, subscription, notification), re-apply creates none, rollback deletes exactly those', async () => {
    const t = await setup()
    const p = await t.plan()
    const leg = p.buckets[0].actions.filter((a) => /^(pubsub|gcs)-/.test(a.resource)).map((a) => [a.resource, a.change, a.target])
    expect(leg).toEqual([
      ['pubsub-topic', 'add', t.names.topic],
      ['pubsub-topic', 'add', t.names.deadLetterTopic],
      ['pubsub-subscription', 'add', t.names.deadLetterSubscription],
      ['pubsub-subscription', 'add', t.names.subscription],
      ['gcs-notification', 'add', `gs://${t.landing}`],
    ])
    // planning only reads
    expect(t.pubsubCalls(/^(Create|Delete)/)).toEqual([])
    expect(t.gcsWrites()).toEqual([])
    // the IAM seneka does not grant is spelled out
    const text = renderPlan(p)
    expect(text).toContain(`roles/pubsub.publisher on ${t.names.topic}`)
    expect(text).toContain(`roles/pubsub.publisher on ${t.names.deadLetterTopic}`)
    expect(text).toContain(`roles/pubsub.subscriber on ${t.names.subscription}`)

    const r = await t.apply()
    expect(r.exitCode).toBe(ExitCode.OK)
    expect(t.pubsubCalls(/^(Create|Delete)/)).toEqual([
      `CreateTopic ${t.names.topic}`,
      `CreateTopic ${t.names.deadLetterTopic}`,
      `CreateSubscription ${t.names.deadLetterSubscription}`,
      `CreateSubscription ${t.names.subscription}`,
    ])
    expect(pubsub.subscriptionInfo(t.names.subscription)).toEqual({name: t.names.subscription, topic: t.names.topic, ackDeadlineSeconds: 60, deadLetterPolicy: {deadLetterTopic: t.names.deadLetterTopic, maxDeliveryAttempts: 5}})
    expect(pubsub.subscriptionInfo(t.names.deadLetterSubscription)?.topic).toBe(t.names.deadLetterTopic)
    expect(t.gcsWrites()).toEqual([`POST /b/${t.landing}/notificationConfigs`])
    expect(gcs.notifications.get(t.landing)).toEqual([
      expect.objectContaining({id: '1', topic: `//pubsub.googleapis.com/${t.names.topic}`, event_types: ['OBJECT_FINALIZE'], payload_format: 'JSON_API_V1', object_name_prefix: 'from-s3/'}),
    ])
    expect(t.state().applied.pubsub.created).toEqual({
      topics: [t.names.topic, t.names.deadLetterTopic],
      subscriptions: [t.names.deadLetterSubscription, t.names.subscription],
      notification: {bucket: t.landing, id: '1', topic: t.names.topic},
    })

    // re-apply (shadow -> event-driven): everything is found, nothing is created twice
    const mark = t.since()
    const again = await t.plan()
    expect(again.buckets[0].actions.filter((a) => /^(pubsub|gcs)-/.test(a.resource)).every((a) => a.change === 'none')).toBe(true)
    expect((await t.apply()).exitCode).toBe(ExitCode.OK)
    expect(t.gcpWritesSince(mark)).toEqual([])
    expect(gcs.notifications.get(t.landing)).toHaveLength(1)

    // rollback: the dry run deletes nothing; the real one deletes exactly what apply created, notification first
    const dry = await t.rollback(true)
    expect(dry.actions.filter((a) => /^(pubsub|gcs)-/.test(a.resource)).map((a) => [a.resource, a.change, a.target])).toEqual([
      ['gcs-notification', 'remove', `gs://${t.landing}`],
      ['pubsub-subscription', 'remove', t.names.subscription],
      ['pubsub-subscription', 'remove', t.names.deadLetterSubscription],
      ['pubsub-topic', 'remove', t.names.deadLetterTopic],
      ['pubsub-topic', 'remove', t.names.topic],
    ])
    expect(t.gcpWritesSince(mark)).toEqual([])
    const rb = await t.rollback()
    expect(rb.exitCode).toBe(ExitCode.OK)
    // (Pub/Sub calls first, then GCS requests: the order between the two is that of the dry run above)
    expect(t.gcpWritesSince(mark)).toEqual(['DeleteSubscription', 'DeleteSubscription', 'DeleteTopic', 'DeleteTopic', 'DELETE'])
    expect(gcs.notifications.get(t.landing)).toEqual([])
    expect(pubsub.topics.has(t.names.topic) || pubsub.topics.has(t.names.deadLetterTopic)).toBe(false)
    expect(pubsub.subscriptionNames()).not.toContain(t.names.subscription)
    expect(t.state().applied).toBeUndefined()
  })

  it('pre-existing resources are used and never deleted: a topic, an identical notification and another bucket notification stay', async () => {
    const t = await setup()
    pubsub.createTopic(t.names.topic)
    const post = (body: object) => fetch(`${gcs.endpoint}/storage/v1/b/${t.landing}/notificationConfigs`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)})
    // someone's own notification on the bucket, and the identical one made by hand with the gcloud command
    expect((await post({topic: `//pubsub.googleapis.com/${P}/topics/audit`, payload_format: 'NONE'})).status).toBe(200)
    expect((await post({topic: `//pubsub.googleapis.com/${t.names.topic}`, payload_format: 'JSON_API_V1', event_types: ['OBJECT_FINALIZE'], object_name_prefix: 'from-s3/'})).status).toBe(200)

    const p = await t.plan()
    expect(p.buckets[0].actions.filter((a) => /^(pubsub|gcs)-/.test(a.resource)).map((a) => [a.resource, a.change])).toEqual([
      ['pubsub-topic', 'none'],
      ['pubsub-topic', 'add'],
      ['pubsub-subscription', 'add'],
      ['pubsub-subscription', 'add'],
      ['gcs-notification', 'none'],
    ])
    expect(p.buckets[0].actions.find((a) => a.resource === 'gcs-notification')?.summary).toMatch(/notification 2 already sends OBJECT_FINALIZE .*not seneka's: rollback leaves it/)
    expect((await t.apply()).exitCode).toBe(ExitCode.OK)
    expect(t.state().applied.pubsub.created).toEqual({topics: [t.names.deadLetterTopic], subscriptions: [t.names.deadLetterSubscription, t.names.subscription]})
    expect(gcs.notifications.get(t.landing)).toHaveLength(2)

    const mark = t.since()
    expect((await t.rollback()).exitCode).toBe(ExitCode.OK)
    expect(t.gcpWritesSince(mark)).toEqual(['DeleteSubscription', 'DeleteSubscription', 'DeleteTopic'])
    expect(pubsub.topics.has(t.names.topic)).toBe(true)
    expect(gcs.notifications.get(t.landing)!.map((x) => x.id)).toEqual(['1', '2'])
  })

  it('a permission error names the permission, stops the run with what was created recorded, and a re-run creates only the rest', async () => {
    const t = await setup()
    // GCS's service agent may not publish to the topic: GCS refuses the notification with its 403
    gcs.topicCheck = () => 'forbidden'
    try {
      const r = await t.apply()
      expect(r.exitCode).toBe(ExitCode.PARTIAL_FAILURE)
      expect(r.buckets[0].failed?.action.resource).toBe('gcs-notification')
      expect(r.buckets[0].failed?.error).toBe(
        `service-123456789012@gs-project-accounts.iam.gserviceaccount.com lacks pubsub.topics.publish on ${t.names.topic} (or the topic does not exist), so GCS refused the notification on gs://${t.landing}.`,
      )
      expect(t.state().applied.pubsub.created.topics).toEqual([t.names.topic, t.names.deadLetterTopic])
    } finally {
      gcs.topicCheck = undefined
    }
    const mark = t.since()
    const again = await t.apply()
    expect(again.exitCode).toBe(ExitCode.OK)
    expect(t.gcpWritesSince(mark)).toEqual(['POST'])

    // the account seneka runs as lacks a Pub/Sub permission
    const u = await setup()
    pubsub.deny('CreateTopic', 1)
    const denied = await u.apply()
    expect(denied.exitCode).toBe(ExitCode.PARTIAL_FAILURE)
    expect(denied.buckets[0].failed?.error).toBe(`Permission pubsub.topics.create is missing to create the topic ${u.names.topic}.`)
    expect(u.state().mode).toBe('batch')

    // ... or a GCS one
    const v = await setup()
    gcs.fail({match: (r) => r.method === 'POST' && r.path.endsWith('/notificationConfigs'), status: 403, reason: 'forbidden'})
    const refused = await v.apply()
    expect(refused.buckets[0].failed?.error).toBe(`Permission storage.buckets.update is missing to create a notification on gs://${v.landing}.`)
  })

  it('429 and 503 from GCS are retried; a notification whose creation answer was lost is found, not created twice', async () => {
    const t = await setup()
    const notificationCalls = (r: {path: string}) => r.path.endsWith(`/b/${t.landing}/notificationConfigs`)
    gcs.fail({match: (r) => r.method === 'GET' && notificationCalls(r), status: 429})
    gcs.fail({match: (r) => r.method === 'POST' && notificationCalls(r), status: 503})
    // the second POST creates the notification, but its answer is a 503
    gcs.fail({match: (r) => r.method === 'POST' && notificationCalls(r), status: 503, afterHandling: true})
    const r = await t.apply()
    expect(r.exitCode).toBe(ExitCode.OK)
    // the first POST failed, the second created it (its answer lost), the retry found it and posted nothing
    expect(gcs.requests.filter((q) => q.method === 'POST' && notificationCalls(q))).toHaveLength(2)
    expect(gcs.notifications.get(t.landing)).toHaveLength(1)
    const made = gcs.notifications.get(t.landing)![0]
    expect(t.state().applied.pubsub.created.notification).toEqual({bucket: t.landing, id: made.id, topic: t.names.topic})
    // recorded as seneka's: rollback deletes it (a 503 on the delete is retried too)
    gcs.fail({match: (r) => r.method === 'DELETE' && r.path.includes(`/b/${t.landing}/notificationConfigs/`), status: 503})
    const back = await t.rollback()
    expect(back.exitCode).toBe(ExitCode.OK)
    expect(gcs.notifications.get(t.landing) ?? []).toHaveLength(0)
  })

  it('the GCS double is strict about the topic and keeps duplicates as GCS does', async () => {
    const bucket = 'strict-bucket'
    const post = (body: object) => fetch(`${gcs.endpoint}/storage/v1/b/${bucket}/notificationConfigs`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)})
    expect((await post({topic: `${P}/topics/t`, payload_format: 'JSON_API_V1'})).status).toBe(400)
    expect((await post({topic: `//pubsub.googleapis.com/${P}/topics/t`, payload_format: 'XML'})).status).toBe(400)
    const one = {topic: `//pubsub.googleapis.com/${P}/topics/t`, payload_format: 'JSON_API_V1', event_types: ['OBJECT_FINALIZE']}
    expect((await post(one)).status).toBe(200)
    expect((await post(one)).status).toBe(200)
    const list = await gcp.listNotifications(bucket)
    expect(list.map((x) => [x.id, x.topic, x.eventTypes, x.payloadFormat])).toEqual([
      ['1', `${P}/topics/t`, ['OBJECT_FINALIZE'], 'JSON_API_V1'],
      ['2', `${P}/topics/t`, ['OBJECT_FINALIZE'], 'JSON_API_V1'],
    ])
    expect(await gcp.deleteNotification(bucket, '1')).toBe(true)
    expect(await gcp.deleteNotification(bucket, '1')).toBe(false)
  })
})
