import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {getFormat} from '../../../src/lib/formats/index.js'
import type {ObjectStore} from '../../../src/lib/store/index.js'
import {createS3Client, S3Store} from '../../../src/lib/store/s3.js'
import {runStream, type StreamOptions} from '../../../src/lib/stream/run.js'
import type {StreamStatus} from '../../../src/lib/stream/stats.js'
import {count, duckQuery} from '../../helpers/duckdb.js'
import {startAws} from '../../helpers/fauxqs.js'
import {tempDir} from '../../helpers/tmp.js'
import {createBucket, createQueue, jsonl, notification, putObject, queueDepth, send, snsEnvelope, TEST_EVENT} from './fixtures.js'

let aws: Awaited<ReturnType<typeof startAws>>
let n = 0

beforeAll(async () => {
  aws = await startAws()
  await createBucket(aws.s3, 'logs')
})
afterAll(async () => aws?.stop())

function options(db: string, queue: string, extra: Partial<StreamOptions> = {}): StreamOptions {
  return {
    queue,
    format: getFormat('jsonl'),
    warehouse: `duckdb:${db}`,
    table: 'app',
    concurrency: 4,
    waitSeconds: 1,
    stopWhenIdleMs: 1500,
    statusIntervalMs: 0,
    ...extra,
  }
}

/** An S3 store (real client on fauxqs) whose reads can be slowed down or failed. */
function wrappedStores(wrap: (s: ObjectStore, key: string) => Promise<void>) {
  return {
    s3: (bucket: string, opts: object) => {
      const s = new S3Store(bucket, createS3Client(opts))
      const read = s.read.bind(s)
      s.read = async (key: string) => {
        await wrap(s, key)
        return read(key)
      }
      return s
    },
  }
}

async function fresh(prefix: string) {
  n++
  return {db: path.join(tempDir(), 'wh.duckdb'), queue: await createQueue(aws.sqs, `${prefix}-${n}`), dir: `t${n}`}
}

describe('runStream from SQS (fauxqs, real AWS SDK)', () => {
  it('loads each object exactly once across duplicate deliveries, SNS envelopes, several records, test and other events', async () => {
    const {db, queue, dir} = await fresh('dups')
    const a = await putObject(aws.s3, 'logs', `${dir}/2024/05/01/app a+b.log`, jsonl(5, 'a'))
    const b = await putObject(aws.s3, 'logs', `${dir}/2024/05/01/b%.log`, jsonl(7, 'b'))
    const c = await putObject(aws.s3, 'logs', `${dir}/2024/05/01/c.log`, jsonl(3, 'c'))
    await send(
      aws.sqs,
      queue,
      TEST_EVENT,
      notification(a),
      notification(a), // duplicate delivery
      snsEnvelope(notification(b)),
      notification(b, c), // several records; b again
      notification(c),
      notification({...c, eventName: 'ObjectRemoved:Delete'}),
    )
    const r = await runStream(options(db, queue))
    expect(r.stoppedBy).toBe('idle')
    expect(r.messages).toMatchObject({received: 7, deleted: 7, invalid: 0, testEvents: 1, retained: 0})
    expect(r.events).toEqual({objectCreated: 6, ignored: 1, outOfScope: 0})
    expect(r.objects).toMatchObject({loaded: 3, skipped: 3, failed: 0})
    expect(r.rows).toBe(15)
    expect(r.latency.count).toBe(3)
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(15)
    expect(await count(db, `SELECT count(*) FROM app WHERE _source_uri = 's3://logs/${dir}/2024/05/01/app a+b.log' AND _load_path = 'stream'`)).toBe(5)
    const ledger = await duckQuery(db, `SELECT object_uri, etag, sequencer, rows FROM _seneka_ledger ORDER BY object_uri`)
    expect(ledger.map((l) => [l.etag, l.sequencer, l.rows])).toEqual([
      [a.etag, a.sequencer, 5],
      [b.etag, b.sequencer, 7],
      [c.etag, c.sequencer, 3],
    ])
    expect(await queueDepth(aws.sqs, queue)).toEqual({visible: 0, inFlight: 0})

    // a second worker on the same backlog delivered again loads nothing
    await send(aws.sqs, queue, notification(a), notification(b), notification(c))
    const again = await runStream(options(db, queue))
    expect(again.objects).toMatchObject({loaded: 0, replaced: 0, skipped: 3})
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(15)
  })

  it('with --bucket / --prefix loads only its scope: a message naming other objects is deleted, counted, not loaded', async () => {
    const {db, queue, dir} = await fresh('scope')
    await createBucket(aws.s3, 'other-team')
    const mine = await putObject(aws.s3, 'logs', `${dir}/alb/a.log`, jsonl(4, 'mine'))
    const elsewhere = await putObject(aws.s3, 'logs', `${dir}/app/b.log`, jsonl(4, 'elsewhere'))
    const theirs = await putObject(aws.s3, 'other-team', `${dir}/alb/c.log`, jsonl(4, 'theirs'))
    await send(aws.sqs, queue, notification(mine, elsewhere), notification(theirs))
    const warnings: string[] = []
    const r = await runStream(options(db, queue, {scope: {buckets: ['logs'], prefixes: [`${dir}/alb/`]}}), {onWarning: (m) => warnings.push(m)})
    expect(r.messages).toMatchObject({received: 2, deleted: 2, retained: 0})
    expect(r.events).toEqual({objectCreated: 3, ignored: 0, outOfScope: 2})
    expect(await duckQuery(db, 'SELECT object_uri FROM _seneka_ledger')).toEqual([{object_uri: `s3://logs/${mine.key}`}])
    expect(await queueDepth(aws.sqs, queue)).toEqual({visible: 0, inFlight: 0})
    expect(warnings.filter((m) => m.startsWith('not loading '))).toHaveLength(2)
  })

  it('lets the sequencer decide between two events for the same key, whatever order they arrive in', async () => {
    const {db, queue, dir} = await fresh('seq')
    const key = `${dir}/same.log`
    const v1 = await putObject(aws.s3, 'logs', key, jsonl(4, 'v1'))
    const v2 = await putObject(aws.s3, 'logs', key, jsonl(6, 'v2'))
    // newest first, then the stale one: the stale one must not replace v2's rows
    await send(aws.sqs, queue, notification(v2), notification(v1))
    const r = await runStream(options(db, queue, {concurrency: 1}))
    expect(r.objects.failed).toBe(0)
    expect(await count(db, "SELECT count(*) FROM app WHERE record LIKE '%v2-%'")).toBe(6)
    expect(await count(db, "SELECT count(*) FROM app WHERE record LIKE '%v1-%'")).toBe(0)
    const [entry] = await duckQuery(db, 'SELECT etag, sequencer FROM _seneka_ledger')
    expect(entry).toEqual({etag: v2.etag, sequencer: v2.sequencer})

    // both in one message (one worker, per-key lock): the stale event while the object is already v3
    const v3 = await putObject(aws.s3, 'logs', key, jsonl(2, 'v3'))
    await send(aws.sqs, queue, notification(v1, v3))
    const r2 = await runStream(options(db, queue))
    expect(r2.objects.failed).toBe(0)
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(2)
    expect(await count(db, "SELECT count(*) FROM app WHERE record LIKE '%v3-%'")).toBe(2)
  })

  it('leaves the message of a failed load for redelivery and loads it when it comes back', async () => {
    const {db, queue, dir} = await fresh('redeliver')
    const a = await putObject(aws.s3, 'logs', `${dir}/a.log`, jsonl(9, 'a'))
    await send(aws.sqs, queue, notification(a))
    let reads = 0
    const failures: string[] = []
    const r = await runStream(
      options(db, queue, {
        visibilityTimeoutSeconds: 1,
        stopWhenIdleMs: 3000,
        storeFactories: wrappedStores(async () => {
          reads++
          if (reads === 1) throw Object.assign(new Error('simulated: access denied'), {name: 'AccessDenied'})
        }),
      }),
      {onFailure: (f) => failures.push(f.error)},
    )
    expect(failures).toHaveLength(1)
    expect(failures[0]).toMatch(/simulated/)
    expect(r.messages).toMatchObject({received: 2, retained: 1, deleted: 1})
    expect(r.objects).toMatchObject({failed: 1, loaded: 1})
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(9)
    expect(await queueDepth(aws.sqs, queue)).toEqual({visible: 0, inFlight: 0})
  })

  it('extends the visibility of a message while its object loads slowly, so it is not redelivered', async () => {
    const {db, queue, dir} = await fresh('extend')
    const a = await putObject(aws.s3, 'logs', `${dir}/slow.log`, jsonl(3, 'slow'))
    await send(aws.sqs, queue, notification(a))
    const r = await runStream(
      options(db, queue, {visibilityTimeoutSeconds: 2, concurrency: 2, storeFactories: wrappedStores(() => new Promise((res) => setTimeout(res, 3500)))}),
    )
    expect(r.visibilityExtensions).toBeGreaterThanOrEqual(2)
    expect(r.messages).toMatchObject({received: 1, deleted: 1})
    expect(r.objects.loaded).toBe(1)
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(3)
  })

  it('reports unparseable messages, leaves them for the DLQ and keeps working', async () => {
    const {db, queue, dir} = await fresh('poison')
    const a = await putObject(aws.s3, 'logs', `${dir}/a.log`, jsonl(2, 'a'))
    const invalid: string[] = []
    await send(aws.sqs, queue, 'definitely not json', '{"Records":[{"s3":{}}]}', notification(a), JSON.stringify({Type: 'Notification', Message: 'nope'}))
    const r = await runStream(options(db, queue), {onInvalid: (m) => invalid.push(m.reason)})
    expect(r.messages).toMatchObject({received: 4, invalid: 3, deleted: 1})
    expect(invalid).toHaveLength(3)
    expect(r.invalidMessages).toHaveLength(3)
    expect(r.objects.loaded).toBe(1)
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(2)
    // still on the queue (invisible until the visibility timeout), for the redrive policy to move
    expect(await queueDepth(aws.sqs, queue)).toEqual({visible: 0, inFlight: 3})
  })

  it('records a poison object after maxDeliveries and still stops when idle while it keeps coming back', async () => {
    const {db, queue, dir} = await fresh('poison-idle')
    const bad = await putObject(aws.s3, 'logs', `${dir}/bad.log`, jsonl(2, 'bad'))
    const good = await putObject(aws.s3, 'logs', `${dir}/good.log`, jsonl(3, 'good'))
    await send(aws.sqs, queue, notification(bad), notification(good))
    const r = await runStream(
      options(db, queue, {
        visibilityTimeoutSeconds: 1,
        stopWhenIdleMs: 2500,
        maxDeliveries: 2,
        storeFactories: wrappedStores(async (_s, key) => {
          if (key.endsWith('bad.log')) throw Object.assign(new Error('simulated: access denied'), {name: 'AccessDenied'})
        }),
      }),
    )
    // the bad message comes back every second (no redrive policy): its redeliveries are not activity (if they
    // were, the worker would never stop and the test's timeout would end it)
    expect(r.stoppedBy).toBe('idle')
    expect(r.poison).toBe(1)
    expect(r.poisonObjects).toHaveLength(1)
    expect(r.poisonObjects[0]).toMatchObject({uri: `s3://logs/${dir}/bad.log`, deadLetter: null})
    expect(r.poisonObjects[0].deliveries).toBeGreaterThanOrEqual(2)
    expect(r.poisonObjects[0].reason).toMatch(/simulated: access denied/)
    expect(r.objects.loaded).toBe(1)
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(3)
  })

  it('counts an object deleted before it could be loaded as gone, and acknowledges it', async () => {
    const {db, queue, dir} = await fresh('gone')
    await send(aws.sqs, queue, notification({bucket: 'logs', key: `${dir}/never-written.log`, etag: 'abc', size: 1, sequencer: '01'}))
    const r = await runStream(options(db, queue))
    expect(r.objects).toMatchObject({missing: 1, failed: 0})
    expect(r.messages.deleted).toBe(1)
  })

  it('stops gracefully when signalled: finishes the load in flight and deletes its message', async () => {
    const {db, queue, dir} = await fresh('graceful')
    const a = await putObject(aws.s3, 'logs', `${dir}/a.log`, jsonl(4, 'a'))
    await send(aws.sqs, queue, notification(a))
    const abort = new AbortController()
    const r = await runStream(
      options(db, queue, {stopWhenIdleMs: undefined, waitSeconds: 20, signal: abort.signal, storeFactories: wrappedStores(async () => {
        abort.abort() // the signal arrives while the object is loading
        await new Promise((res) => setTimeout(res, 300))
      })}),
    )
    expect(r.stoppedBy).toBe('signal')
    expect(r.objects.loaded).toBe(1)
    expect(r.messages.deleted).toBe(1)
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(4)
    expect(await queueDepth(aws.sqs, queue)).toEqual({visible: 0, inFlight: 0})
  })

  it('reports status lines with rates and backlog, and serves Prometheus metrics on loopback', async () => {
    const {db, queue, dir} = await fresh('metrics')
    const bodies: string[] = []
    for (let i = 0; i < 30; i++) bodies.push(notification(await putObject(aws.s3, 'logs', `${dir}/${i}.log`, jsonl(2, `m${i}`))))
    await send(aws.sqs, queue, ...bodies)
    const statuses: StreamStatus[] = []
    let url = ''
    let scrape: Promise<[string, number]> | undefined
    const r = await runStream(
      options(db, queue, {statusIntervalMs: 200, metricsPort: 0, storeFactories: wrappedStores(() => new Promise((res) => setTimeout(res, 50)))}),
      {
        onStatus: (s) => {
          statuses.push(s)
          scrape ??= Promise.all([fetch(url).then((res) => res.text()), fetch(url.replace('/metrics', '/other')).then((res) => res.status)])
        },
        onMetrics: (u) => (url = u),
      },
    )
    const [text, notFound] = await scrape!
    expect(text).toMatch(/^# HELP seneka_stream_messages_total/m)
    expect(text).toMatch(/^seneka_stream_objects_total\{outcome="loaded"\} \d+$/m)
    expect(text).toMatch(/^seneka_stream_backlog_messages \d+$/m)
    expect(notFound).toBe(404)
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    expect(r.objects.loaded).toBe(30)
    expect(statuses.length).toBeGreaterThan(0)
    const busy = statuses.find((s) => s.objectsPerSecond > 0)
    expect(busy).toBeDefined()
    expect(typeof statuses[0].backlog.messages).toBe('number')
    expect(statuses.at(-1)!.totals.objects.loaded).toBeLessThanOrEqual(30)
  })
})
