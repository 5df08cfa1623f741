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
    expect(r.events).toEqual({objectCreated: 3, ignored: 2})
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
})
