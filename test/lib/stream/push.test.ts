import {once} from 'node:events'
import {readFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it, vi} from 'vitest'
import {getFormat} from '../../../src/lib/formats/index.js'
import {runStream, type StreamHooks, type StreamOptions, type StreamResult} from '../../../src/lib/stream/run.js'
import {defaultMaxRequests, parseListenAddress, parsePushRequest, stopBudget} from '../../../src/lib/stream/sources/push.js'
import {LOADER_DEFAULTS} from '../../../src/lib/warehouse/bigquery/loader.js'
import {ROOT} from '../../helpers/cli.js'
import {count, duckQuery} from '../../helpers/duckdb.js'
import {type GcpDouble, startGcpDouble} from '../../helpers/gcp-doubles.js'
import {type OidcDouble, post, PUSH_SERVICE_ACCOUNT, pushBody, startOidcDouble, storageCloudEvent} from '../../helpers/oidc.js'
import {gcsNotification} from '../../helpers/pubsub-double.js'
import {tempDir} from '../../helpers/tmp.js'
import {jsonl} from './fixtures.js'

const AUDIENCE = 'https://seneka-push.example.run.app/push'
let gcs: GcpDouble
let oidc: OidcDouble
let n = 0

beforeAll(async () => {
  gcs = await startGcpDouble()
  oidc = await startOidcDouble()
})
afterEach(() => {
  gcs.clearDelays()
  for (const release of holds.splice(0)) release()
})
afterAll(async () => {
  await oidc?.close()
  await gcs?.close()
})

function put(bucket: string, name: string, body: string) {
  gcs.putObject(bucket, name, body)
  const o = gcs.objects.get(`${bucket}/${name}`)!
  return {bucket, name, generation: o.generation, size: o.data.length}
}

interface Worker {
  url: string
  db: string
  dir: string
  result: Promise<StreamResult>
  stop(): Promise<StreamResult>
}

/** Starts a push worker on a free port and returns once it listens. */
async function startWorker(extra: Partial<StreamOptions> = {}, hooks: StreamHooks = {}, db = path.join(tempDir(), 'wh.duckdb')): Promise<Worker> {
  n++
  const abort = new AbortController()
  let listening!: (url: string) => void
  const url = new Promise<string>((r) => (listening = r))
  const result = runStream(
    {
      listen: '127.0.0.1:0',
      storeOptions: {gcsEndpoint: gcs.endpoint},
      format: getFormat('jsonl'),
      warehouse: `duckdb:${db}`,
      table: 'app',
      concurrency: 4,
      statusIntervalMs: 0,
      signal: abort.signal,
      ...extra,
    },
    {...hooks, onListening: (u) => listening(u)},
  )
  result.catch(() => {})
  const u = await Promise.race([url, result.then(() => Promise.reject(new Error('the worker stopped before listening')))])
  return {
    url: u,
    db,
    dir: `p${n}`,
    result,
    stop: () => {
      abort.abort()
      return result
    },
  }
}

describe('parsing push requests', () => {
  it('reads --listen HOST:PORT', () => {
    expect(parseListenAddress('0.0.0.0:8080')).toEqual({host: '0.0.0.0', port: 8080})
    expect(parseListenAddress(':9000')).toEqual({host: '0.0.0.0', port: 9000})
    expect(parseListenAddress('[::1]:0')).toEqual({host: '::1', port: 0})
    expect(() => parseListenAddress('8080')).toThrow(/^--listen "8080" is not HOST:PORT\.$/)
    expect(() => parseListenAddress('host:99999')).toThrow(/is not HOST:PORT/)
  })

  it('understands a Pub/Sub push envelope, binary and structured CloudEvents, and an Eventarc Pub/Sub event', () => {
    const m = gcsNotification({bucket: 'b', name: 'k 1.log', generation: '17', size: 3})
    const d = parsePushRequest({}, Buffer.from(pushBody(m, {messageId: 'm1', deliveryAttempt: 2})))
    expect(d).toMatchObject({kind: 'delivery', via: 'pubsub', id: 'm1', attempt: 2, parsed: {kind: 'finalize', event: {bucket: 'b', key: 'k 1.log', generation: '17', size: 3}}})
    const ce = storageCloudEvent({bucket: 'b', name: 'dir/x.log', generation: '42', id: 'ce-1', size: 9})
    expect(parsePushRequest(ce.headers, Buffer.from(ce.body))).toMatchObject({kind: 'delivery', via: 'cloudevent', id: 'ce-1', attempt: null, parsed: {kind: 'finalize', event: {bucket: 'b', key: 'dir/x.log', generation: '42', size: 9}}})
    const structured = JSON.stringify({specversion: '1.0', id: 'ce-2', type: 'google.cloud.storage.object.v1.finalized', source: '//storage.googleapis.com/projects/_/buckets/b', subject: 'objects/y.log', data: JSON.parse(ce.body)})
    expect(parsePushRequest({'content-type': 'application/cloudevents+json'}, Buffer.from(structured))).toMatchObject({kind: 'delivery', id: 'ce-2', parsed: {kind: 'finalize', event: {key: 'dir/x.log'}}})
    const deleted = storageCloudEvent({bucket: 'b', name: 'x.log', generation: '42', id: 'ce-3', type: 'google.cloud.storage.object.v1.deleted'})
    expect(parsePushRequest(deleted.headers, Buffer.from(deleted.body))).toMatchObject({parsed: {kind: 'ignored', eventType: 'google.cloud.storage.object.v1.deleted', bucket: 'b', key: 'x.log'}})
    const viaTopic = {'ce-id': '77', 'ce-specversion': '1.0', 'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished', 'ce-source': '//pubsub.googleapis.com/projects/p/topics/t'}
    expect(parsePushRequest(viaTopic, Buffer.from(pushBody(m, {messageId: '77'})))).toMatchObject({kind: 'delivery', via: 'cloudevent', id: '77', parsed: {kind: 'finalize'}})
    expect(parsePushRequest({}, Buffer.from('not json'))).toMatchObject({kind: 'bad'})
    expect(parsePushRequest({}, Buffer.from('{"hello": 1}'))).toMatchObject({kind: 'bad', reason: 'not a Pub/Sub push request (no message object)'})
  })
})

describe('the stop budget', () => {
  it('push mode: 9 s and a 6 s grace by default, a grace of two thirds of a shorter budget; other modes none unless given; a grace at the budget refused', () => {
    expect(stopBudget({push: true})).toEqual({stopTimeoutMs: 9000, shutdownGraceMs: 6000})
    expect(stopBudget({push: true, stopTimeoutMs: 3000})).toEqual({stopTimeoutMs: 3000, shutdownGraceMs: 2000})
    expect(stopBudget({push: false})).toEqual({stopTimeoutMs: undefined, shutdownGraceMs: undefined})
    expect(stopBudget({push: false, stopTimeoutMs: 5000})).toEqual({stopTimeoutMs: 5000, shutdownGraceMs: undefined})
    expect(() => stopBudget({push: true, stopTimeoutMs: 3000, shutdownGraceMs: 3000})).toThrow(/--shutdown-grace \(3\.0s\) must be shorter than the stop budget --stop-timeout \(3\.0s\)/)
  })
})

describe('runStream --listen (push mode, real HTTP)', () => {
  it('answers 200 only after the commit, loads a duplicate once, takes CloudEvents, ignores other event types, serves /healthz and /metrics', async () => {
    const w = await startWorker()
    const a = put('push-logs', `${w.dir}/a b.log`, jsonl(5, 'a'))
    const b = put('push-logs', `${w.dir}/b.log`, jsonl(7, 'b'))
    const first = await post(`${w.url}/`, pushBody(gcsNotification(a), {messageId: '1001'}))
    expect(first).toMatchObject({status: 200, body: {outcome: 'loaded'}})
    // the answer came after the commit: the rows are there now
    expect(await count(w.db, 'SELECT count(*) FROM app')).toBe(5)
    // a duplicate delivery (Pub/Sub is at least once), and two at once
    expect((await post(`${w.url}/`, pushBody(gcsNotification(a), {messageId: '1001'}))).body).toEqual({outcome: 'skipped'})
    const ce = storageCloudEvent({...b, id: '2001'})
    const both = await Promise.all([post(`${w.url}/eventarc`, ce.body, ce.headers), post(`${w.url}/eventarc`, ce.body, ce.headers)])
    expect(both.map((r) => r.status)).toEqual([200, 200])
    expect(both.map((r) => r.body.outcome).sort()).toEqual(['loaded', 'skipped'])
    // other event types: acknowledged, counted, nothing loaded
    expect((await post(`${w.url}/`, pushBody(gcsNotification({...a, eventType: 'OBJECT_DELETE'}), {messageId: '1002'}))).body).toEqual({outcome: 'ignored'})
    const del = storageCloudEvent({...b, id: '2002', type: 'google.cloud.storage.object.v1.metadataUpdated'})
    expect(await post(`${w.url}/eventarc`, del.body, del.headers)).toMatchObject({status: 200, body: {outcome: 'ignored'}})
    // not a push request at all
    expect(await post(`${w.url}/`, '{"hello": "world"}')).toMatchObject({status: 400, body: {error: 'not a Pub/Sub push request (no message object)'}})
    const health = await fetch(`${w.url}/healthz`)
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({status: 'ok', mode: 'push'})
    const metrics = await (await fetch(`${w.url}/metrics`)).text()
    expect(metrics).toContain('seneka_stream_objects_total{outcome="loaded"} 2')
    expect((await fetch(`${w.url}/nope`)).status).toBe(404)
    const r = await w.stop()
    expect(r).toMatchObject({mode: 'push', stoppedBy: 'signal', source: w.url})
    expect(r.messages).toMatchObject({received: 6, deleted: 6, invalid: 0, retained: 0})
    expect(r.events).toEqual({objectCreated: 4, ignored: 2, outOfScope: 0})
    expect(r.objects).toMatchObject({loaded: 2, skipped: 2, failed: 0})
    expect(await count(w.db, 'SELECT count(*) FROM app')).toBe(12)
    expect(await duckQuery(w.db, 'SELECT object_uri, etag FROM _seneka_ledger ORDER BY 1')).toEqual([
      {object_uri: `gs://push-logs/${a.name}`, etag: a.generation},
      {object_uri: `gs://push-logs/${b.name}`, etag: b.generation},
    ])
    // read by name at the pushed generation
    expect(gcs.requests.filter((q) => q.query.alt === 'media' && q.path.endsWith(`/o/${a.name}`)).map((q) => q.query.generation)).toEqual([a.generation])
  })

  it('checks the OIDC token: accepts a valid one, refuses forged, expired, wrong-audience, wrong-account and missing tokens', async () => {
    const warnings: string[] = []
    const w = await startWorker({push: {audience: AUDIENCE, serviceAccounts: [PUSH_SERVICE_ACCOUNT], jwksUrl: oidc.jwksUrl}}, {onWarning: (m) => warnings.push(m)})
    const o = put('push-logs', `${w.dir}/auth.log`, jsonl(3, 'auth'))
    const body = pushBody(gcsNotification(o), {messageId: '3001'})
    const bearer = (t: string) => ({authorization: `Bearer ${t}`})
    const now = Math.floor(Date.now() / 1000)
    const refusals = [
      {name: 'no token', headers: {}, status: 401, reason: 'no Authorization: Bearer token'},
      {name: 'forged', headers: bearer(await oidc.token({}, {forge: true})), status: 401, reason: 'the token signature does not verify'},
      {name: 'expired', headers: bearer(await oidc.token({iat: now - 7200, exp: now - 3600})), status: 401, reason: 'the token has expired'},
      {name: 'wrong audience', headers: bearer(await oidc.token({aud: 'https://someone-else.example.com/'})), status: 401, reason: 'the token is for another audience'},
      {name: 'issued in the future', headers: bearer(await oidc.token({iat: now + 600, exp: now + 4200})), status: 401, reason: 'the token was issued in the future'},
      {name: 'wrong issuer', headers: bearer(await oidc.token({iss: 'https://evil.example.com'})), status: 401, reason: 'the token was not issued by accounts.google.com'},
      {name: 'unknown key', headers: bearer(await oidc.token({}, {forge: true, kid: 'not-published'})), status: 401, reason: 'the token is signed with a key Google does not publish'},
      {name: 'garbage', headers: bearer('abc.def.ghi'), status: 401, reason: 'the token is not a valid JWT'},
      {name: 'other account', headers: bearer(await oidc.token({email: 'intruder@other.iam.gserviceaccount.com'})), status: 403, reason: 'the token is of intruder@other.iam.gserviceaccount.com, not an allowed service account'},
      {name: 'unverified email', headers: bearer(await oidc.token({email_verified: false})), status: 403, reason: `the token's email ${PUSH_SERVICE_ACCOUNT} is not verified`},
    ]
    for (const r of refusals) {
      const res = await post(`${w.url}/`, body, r.headers)
      expect({name: r.name, status: res.status, body: res.body}).toEqual({name: r.name, status: r.status, body: {error: r.reason}})
    }
    expect(await count(w.db, 'SELECT count(*) FROM app')).toBe(0)
    // within the clock skew is fine; a valid token loads
    const ok = await post(`${w.url}/`, body, bearer(await oidc.token({iat: now + 20})))
    expect(ok).toMatchObject({status: 200, body: {outcome: 'loaded'}})
    const r = await w.stop()
    expect(r.refused).toEqual({unauthenticated: 8, forbidden: 2})
    expect(r.messages).toMatchObject({received: 1, deleted: 1})
    expect(r.objects.loaded).toBe(1)
    expect(warnings.filter((m) => m.startsWith('refused a push request from 127.0.0.1'))).toHaveLength(10)
    expect(warnings.at(-1)).toBe('further refused or malformed push requests are counted, not logged')
    expect(warnings.join('\n')).not.toMatch(/eyJ/) // tokens never reach the logs
    expect(oidc.fetches).toBeGreaterThanOrEqual(1)
  })

  it('answers 503 (not 401) when the signing keys cannot be fetched, so the push is retried', async () => {
    const w = await startWorker({push: {audience: AUDIENCE, jwksUrl: 'http://127.0.0.1:9/certs'}})
    const o = put('push-logs', `${w.dir}/keys.log`, jsonl(1, 'keys'))
    const res = await post(`${w.url}/`, pushBody(gcsNotification(o), {messageId: '3101'}), {authorization: `Bearer ${await oidc.token()}`})
    expect(res.status).toBe(503)
    expect(res.body.error).toMatch(/^the signing keys could not be fetched/)
    const r = await w.stop()
    expect(r.refused).toEqual({unauthenticated: 0, forbidden: 0})
    expect(r.messages.received).toBe(0)
  })

  it('answers 503 for a failed load; the redelivery loads it once', async () => {
    const w = await startWorker()
    const o = put('push-logs', `${w.dir}/flaky.log`, jsonl(9, 'f'))
    gcs.fail({match: (q) => q.query.alt === 'media' && q.path.endsWith(`/o/${o.name}`), status: 403, reason: 'simulated: forbidden', times: 1})
    const body = pushBody(gcsNotification(o), {messageId: '4001'})
    const failed = await post(`${w.url}/`, body)
    expect(failed.status).toBe(503)
    expect(failed.body.error).toMatch(/storage.objects.get is missing/)
    expect(await count(w.db, 'SELECT count(*) FROM app')).toBe(0)
    expect(await post(`${w.url}/`, body)).toMatchObject({status: 200, body: {outcome: 'loaded'}})
    expect(await post(`${w.url}/`, body)).toMatchObject({status: 200, body: {outcome: 'skipped'}})
    const r = await w.stop()
    expect(r.objects).toMatchObject({failed: 1, loaded: 1, skipped: 1})
    expect(r.messages).toMatchObject({received: 3, retained: 1, deleted: 2})
    expect(await count(w.db, 'SELECT count(*) FROM app')).toBe(9)
  })

  it('an older generation pushed after a newer one answers 200 and replaces nothing', async () => {
    gcs.versioning = true
    try {
      const w = await startWorker()
      const key = `${w.dir}/same.log`
      const v1 = put('push-logs', key, jsonl(4, 'v1'))
      const v2 = put('push-logs', key, jsonl(6, 'v2'))
      expect((await post(`${w.url}/`, pushBody(gcsNotification(v2), {messageId: '5002'}))).body).toEqual({outcome: 'loaded'})
      expect((await post(`${w.url}/`, pushBody(gcsNotification(v1), {messageId: '5001'}))).body).toEqual({outcome: 'skipped'})
      await w.stop()
      expect(await duckQuery(w.db, 'SELECT etag FROM _seneka_ledger')).toEqual([{etag: v2.generation}])
      expect(await count(w.db, "SELECT count(*) FROM app WHERE record LIKE '%v1-%'")).toBe(0)
    } finally {
      gcs.versioning = false
    }
  })

  it('records poison after the delivery attempts, names the dead-letter topic, and still stops when idle', async () => {
    const poisoned: string[] = []
    const w = await startWorker({stopWhenIdleMs: 1000, maxDeliveries: 3}, {onPoison: (p) => poisoned.push(p.messageId)})
    const bad = put('push-logs', `${w.dir}/bad.log`, jsonl(2, 'bad'))
    gcs.fail({match: (q) => q.query.alt === 'media' && q.path.endsWith(`/o/${bad.name}`), status: 403, reason: 'simulated: forbidden', times: 1000})
    const statuses: number[] = []
    const bodies: any[] = []
    // Pub/Sub keeps redelivering (a dead-letter policy of 5 attempts); the worker counts it poison at 3
    for (let attempt = 1; attempt <= 5; attempt++) {
      const res = await post(`${w.url}/`, pushBody(gcsNotification(bad), {messageId: '6001', deliveryAttempt: attempt, subscription: 'projects/seneka-test/subscriptions/gcs-push'}))
      statuses.push(res.status)
      bodies.push(res.body)
    }
    const invalid = await post(`${w.url}/`, pushBody({data: 'not json', attributes: {eventType: 'OBJECT_FINALIZE'}}, {messageId: '6002'}))
    expect(invalid.status).toBe(400)
    expect(statuses).toEqual([503, 503, 503, 503, 503])
    expect(bodies.map((b) => b.poison === true)).toEqual([false, false, true, true, true])
    // the redeliveries of a failing message are no activity: the worker stops when idle
    const r = await w.result
    expect(r.stoppedBy).toBe('idle')
    expect(r.poison).toBe(1)
    expect(poisoned).toEqual(['6001'])
    expect(r.poisonObjects[0]).toMatchObject({uri: `gs://push-logs/${bad.name}`, messageId: '6001', deliveries: 3, deadLetter: 'the dead-letter topic of projects/seneka-test/subscriptions/gcs-push'})
    expect(r.messages).toMatchObject({received: 6, invalid: 1, retained: 5, deleted: 0})
  })

  it('on stop: /healthz turns 503, new pushes get 503, a load that commits within the grace gets 200, one that cannot gets 503 and its redelivery loads it once', async () => {
    const db = path.join(tempDir(), 'wh.duckdb')
    const started: string[] = []
    // a grace long enough for a commit on a busy machine; the slow read is held past it (until the test lets it go)
    const w = await startWorker({push: {shutdownGraceMs: 5000}}, {onStart: (u) => started.push(u)}, db)
    const quick = put('push-logs', `${w.dir}/quick.log`, jsonl(3, 'quick'))
    const slow = put('push-logs', `${w.dir}/slow.log`, jsonl(4, 'slow'))
    let letQuickGo!: () => void
    let letSlowGo!: () => void
    gcs.delay({match: (q) => q.query.alt === 'media' && q.path.endsWith(`/o/${quick.name}`), until: new Promise<void>((r) => (letQuickGo = r)), times: 1})
    gcs.delay({match: (q) => q.query.alt === 'media' && q.path.endsWith(`/o/${slow.name}`), until: new Promise<void>((r) => (letSlowGo = r)), times: 1})
    const slowBody = pushBody(gcsNotification(slow), {messageId: '7002'})
    const pending = [post(`${w.url}/`, pushBody(gcsNotification(quick), {messageId: '7001'})), post(`${w.url}/`, slowBody)]
    // both loads under way: their objects are being read (a load not begun by the stop is not begun at all)
    const reading = () => gcs.requests.filter((q) => q.query.alt === 'media' && (q.path.endsWith(`/o/${quick.name}`) || q.path.endsWith(`/o/${slow.name}`))).length
    while (started.length < 2 || reading() < 2) await new Promise((r) => setTimeout(r, 10))
    const result = w.stop()
    // draining: not ready any more, and new pushes go elsewhere
    await vi.waitFor(async () => expect((await fetch(`${w.url}/healthz`)).status).toBe(503), {timeout: 30_000, interval: 10})
    expect(await (await fetch(`${w.url}/healthz`)).json()).toMatchObject({status: 'stopping'})
    const other = put('push-logs', `${w.dir}/late.log`, jsonl(1, 'late'))
    expect(await post(`${w.url}/`, pushBody(gcsNotification(other), {messageId: '7003'}))).toMatchObject({status: 503, body: {error: 'shutting down; redeliver to another instance'}})
    letQuickGo()
    const [q, s] = await Promise.all(pending)
    expect(q).toMatchObject({status: 200, body: {outcome: 'loaded'}})
    // answered 503 at the end of the grace while its read was still held: not after its load
    expect(s.status).toBe(503)
    letSlowGo()
    const r = await result
    expect(r.messages).toMatchObject({received: 2, deleted: 1, retained: 1})
    // the slow load was not abandoned half-way: it committed whole after the 503 (or would not have, if killed)
    const rows = await count(db, 'SELECT count(*) FROM app')
    expect([3, 7]).toContain(rows)
    // Pub/Sub redelivers the 503 to the next instance: loaded (or skipped) once
    const w2 = await startWorker({}, {}, db)
    const again = await post(`${w2.url}/`, slowBody)
    expect(again.status).toBe(200)
    await w2.stop()
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(7)
    expect(await count(db, 'SELECT count(*) FROM _seneka_ledger')).toBe(2)
  })
})

/**
 * A POST that sends its headers and the first bytes of a body it never finishes. `answer` is what the worker sent
 * back by the time the connection closed.
 */
async function stalledPost(url: string): Promise<{socket: net.Socket; answer: Promise<string>}> {
  const {hostname, port} = new URL(url)
  const socket = net.connect(Number(port), hostname)
  await once(socket, 'connect')
  let received = ''
  socket.on('data', (d) => (received += d))
  socket.on('error', () => {})
  const answer = new Promise<string>((r) => socket.once('close', () => r(received)))
  socket.write(`POST / HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"message": {"da`)
  return {socket, answer}
}

/** holds not released yet: released after each test, whatever it did */
const holds: Array<() => void> = []

/** Holds every read of an object's bytes until release(). */
function holdReads(): {release: () => void} {
  let release!: () => void
  const until = new Promise<void>((r) => (release = r))
  holds.push(release)
  gcs.delay({match: (q) => q.query.alt === 'media', until})
  return {release}
}

const mediaReads = (names: string[]) => gcs.requests.filter((q) => q.query.alt === 'media' && names.some((n) => q.path.endsWith(`/o/${n}`))).length

async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await cond())) await new Promise((r) => setTimeout(r, 10))
}

describe('push mode under its platform: deadlines, slots, stop, scope', () => {
  it('stalled bodies take no request slot (a real push still loads) and a stop does not wait on them', async () => {
    const w = await startWorker({push: {bodyTimeoutMs: 600_000}})
    // more stalled connections than the requests admitted at once
    const stalled = await Promise.all(Array.from({length: 100}, () => stalledPost(w.url)))
    const o = put('push-logs', `${w.dir}/real.log`, jsonl(4, 'real'))
    expect(await post(`${w.url}/`, pushBody(gcsNotification(o), {messageId: '8001'}))).toMatchObject({status: 200, body: {outcome: 'loaded'}})
    // the stop returns (no stalled body keeps it alive) and each stalled request is answered 503 and closed
    const r = await w.stop()
    const answers = await Promise.all(stalled.map((s) => s.answer))
    expect(new Set(answers.map((a) => a.split('\r\n')[0]))).toEqual(new Set(['HTTP/1.1 503 Service Unavailable']))
    expect(r.messages).toMatchObject({received: 1, deleted: 1})
    expect(r.errors).toBe(0)
  })

  it('a body not complete by its deadline gets 408 and a closed connection; a body cut off is a client error, not a worker error', async () => {
    const w = await startWorker({push: {bodyTimeoutMs: 200}})
    const slow = await stalledPost(w.url)
    const answer = await slow.answer
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout')
    expect(answer).toMatch(/connection: close/i)
    expect(answer).toContain('"error":"the request body was not complete within 200ms"')
    const cut = await stalledPost(w.url)
    cut.socket.destroy()
    await until(async () => (await (await fetch(`${w.url}/metrics`)).text()).includes('seneka_stream_push_requests_not_delivered_total{reason="truncated"} 1'))
    const r = await w.stop()
    expect(r.requests).toMatchObject({truncated: 1, timedOut: 1, busy: 0})
    expect(r.errors).toBe(0)
    expect(r.messages.received).toBe(0)
  })

  it('on stop, requests whose load has not begun are answered 503 at once and never loaded; the load under way commits', async () => {
    const hold = holdReads()
    const w = await startWorker({concurrency: 1, push: {shutdownGraceMs: 600_000}})
    const objects = Array.from({length: 12}, (_, i) => put('push-logs', `${w.dir}/q${i}.log`, jsonl(3, `q${i}`)))
    const answers = objects.map((o, i) =>
      post(`${w.url}/`, pushBody(gcsNotification(o), {messageId: `9${i}`})).then((a) => ({name: o.name, status: a.status})),
    )
    // one load under way (reading its object, held); the others wait for a load or staging slot: all twelve
    // received before the stop (on a busy machine the last requests could arrive after it)
    await until(() => mediaReads(objects.map((o) => o.name)) === 1)
    await until(async () => (await (await fetch(`${w.url}/metrics`)).text()).includes('seneka_stream_messages_total{result="received"} 12\n'))
    const result = w.stop()
    const settled: Array<{name: string; status: number}> = []
    for (const a of answers) void a.then((x) => settled.push(x))
    // the eleven not begun are answered 503 while the one under way is still held
    await until(() => settled.length === 11)
    expect(settled.map((s) => s.status)).toEqual(Array(11).fill(503))
    hold.release()
    const all = await Promise.all(answers)
    const r = await result
    const committed = all.filter((a) => a.status === 200).map((a) => `gs://push-logs/${a.name}`)
    expect(committed).toHaveLength(1)
    expect((await duckQuery(w.db, 'SELECT object_uri FROM _seneka_ledger')).map((x) => x.object_uri)).toEqual(committed)
    // nothing of the others was read
    expect(mediaReads(objects.map((o) => o.name))).toBe(1)
    expect(r.messages).toMatchObject({received: 12, deleted: 1, retained: 11})
    expect(r.objects).toMatchObject({loaded: 1, failed: 0})
  })

  it('on stop, a push waiting behind a load of the same object is answered 503 at once, not after that load', async () => {
    const hold = holdReads()
    const w = await startWorker({push: {shutdownGraceMs: 600_000}})
    const o = put('push-logs', `${w.dir}/same.log`, jsonl(3, 'same'))
    const first = post(`${w.url}/`, pushBody(gcsNotification(o), {messageId: 'same-1'}))
    await until(() => mediaReads([o.name]) === 1)
    // a redelivery of the same notification while its first delivery loads: it waits for the object's lock
    const second = post(`${w.url}/`, pushBody(gcsNotification(o), {messageId: 'same-2'}))
    await until(async () => (await (await fetch(`${w.url}/metrics`)).text()).includes('\nseneka_stream_queued 1\n'))
    const result = w.stop()
    expect((await second).status).toBe(503)
    hold.release()
    expect(await first).toMatchObject({status: 200, body: {outcome: 'loaded'}})
    expect((await result).messages).toMatchObject({received: 2, deleted: 1, retained: 1})
  })

  it('admits --max-requests requests at once (80 at --concurrency 4 on DuckDB, the Cloud Run concurrency of docs/deploy.md), answers 429 with Retry-After beyond, loads every admitted one', async () => {
    const hold = holdReads()
    const w = await startWorker()
    expect(await (await fetch(`${w.url}/healthz`)).json()).toMatchObject({maxRequests: 80})
    const objects = Array.from({length: 85}, (_, i) => put('push-logs', `${w.dir}/burst${i}.log`, jsonl(2, `b${i}`)))
    const settled: Array<{status: number; retryAfter: string | null}> = []
    const answers = objects.map((o, i) =>
      post(`${w.url}/`, pushBody(gcsNotification(o), {messageId: `burst-${i}`})).then((a) => {
        settled.push({status: a.status, retryAfter: a.headers.get('retry-after')})
        return a
      }),
    )
    // while every admitted load is held, the five beyond the cap are answered
    await until(() => settled.length === 5)
    expect(settled).toEqual(Array(5).fill({status: 429, retryAfter: '1'}))
    hold.release()
    const all = await Promise.all(answers)
    expect(all.filter((a) => a.status === 200)).toHaveLength(80)
    const r = await w.stop()
    expect(r.requests.busy).toBe(5)
    expect(await count(w.db, 'SELECT count(*) FROM _seneka_ledger')).toBe(80)
    // 5 x what the loader takes in flight, within Cloud Run's 80..1000
    expect([defaultMaxRequests(4), defaultMaxRequests(16), defaultMaxRequests(32), defaultMaxRequests(2000)]).toEqual([80, 80, 160, 1000])
  })

  it('docs/deploy.md gives Cloud Run the --concurrency the worker admits: --max-requests, the default on BigQuery', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/deploy.md'), 'utf8')
    const cloudRun = [...doc.matchAll(/--no-allow-unauthenticated --timeout \d+ --concurrency (\d+)/g)].map((m) => Number(m[1]))
    const admitted = [...doc.matchAll(/--max-requests,(\d+)/g)].map((m) => Number(m[1]))
    expect(cloudRun).toHaveLength(1)
    expect(admitted.length).toBeGreaterThan(0)
    // the BigQuery loader takes two batches of objects in flight
    expect(new Set([...cloudRun, ...admitted])).toEqual(new Set([defaultMaxRequests(LOADER_DEFAULTS.maxObjectsPerJob * 2)]))
  })

  it('loads only the buckets and prefixes it is scoped to; others are acknowledged, counted, and logged once per bucket', async () => {
    const warnings: string[] = []
    const dir = `p${n + 1}`
    const w = await startWorker({scope: {buckets: ['push-logs'], prefixes: [`${dir}/in/`]}}, {onWarning: (m) => warnings.push(m)})
    const inside = put('push-logs', `${w.dir}/in/a.log`, jsonl(2, 'in'))
    const otherPrefix = put('push-logs', `${w.dir}/out/a.log`, jsonl(2, 'out'))
    const otherBucket1 = put('someone-elses', `${w.dir}/in/a.log`, jsonl(2, 'x1'))
    const otherBucket2 = put('someone-elses', `${w.dir}/in/b.log`, jsonl(2, 'x2'))
    const outcomes = []
    for (const [i, o] of [inside, otherPrefix, otherBucket1, otherBucket2].entries()) {
      const a = await post(`${w.url}/`, pushBody(gcsNotification(o), {messageId: `scope-${i}`}))
      outcomes.push([a.status, a.body.outcome])
    }
    expect(outcomes).toEqual([
      [200, 'loaded'],
      [200, 'out-of-scope'],
      [200, 'out-of-scope'],
      [200, 'out-of-scope'],
    ])
    const r = await w.stop()
    expect(r.events).toMatchObject({objectCreated: 4, outOfScope: 3})
    expect(r.messages).toMatchObject({received: 4, deleted: 4})
    expect(await duckQuery(w.db, 'SELECT object_uri FROM _seneka_ledger')).toEqual([{object_uri: `gs://push-logs/${inside.name}`}])
    const logged = warnings.filter((m) => m.startsWith('not loading '))
    expect(logged).toEqual([
      `not loading gs://push-logs/${otherPrefix.name}: this worker loads bucket push-logs, keys under ${dir}/in/ (--bucket, --prefix); events outside it are acknowledged and counted as out of scope (logged once per bucket)`,
      `not loading gs://someone-elses/${otherBucket1.name}: this worker loads bucket push-logs, keys under ${dir}/in/ (--bucket, --prefix); events outside it are acknowledged and counted as out of scope (logged once per bucket)`,
    ])
  })
})
