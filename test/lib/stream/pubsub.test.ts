import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {getFormat} from '../../../src/lib/formats/index.js'
import {runStream, type StreamOptions} from '../../../src/lib/stream/run.js'
import {count, duckQuery} from '../../helpers/duckdb.js'
import {type GcpDouble, startGcpDouble} from '../../helpers/gcp-doubles.js'
import {gcsNotification, type PubsubDouble, startPubsubDouble} from '../../helpers/pubsub-double.js'
import {tempDir} from '../../helpers/tmp.js'
import {jsonl} from './fixtures.js'

let gcs: GcpDouble
let pubsub: PubsubDouble
let n = 0

beforeAll(async () => {
  gcs = await startGcpDouble()
  pubsub = await startPubsubDouble()
})
afterAll(async () => {
  await pubsub?.close()
  await gcs?.close()
})

function fresh(opts: Parameters<PubsubDouble['createSubscription']>[1] = {}) {
  n++
  const subscription = `projects/seneka-test/subscriptions/gcs-${n}`
  pubsub.createSubscription(subscription, opts)
  return {db: path.join(tempDir(), 'wh.duckdb'), subscription, dir: `t${n}`}
}

function options(db: string, subscription: string, extra: Partial<StreamOptions> = {}): StreamOptions {
  return {
    subscription,
    pubsub: {endpoint: pubsub.endpoint},
    storeOptions: {gcsEndpoint: gcs.endpoint},
    format: getFormat('jsonl'),
    warehouse: `duckdb:${db}`,
    table: 'app',
    concurrency: 4,
    stopWhenIdleMs: 1500,
    statusIntervalMs: 0,
    ...extra,
  }
}

/** Writes an object to the GCS double and returns its notification fields. */
function put(bucket: string, name: string, body: string) {
  gcs.putObject(bucket, name, body)
  const o = gcs.objects.get(`${bucket}/${name}`)!
  return {bucket, name, generation: o.generation, size: o.data.length}
}

const mediaReads = (name: string) => gcs.requests.filter((r) => r.method === 'GET' && r.query.alt === 'media' && r.path.endsWith(`/o/${name}`))

describe('runStream from a Pub/Sub subscription (real client, gRPC double)', () => {
  it('loads each notified generation exactly once, pinned to it, acks after the commit and ignores other event types', async () => {
    const {db, subscription, dir} = fresh()
    const a = put('gcs-logs', `${dir}/2024/05/01/a b.log`, jsonl(5, 'a'))
    const b = put('gcs-logs', `${dir}/2024/05/01/b.log`, jsonl(7, 'b'))
    for (const m of [
      gcsNotification(a),
      gcsNotification(a), // duplicate delivery
      gcsNotification(b),
      gcsNotification({...a, eventType: 'OBJECT_METADATA_UPDATE'}),
      gcsNotification({...b, eventType: 'OBJECT_DELETE'}),
    ])
      pubsub.publish(subscription, m)
    const r = await runStream(options(db, subscription))
    expect(r.mode).toBe('pubsub')
    expect(r.stoppedBy).toBe('idle')
    expect(r.messages).toMatchObject({received: 5, deleted: 5, invalid: 0, retained: 0})
    expect(r.events).toEqual({objectCreated: 3, ignored: 2, outOfScope: 0})
    expect(r.objects).toMatchObject({loaded: 2, skipped: 1, failed: 0})
    expect(r.poison).toBe(0)
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(12)
    const ledger = await duckQuery(db, 'SELECT object_uri, etag, sequencer, rows FROM _seneka_ledger ORDER BY object_uri')
    expect(ledger).toEqual([
      {object_uri: `gs://gcs-logs/${a.name}`, etag: a.generation, sequencer: a.generation, rows: 5},
      {object_uri: `gs://gcs-logs/${b.name}`, etag: b.generation, sequencer: b.generation, rows: 7},
    ])
    // read by name at the notified generation, never listed
    expect(mediaReads(a.name).map((q) => q.query.generation)).toEqual([a.generation])
    expect(gcs.requests.filter((q) => q.path.endsWith('/o') && q.method === 'GET')).toHaveLength(0)
    expect(pubsub.unacked(subscription)).toBe(0)
    expect(pubsub.acks).toHaveLength(5)
    expect(pubsub.calls.some((c) => c.method === 'StreamingPull')).toBe(true)
  })

  it('lets the generation decide: an older generation never replaces a newer one', async () => {
    const {db, subscription, dir} = fresh()
    gcs.versioning = true
    try {
      const key = `${dir}/same.log`
      const v1 = put('gcs-logs', key, jsonl(4, 'v1'))
      const v2 = put('gcs-logs', key, jsonl(6, 'v2'))
      // newest first, then the stale one (still readable: versioning), one at a time
      pubsub.publish(subscription, gcsNotification(v2))
      pubsub.publish(subscription, gcsNotification(v1))
      const r = await runStream(options(db, subscription, {concurrency: 1}))
      expect(r.objects).toMatchObject({loaded: 1, skipped: 1, replaced: 0, failed: 0})
      expect(await count(db, "SELECT count(*) FROM app WHERE record LIKE '%v2-%'")).toBe(6)
      expect(await count(db, "SELECT count(*) FROM app WHERE record LIKE '%v1-%'")).toBe(0)
      // a new generation replaces the rows; its stale predecessor's late redelivery changes nothing
      const v3 = put('gcs-logs', key, jsonl(2, 'v3'))
      pubsub.publish(subscription, gcsNotification(v3))
      pubsub.publish(subscription, gcsNotification(v1))
      const r2 = await runStream(options(db, subscription, {concurrency: 1}))
      expect(r2.objects).toMatchObject({replaced: 1, skipped: 1, failed: 0})
      expect(await count(db, 'SELECT count(*) FROM app')).toBe(2)
      expect(await duckQuery(db, 'SELECT etag FROM _seneka_ledger')).toEqual([{etag: v3.generation}])
    } finally {
      gcs.versioning = false
    }
    // without versioning an overwritten generation is gone: acked, counted, nothing loaded
    const {db: db2, subscription: sub2, dir: dir2} = fresh()
    const w1 = put('gcs-logs', `${dir2}/x.log`, jsonl(3, 'w1'))
    put('gcs-logs', `${dir2}/x.log`, jsonl(5, 'w2'))
    pubsub.publish(sub2, gcsNotification(w1))
    const r3 = await runStream(options(db2, sub2))
    expect(r3.objects).toMatchObject({missing: 1, loaded: 0})
    expect(r3.messages.deleted).toBe(1)
  })

  it('extends the ack deadline while an object loads for longer than the deadline, so it is not redelivered', async () => {
    const fast = await startPubsubDouble({secondMs: 100}) // a 10 s deadline lasts 1 s
    try {
      const subscription = 'projects/seneka-test/subscriptions/slow'
      fast.createSubscription(subscription, {ackDeadlineSeconds: 10})
      const db = path.join(tempDir(), 'wh.duckdb')
      const o = put('gcs-logs', 'slow/big.log', jsonl(3, 'slow'))
      gcs.delay({match: (q) => q.query.alt === 'media' && q.path.endsWith('/o/slow/big.log'), ms: 2500, times: 1})
      const id = fast.publish(subscription, gcsNotification(o))
      const r = await runStream({...options(db, subscription, {ackDeadlineSeconds: 10, ackExtendIntervalMs: 300}), pubsub: {endpoint: fast.endpoint}})
      expect(r.objects.loaded).toBe(1)
      expect(fast.deliveries.filter((d) => d.messageId === id)).toHaveLength(1)
      const extensions = fast.modAcks.filter((m) => m.messageId === id && m.seconds === 10)
      expect(extensions.length).toBeGreaterThanOrEqual(5) // the initial modAck on receipt, then every 300 ms
      expect(r.visibilityExtensions).toBeGreaterThanOrEqual(4)
      expect(fast.acks.map((a) => a.messageId)).toEqual([id])
      expect(fast.staleAckIds).toEqual([])
      expect(await count(db, 'SELECT count(*) FROM app')).toBe(3)
    } finally {
      await fast.close()
    }
  })

  it('nacks the message of a failed load; the redelivery loads it and only that one is acked', async () => {
    const {db, subscription, dir} = fresh()
    const o = put('gcs-logs', `${dir}/flaky.log`, jsonl(9, 'f'))
    gcs.fail({match: (q) => q.query.alt === 'media' && q.path.endsWith(`/o/${o.name}`), status: 403, reason: 'simulated: forbidden', times: 1})
    const id = pubsub.publish(subscription, gcsNotification(o))
    const failures: string[] = []
    const r = await runStream(options(db, subscription), {onFailure: (f) => failures.push(f.error)})
    expect(failures).toHaveLength(1)
    expect(r.objects).toMatchObject({failed: 1, loaded: 1})
    expect(r.messages).toMatchObject({received: 2, retained: 1, deleted: 1})
    const deliveries = pubsub.deliveries.filter((d) => d.messageId === id)
    expect(deliveries).toHaveLength(2)
    expect(pubsub.modAcks.some((m) => m.ackId === deliveries[0].ackId && m.seconds === 0)).toBe(true) // the nack
    expect(pubsub.acks.filter((a) => a.messageId === id).map((a) => a.ackId)).toEqual([deliveries[1].ackId])
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(9)
  })

  it('records a poison object after maxDeliveryAttempts, lets it go to the dead-letter topic, and still stops when idle', async () => {
    const deadLetterTopic = 'projects/seneka-test/topics/gcs-dead'
    const {db, subscription, dir} = fresh({deadLetterPolicy: {deadLetterTopic, maxDeliveryAttempts: 5}})
    const bad = put('gcs-logs', `${dir}/bad.log`, jsonl(2, 'bad'))
    const good = put('gcs-logs', `${dir}/good.log`, jsonl(3, 'good'))
    gcs.fail({match: (q) => q.query.alt === 'media' && q.path.endsWith(`/o/${bad.name}`), status: 403, reason: 'simulated: forbidden', times: 1000})
    const badId = pubsub.publish(subscription, gcsNotification(bad))
    pubsub.publish(subscription, gcsNotification(good))
    const invalidId = pubsub.publish(subscription, {data: 'not json', attributes: {eventType: 'OBJECT_FINALIZE'}})
    const poisoned: string[] = []
    const r = await runStream(options(db, subscription), {onPoison: (p) => poisoned.push(p.messageId)})
    expect(r.stoppedBy).toBe('idle')
    expect(r.poison).toBe(2)
    expect(poisoned.sort()).toEqual([badId, invalidId].sort())
    expect(r.poisonObjects.find((p) => p.messageId === badId)).toMatchObject({uri: `gs://gcs-logs/${bad.name}`, deliveries: 5, deadLetter: deadLetterTopic})
    expect(r.poisonObjects.find((p) => p.messageId === badId)!.reason).toMatch(/storage.objects.get is missing to read gs:\/\/gcs-logs\/\S+bad.log \(generation \d+\)/)
    expect(r.poisonObjects.find((p) => p.messageId === invalidId)).toMatchObject({uri: null, deliveries: 5})
    expect(pubsub.deliveries.filter((d) => d.messageId === badId).map((d) => d.attempt)).toEqual([1, 2, 3, 4, 5])
    expect(pubsub.deadLettered.map((d) => [d.topic, d.messageId]).sort()).toEqual([[deadLetterTopic, badId], [deadLetterTopic, invalidId]].sort())
    expect(r.objects.loaded).toBe(1)
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(3)
    expect(pubsub.unacked(subscription)).toBe(0)
  })

  it('without a dead-letter topic, holds a poison message instead of nacking it forever, and still stops when idle', async () => {
    const {db, subscription, dir} = fresh()
    const bad = put('gcs-logs', `${dir}/bad.log`, jsonl(2, 'bad'))
    gcs.fail({match: (q) => q.query.alt === 'media' && q.path.endsWith(`/o/${bad.name}`), status: 403, reason: 'simulated: forbidden', times: 1000})
    const id = pubsub.publish(subscription, gcsNotification(bad))
    const warnings: string[] = []
    const r = await runStream(options(db, subscription, {maxDeliveries: 3}), {onWarning: (w) => warnings.push(w)})
    expect(r.stoppedBy).toBe('idle')
    expect(warnings.some((w) => /no dead-letter topic/.test(w))).toBe(true)
    expect(r.poison).toBe(1)
    expect(r.poisonObjects[0]).toMatchObject({uri: `gs://gcs-logs/${bad.name}`, deliveries: 3, deadLetter: null})
    // three deliveries while the worker ran, then held; on close the client nacks it for whoever runs next
    expect(pubsub.deliveries.filter((d) => d.messageId === id)).toHaveLength(3)
    expect(pubsub.unacked(subscription)).toBe(1)
  })

  it('names a subscription that does not exist in one sentence', async () => {
    const db = path.join(tempDir(), 'wh.duckdb')
    await expect(runStream(options(db, 'projects/seneka-test/subscriptions/no-such'))).rejects.toThrow(/^The subscription projects\/seneka-test\/subscriptions\/no-such does not exist\.$/)
  })
})
