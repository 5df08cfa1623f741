import {gunzipSync, gzipSync} from 'node:zlib'
import {afterEach, describe, expect, it, vi} from 'vitest'
import {runBackfill} from '../../../src/lib/backfill/run.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import type {LogFormat} from '../../../src/lib/formats/types.js'
import {type BigQuerySettings, openWarehouse} from '../../../src/lib/warehouse/index.js'
import type {WriteApiLoaderSettings, WriteStep} from '../../../src/lib/warehouse/bigquery/write-api/loader.js'
import {STREAM_GROUPS} from '../../../src/lib/warehouse/bigquery/write-api/groups.js'
import {albFixture, PREFIX} from '../../helpers/alb-fixtures.js'
import {useGoogleStandIns} from '../../helpers/write-api-double.js'

/**
 * The Write API loader through the real @google-cloud/bigquery-storage client against the strict gRPC double,
 * the real @google-cloud/bigquery client against the REST double, and every statement seneka sends (ledger
 * look-ups, replacements) executed on the DuckDB stand-in that also holds the committed rows.
 */

const google = useGoogleStandIns()

afterEach(() => {
  google.g.clearFailures()
})

const ALB = getFormat('alb')
let dsSeq = 0

function settings(dataset: string, writeApi: Partial<WriteApiLoaderSettings> = {}): BigQuerySettings {
  return {
    location: 'EU',
    apiEndpoint: google.g.endpoint,
    gcsEndpoint: google.g.endpoint,
    loadMethod: 'write-api',
    storageEmulatorHost: google.w.host,
    overrides: {retryBaseDelayMs: 1, pollIntervalMs: 1, writeApi: {minLookupIntervalMs: 0, ...writeApi}},
  }
}

/** A backfill of one source into a dataset through the Write API loader (`extra` overrides any option). */
function backfill(o: {dataset: string; source: string; format: LogFormat; table: string; concurrency: number}, writeApi: Partial<WriteApiLoaderSettings>, extra: Record<string, unknown>) {
  return runBackfill({
    sources: [o.source],
    format: o.format,
    warehouse: `bigquery://test-project/${o.dataset}`,
    table: o.table,
    range: {},
    concurrency: o.concurrency,
    dryRun: false,
    retries: 3,
    storeOptions: {gcsEndpoint: google.g.endpoint},
    bigquery: settings(o.dataset, writeApi),
    ...extra,
  })
}

function scenario(opts: {files?: number; malformedRate?: number} = {}) {
  const dataset = `wapi_${++dsSeq}`
  const bucket = `src-wapi-${dsSeq}`
  const fx = albFixture({days: 1, intervalMinutes: Math.floor(1440 / Math.max(1, (opts.files ?? 4) / 2)), linesPerFile: 30, malformedRate: opts.malformedRate ?? 0.05})
  for (const f of fx.files) google.g.putObject(bucket, f.key, f.body)
  const run = (writeApi: Partial<WriteApiLoaderSettings> = {}, extra: Record<string, unknown> = {}) =>
    backfill({dataset, source: `gs://${bucket}/${PREFIX}`, format: ALB, table: 'alb_logs', concurrency: 2}, writeApi, extra)
  // the stand-in holds what queries see: committed rows, minus what a DELETE removed
  const rows = () => google.sql.rows(dataset, 'alb_logs')
  const lines = async () => (await rows()).map((r) => `${r._source_uri}#${r._line}`)
  const ledger = () => google.sql.rows(dataset, '_seneka_ledger', 'loaded_at')
  const rejects = () => google.g.tables.get(`${dataset}._seneka_rejects`)?.rows ?? []
  return {dataset, bucket, fx, run, rows, lines, ledger, rejects}
}

/** every good line once, and nothing else */
async function expectExactlyOnce(s: ReturnType<typeof scenario>): Promise<void> {
  const got = await s.lines()
  expect(new Set(got).size).toBe(got.length)
  expect(got).toHaveLength(s.fx.good)
}

describe('Write API loader: one object, appended, finalized and committed', () => {
  it('loads every object through PENDING streams with offsets, commits each once, and runs no DML', async () => {
    const s = scenario()
    const before = google.w.calls.length
    const r = await s.run()
    expect(r.objects, JSON.stringify(r.failures)).toMatchObject({loaded: s.fx.files.length, failed: 0})
    await expectExactlyOnce(s)
    expect(s.rejects()).toHaveLength(s.fx.malformed)
    const calls = google.w.calls.slice(before)
    // every append to a pending stream carries its offset: objects of a group follow each other in their stream,
    // each request at the rows before it (was: every append at offset 0, one stream per object)
    const pendingAppends = calls.filter((c) => c.method === 'AppendRows' && !String(c.request.writeStream).endsWith('_default'))
    expect(pendingAppends.length).toBeGreaterThan(0)
    const next = new Map<string, number>()
    for (const a of pendingAppends) {
      const name = String(a.request.writeStream)
      expect(a.request.offset?.value).toBe(String(next.get(name) ?? 0))
      next.set(name, (next.get(name) ?? 0) + a.request.protoRows.rows.serializedRows.length)
    }
    const commits = calls.filter((c) => c.method === 'BatchCommitWriteStreams')
    // one commit per object's rows, one per object with rejected lines
    const committed = commits.flatMap((c) => c.request.writeStreams)
    expect(new Set(committed).size).toBe(committed.length)
    // no staging: no GCS write, no load job, no MERGE/UPDATE/DELETE
    const statements = google.g.jobs('query').map((j) => String(j.configuration.query.query))
    expect(statements.filter((q) => /\b(MERGE|UPDATE|DELETE|INSERT)\b/.test(q))).toEqual([])
    expect(google.g.jobs('load').filter((j) => j.configuration.load.destinationTable.datasetId === s.dataset)).toEqual([])
    // the ledger: an intent, then committed, per object
    const ledger = await s.ledger()
    expect(ledger.filter((l) => l.state === 'committed')).toHaveLength(s.fx.files.length)
    expect(ledger.filter((l) => l.state === 'intent')).toHaveLength(s.fx.files.length)
    // the server sees every connection closed (the loader closed its client)
    await vi.waitFor(() => expect(google.w.openConnections).toBe(0))
  })

  it('an empty object loads with no rows and opens no connection (every connection carries a request)', async () => {
    const dataset = `wapi_empty_${++dsSeq}`
    google.g.putObject(`src-empty-${dsSeq}`, `${PREFIX}empty.log.gz`, gzipSync(''))
    const before = google.w.connectionsOpened
    const callsBefore = google.w.calls.length
    const r = await backfill({dataset, source: `gs://src-empty-${dsSeq}/${PREFIX}`, format: ALB, table: 'alb_logs', concurrency: 2}, {}, {})
    expect(r.objects, JSON.stringify(r.failures)).toMatchObject({loaded: 1, failed: 0})
    expect(r.rows).toBe(0)
    // a connection opened and closed unused left its call open at the server, and kept a worker process alive about
    // 25 s after its work; now the only connection is the ledger's
    const streams = new Set(google.w.calls.slice(callsBefore).filter((c) => c.method === 'AppendRows').map((c) => String(c.request.writeStream)))
    expect([...streams].map((n) => n.replace(/^.*\/tables\//, ''))).toEqual(['_seneka_ledger/streams/_default'])
    expect(google.w.connectionsOpened - before).toBe(1)
    await vi.waitFor(() => expect(google.w.openStreams()).toEqual([]))
  })

  it('a re-run skips every object and adds nothing', async () => {
    const s = scenario()
    await s.run()
    const again = await s.run()
    expect(again.objects).toMatchObject({loaded: 0, skipped: s.fx.files.length, failed: 0})
    await expectExactlyOnce(s)
  })
})

const STEPS: WriteStep[] = ['lookup', 'created', 'appended', 'finalized', 'intent', 'checked', 'committed', 'replaced', 'recorded']

/** A promise a test opens when an event happened. */
function gate() {
  let open!: () => void
  const p = new Promise<void>((r) => (open = r))
  return {p, open}
}

class Crash extends Error {
  override readonly name = 'Crash'
}

describe('Write API loader: an object is read and parsed while its look-up runs', () => {
  it('look-ups held until an object was read: the read comes first, and no object reaches a stream before its look-up decided', async () => {
    const s = scenario()
    const events: string[] = []
    let read!: () => void
    const wasRead = new Promise<void>((r) => (read = r))
    // an observer (matches nothing): an object's bytes asked for
    google.g.delay({
      match: (q) => {
        if (q.query.alt === 'media' && q.path.includes(`/b/${s.bucket}/o/`)) {
          events.push('read')
          read()
        }
        return false
      },
    })
    // the ledger look-ups (not their dry runs) answered only once an object was read: before, an object was read
    // only after its look-up, and this run would never end
    const lookup = (q: {method: string; path: string; body?: any}) => q.method === 'POST' && /\/jobs$/.test(q.path) && /object_uri IN UNNEST/.test(q.body?.configuration?.query?.query ?? '') && !q.body?.configuration?.dryRun
    google.g.delay({match: lookup, until: wasRead})
    try {
      const r = await s.run({onStep: (step, uri) => void events.push(`${step} ${uri}`)})
      expect(r.objects, JSON.stringify(r.failures)).toMatchObject({loaded: s.fx.files.length, failed: 0})
      await expectExactlyOnce(s)
    } finally {
      google.g.clearDelays()
    }
    expect(events[0]).toBe('read')
    const uris = s.fx.files.map((f) => `gs://${s.bucket}/${f.key}`)
    for (const uri of uris) {
      // decided before anything of it was written
      expect(events.indexOf(`lookup ${uri}`), uri).toBeGreaterThan(0)
      expect(events.indexOf(`created ${uri}`), uri).toBeGreaterThan(events.indexOf(`lookup ${uri}`))
    }
  })
})

describe('Write API loader: exactly once through lost replies and crashes', () => {
  it('a lost append reply: the append is sent again at the same offset (ALREADY_EXISTS = done), rows once', async () => {
    const s = scenario()
    const before = google.w.calls.length
    google.w.loseAppendReplies(2, (name) => name.includes(`/${s.dataset}/tables/alb_logs/`) && !name.endsWith('_default'))
    const r = await s.run()
    expect(r.objects, JSON.stringify(r.failures)).toMatchObject({loaded: s.fx.files.length, failed: 0})
    await expectExactlyOnce(s)
    // the lost appends were applied: the same offset went out twice on the same stream
    const appends = google.w.calls.slice(before).filter((c) => c.method === 'AppendRows' && String(c.request.writeStream).includes(`/${s.dataset}/tables/alb_logs/`))
    const keys = appends.map((a) => `${a.request.writeStream}@${a.request.offset?.value}`)
    expect(keys.length - new Set(keys).size).toBe(2)
    // the server sees every connection closed (the loader closed its client)
    await vi.waitFor(() => expect(google.w.openConnections).toBe(0))
  })

  it('an append refused with INTERNAL: the requests behind it get OUT_OF_RANGE and are sent again from the last acknowledged offset', async () => {
    const s = scenario({files: 2})
    const before = google.w.calls.length
    google.w.failAppends(1, 13, (name) => name.includes(`/${s.dataset}/tables/alb_logs/`) && !name.endsWith('_default'))
    // tiny requests: every object is many appends, several in flight
    const r = await s.run({requestBytes: 2500})
    expect(r.objects, JSON.stringify(r.failures)).toMatchObject({loaded: s.fx.files.length, failed: 0})
    await expectExactlyOnce(s)
    const appends = google.w.calls.slice(before).filter((c) => c.method === 'AppendRows' && String(c.request.writeStream).includes(`/${s.dataset}/tables/alb_logs/`))
    const offsets = new Map<string, number[]>()
    for (const a of appends) offsets.set(a.request.writeStream, [...(offsets.get(a.request.writeStream) ?? []), Number(a.request.offset.value)])
    // one stream saw an offset again after a later one: the resend from the last acknowledged offset
    const resent = [...offsets.values()].filter((o) => o.some((x, i) => i > 0 && x <= o[i - 1]))
    expect(resent).toHaveLength(1)
    expect(Math.max(...[...offsets.values()].map((o) => o.length))).toBeGreaterThan(3)
  })

  it('a lost commit reply: the retry finds the stream committed (never twice), rows once', async () => {
    const s = scenario()
    google.w.loseCommitReplies(2)
    const r = await s.run()
    expect(r.objects, JSON.stringify(r.failures)).toMatchObject({loaded: s.fx.files.length, failed: 0})
    await expectExactlyOnce(s)
    const ledger = await s.ledger()
    expect(new Set(ledger.filter((l) => l.state === 'committed').map((l) => l.object_uri)).size).toBe(s.fx.files.length)
  })

  for (const at of STEPS) {
    it(`a crash after step "${at}" of an object, then a new run: exactly the rows of an uninterrupted run`, async () => {
      const s = scenario({files: 4})
      // the first object that reaches the step dies there (a thrown, non-retryable error ends that load)
      let crashed: string | undefined
      const first = await s.run({
        onStep: (step, uri) => {
          if (step === at && (crashed === undefined || crashed === uri)) {
            crashed = uri
            throw new Crash(`simulated crash after ${step}`)
          }
        },
      })
      expect(crashed).toBeDefined()
      expect(first.objects.failed).toBeGreaterThanOrEqual(1)
      // a failed object leaves no partial rows, whatever the step
      const partial = (await s.rows()).filter((r) => r._source_uri === crashed)
      expect([0, s.fx.files.find((f) => crashed!.endsWith(f.key))!.lines - s.fx.files.find((f) => crashed!.endsWith(f.key))!.malformed]).toContain(partial.length)
      const second = await s.run()
      expect(second.objects.failed, JSON.stringify(second.failures)).toBe(0)
      await expectExactlyOnce(s)
      expect(s.rejects()).toHaveLength(s.fx.malformed)
      // every object ends with a committed ledger entry
      const committed = new Set((await s.ledger()).filter((l) => l.state === 'committed').map((l) => l.object_uri))
      expect(committed.size).toBe(s.fx.files.length)
      // and a third run loads nothing
      const third = await s.run()
      expect(third.objects).toMatchObject({loaded: 0, replaced: 0, failed: 0})
    })
  }
})

describe('Write API loader: concurrent workers, zombies, changed objects', () => {
  it('the same object to two workers at once (both record an intent): one stream commits, rows once', async () => {
    const s = scenario({files: 2})
    const intents = new Map<string, number>()
    const waiters: Array<() => void> = []
    // each worker waits after recording its intent until the other recorded one for the same object
    const barrier = async (step: WriteStep, uri: string) => {
      if (step !== 'intent') return
      intents.set(uri, (intents.get(uri) ?? 0) + 1)
      if (intents.get(uri)! >= 2) for (const w of waiters.splice(0)) w()
      else await new Promise<void>((r) => waiters.push(r))
    }
    // one object per group: a group's intents are visible together, so with larger groups one worker may settle the
    // other's group before recording an intent of its own and the barrier would wait for nothing (objects in
    // different groups: "one stream per version commits, per object, across groups" below)
    const one = {...STREAM_GROUPS, maxObjects: 1, lingerMs: 0, committedLane: false}
    const [a, b] = await Promise.all([s.run({onStep: barrier, groups: one}, {loadId: 'worker-a'}), s.run({onStep: barrier, groups: one}, {loadId: 'worker-b'})])
    expect(a.objects.failed + b.objects.failed, JSON.stringify([a.failures, b.failures])).toBe(0)
    await expectExactlyOnce(s)
    const committed = (await s.ledger()).filter((l) => l.state === 'committed')
    // one stream commits per object (objects of a group share one: was one distinct stream per object)
    for (const f of s.fx.files) expect(new Set(committed.filter((l) => l.object_uri === `gs://${s.bucket}/${f.key}`).map((l) => l.stream)).size).toBe(1)
    expect((await s.ledger()).filter((l) => l.state === 'abandoned').length).toBeGreaterThanOrEqual(s.fx.files.length)
  })

  it('the same object to two workers, one committing while the other finalizes: the later one commits nothing', async () => {
    const s = scenario({files: 2})
    const recorded = new Map<string, () => void>()
    const done = (uri: string) => new Promise<void>((r) => recorded.set(uri, r))
    const waits = new Map<string, Promise<void>>()
    for (const f of s.fx.files) waits.set(`gs://${s.bucket}/${f.key}`, done(`gs://${s.bucket}/${f.key}`))
    // A runs freely; B, once its own stream is finalized, waits until A recorded the object committed
    const a = s.run({onStep: (step, uri) => void (step === 'recorded' && recorded.get(uri)?.())}, {loadId: 'worker-a'})
    const b = s.run({onStep: async (step, uri) => (step === 'finalized' ? waits.get(uri) : undefined)}, {loadId: 'worker-b'})
    const [ra, rb] = await Promise.all([a, b])
    expect(ra.objects.failed + rb.objects.failed, JSON.stringify([ra.failures, rb.failures])).toBe(0)
    await expectExactlyOnce(s)
    const ledger = await s.ledger()
    // B's streams were abandoned, never committed
    const bStreams = ledger.filter((l) => l.load_id === 'worker-b' && l.state === 'intent').map((l) => l.stream)
    expect(bStreams.length).toBeGreaterThan(0)
    for (const st of bStreams) expect(google.w.streams.get(String(st))!.commitTime).toBeUndefined()
  })

  it('the race the check cannot close (A looks before B\'s intent is visible, B\'s stream sorts first): both commit, the second stream by name loses its rows', async () => {
    const s = scenario({files: 2, malformedRate: 0})
    const uri = `gs://${s.bucket}/${s.fx.files[0].key}`
    const bCreated = gate()
    const aChecked = gate()
    const goB = gate()
    const bCommitted = gate()
    // B creates its stream first (it sorts first) and waits; A goes through its check seeing only itself and waits;
    // then B records its intent, sees A's (second by name) and commits; then A commits too
    const b = s.run(
      {
        onStep: async (step, u) => {
          if (u !== uri) return
          if (step === 'created') {
            bCreated.open()
            await goB.p
          }
          if (step === 'recorded') bCommitted.open()
        },
      },
      {loadId: 'worker-b'},
    )
    await bCreated.p
    const a = s.run(
      {
        onStep: async (step, u) => {
          if (u !== uri || step !== 'checked') return
          aChecked.open()
          await bCommitted.p
        },
      },
      {loadId: 'worker-a'},
    )
    await aChecked.p
    goB.open()
    const [ra, rb] = await Promise.all([a, b])
    expect(ra.objects.failed + rb.objects.failed, JSON.stringify([ra.failures, rb.failures])).toBe(0)
    // both streams committed ...
    const streams = [...google.w.streams.values()].filter((x) => x.rows.some((r) => r._source_uri === uri) && x.commitTime)
    expect(streams).toHaveLength(2)
    // ... and the rows are there once: the second stream by name lost its rows
    await expectExactlyOnce(s)
    expect(new Set((await s.rows()).filter((x) => x._source_uri === uri).map((x) => x._load_id))).toEqual(new Set(['worker-b']))
  })

  it('a zombie: a worker whose lease ran out before its commit commits nothing; the other worker loads the object once', async () => {
    const s = scenario({files: 2})
    let skew = 0
    const clock = {now: () => Date.now() + skew, setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms), clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout)}
    let release!: () => void
    const paused = new Promise<void>((r) => (release = r))
    let zombieUri: string | undefined
    const zombie = s.run(
      {
        clock,
        leaseMs: 60_000,
        onStep: async (step, uri) => {
          if (step !== 'finalized' || zombieUri) return
          zombieUri = uri
          await paused
          skew = 120_000 // it wakes up two minutes later, past its lease
        },
      },
      {loadId: 'zombie', retries: 0},
    )
    while (!zombieUri) await new Promise((r) => setImmediate(r))
    const other = await s.run({}, {loadId: 'healthy'})
    expect(other.objects.failed).toBe(0)
    release()
    const z = await zombie
    expect(z.failures.map((f) => f.error).join(' ')).toMatch(/lease .* ran out before its commit/)
    await expectExactlyOnce(s)
  })

  it('a slow worker whose version was overtaken by a newer one committed meanwhile commits nothing; the newer rows stay', async () => {
    const s = scenario({files: 2, malformedRate: 0})
    const f = s.fx.files[0]
    const uri = `gs://${s.bucket}/${f.key}`
    let release!: () => void
    const paused = new Promise<void>((r) => (release = r))
    let reached!: () => void
    const atFinalize = new Promise<void>((r) => (reached = r))
    const slow = s.run(
      {
        onStep: async (step, u) => {
          if (step !== 'finalized' || u !== uri) return
          reached()
          await paused
        },
      },
      {loadId: 'slow', retries: 0},
    )
    await atFinalize
    // the object is overwritten (5 lines) and another worker loads the new version
    const kept = `${gunzipSync(f.body).toString().split('\n').filter(Boolean).slice(0, 5).join('\n')}\n`
    google.g.putObject(s.bucket, f.key, gzipSync(kept))
    const fast = await s.run({}, {loadId: 'fast'})
    expect(fast.objects.failed).toBe(0)
    release()
    const r = await slow
    expect(r.failures.map((x) => x.error).join(' ')).toMatch(/another version of .* was committed while this one loaded; this one was not committed/)
    const rows = (await s.rows()).filter((x) => x._source_uri === uri)
    expect(rows).toHaveLength(5)
    expect(new Set(rows.map((x) => x._load_id))).toEqual(new Set(['fast']))
  })

  it('an object whose ETag changed: the old version rows go by one DELETE outside any transaction, the new ones come once', async () => {
    const s = scenario({files: 2})
    await s.run()
    const f = s.fx.files[0]
    const kept = `${gunzipSync(f.body).toString().split('\n').filter(Boolean).slice(0, 5).join('\n')}\n`
    google.g.putObject(s.bucket, f.key, gzipSync(kept))
    const before = google.g.jobs('query').length
    const r = await s.run()
    expect(r.objects, JSON.stringify(r.failures)).toMatchObject({replaced: 1, loaded: 0, failed: 0})
    const uri = `gs://${s.bucket}/${f.key}`
    const rows = (await s.rows()).filter((x) => x._source_uri === uri)
    const goodKept = kept.split('\n').filter(Boolean).length - (rows.length === 5 ? 0 : 5 - rows.length)
    expect(rows).toHaveLength(goodKept)
    expect(new Set(rows.map((x) => x._line)).size).toBe(rows.length)
    const dml = google.g.jobs('query').slice(before).map((j) => String(j.configuration.query.query)).filter((q) => /\bDELETE\b/.test(q))
    expect(dml).toHaveLength(2) // the old rows, the old rejects
    for (const q of dml) expect(q).not.toMatch(/BEGIN TRANSACTION/)
  })
})

describe('Write API loader: refusals are one sentence, never a silent drop', () => {
  it('a table that lacks a column the rows carry (SCHEMA_MISMATCH_EXTRA_FIELDS): one sentence naming it, nothing committed', async () => {
    const s = scenario({files: 2})
    const r = await s.run({
      // another tool drops a column after seneka checked the table
      onStep: (step) => {
        if (step !== 'lookup') return
        const t = google.g.tables.get(`${s.dataset}.alb_logs`)!
        t.metadata.schema.fields = t.metadata.schema.fields.filter((f: {name: string}) => f.name !== 'user_agent')
      },
    })
    expect(r.objects.loaded).toBe(0)
    expect(r.failures.map((f) => f.error)).toEqual(s.fx.files.map(() => expect.stringMatching(/^The table alb_logs lacks column\(s\) user_agent that seneka writes for alb rows; nothing of gs:\/\/.* was committed\./)))
    expect(await s.rows()).toEqual([])
  })

  it('a row the service refuses: one sentence naming the object and its line, nothing of that object committed', async () => {
    const s = scenario({files: 2, malformedRate: 0})
    google.w.refuseRow(3, (name) => name.includes(`/${s.dataset}/tables/alb_logs/`))
    const r = await s.run({}, {retries: 0})
    expect(r.objects.failed).toBe(1)
    const [failure] = r.failures
    // the fourth row of the object's first request is its line 4 (no line of it was malformed)
    expect(failure.error).toMatch(/^BigQuery refused line 4 of gs:\/\/\S+: Field event_time: value out of range \(1 row error in the request; nothing of the object was committed\)/)
    expect((await s.rows()).filter((x) => x._source_uri === failure.uri)).toEqual([])
  })

  it('the double refuses a request of 10 MB; seneka cuts its requests below it and offsets follow the rows', async () => {
    const {RowEncoder, RequestBuilder, MAX_REQUEST_BYTES} = await import('../../../src/lib/warehouse/bigquery/write-api/rows.js')
    const {WriteApi} = await import('../../../src/lib/warehouse/bigquery/write-api/client.js')
    const dataset = `wapi_big_${++dsSeq}`
    google.g.tables.set(`${dataset}.big`, {metadata: {tableReference: {projectId: 'test-project', datasetId: dataset, tableId: 'big'}, schema: {fields: [{name: 'msg', type: 'STRING'}]}}, rows: []})
    const api = new WriteApi({project: 'test-project', emulatorHost: google.w.host, retries: 0, retryBaseDelayMs: 1})
    try {
      const enc = new RowEncoder([{name: 'msg', type: 'STRING'}])
      const row = enc.encode({msg: 'x'.repeat(1024 * 1024)})
      const parent = api.tablePath(dataset, 'big')
      // eleven 1 MiB rows in one request: refused by the service
      const one = await api.createPendingStream(parent)
      const err = await api.appendPending(one.name, enc.descriptor, [Array.from({length: 11}, () => row)], (_i, res) => new Error(String(res.error?.message))).catch((e) => e)
      expect(String(err.message)).toMatch(/request too large/)
      expect(11 * row.length).toBeGreaterThanOrEqual(MAX_REQUEST_BYTES)
      // the builder cuts the same rows into requests under the limit; all land, offsets 0, 8, ...
      const b = new RequestBuilder()
      for (let i = 0; i < 11; i++) b.add(row)
      const requests = b.done()
      expect(requests.length).toBe(2)
      const two = await api.createPendingStream(parent)
      const before = google.w.calls.length
      expect(await api.appendPending(two.name, enc.descriptor, requests, () => new Error('refused'))).toBe(11)
      expect(google.w.calls.slice(before).filter((c) => c.method === 'AppendRows').map((c) => c.request.offset.value)).toEqual(['0', String(requests[0].length)])
      expect(await api.finalize(two.name)).toBe(11)
      // pending rows are invisible until the commit
      expect(google.g.tables.get(`${dataset}.big`)!.rows).toHaveLength(0)
      await api.commit(parent, [two.name])
      expect(google.g.tables.get(`${dataset}.big`)!.rows).toHaveLength(11)
      expect(await api.commitTime(two.name)).toBeInstanceOf(Date)
      expect(await api.commitTime(one.name)).toBeNull()
      // a committed stream is not committed twice: the second commit is a no-op (STREAM_ALREADY_COMMITTED)
      await api.commit(parent, [two.name])
      expect(google.g.tables.get(`${dataset}.big`)!.rows).toHaveLength(11)
    } finally {
      await api.close()
    }
    expect(api.openConnections).toBe(0)
  })
})

/** `n` small JSON-lines objects (5 good lines each) in a fresh bucket; `bad` of them hold only garbage */
function jsonlScenario(n: number, bad: number[] = []) {
  const dataset = `wapi_grp_${++dsSeq}`
  const bucket = `src-grp-${dsSeq}`
  const uris: string[] = []
  for (let i = 0; i < n; i++) {
    const key = `logs/o${String(i).padStart(4, '0')}.jsonl.gz`
    const lines = bad.includes(i) ? Array.from({length: 5}, (_, k) => `not json ${k}`) : Array.from({length: 5}, (_, k) => JSON.stringify({time: `2024-05-01T00:${String(i % 60).padStart(2, '0')}:0${k}Z`, msg: `o${i}-${k}`}))
    google.g.putObject(bucket, key, gzipSync(`${lines.join('\n')}\n`))
    uris.push(`gs://${bucket}/${key}`)
  }
  const parent = `projects/test-project/datasets/${dataset}/tables/app`
  const run = (writeApi: Partial<WriteApiLoaderSettings> = {}, extra: Record<string, unknown> = {}) =>
    backfill({dataset, source: `gs://${bucket}/logs/`, format: getFormat('jsonl'), table: 'app', concurrency: 8}, writeApi, extra)
  const rows = () => google.sql.rows(dataset, 'app')
  /** every good line of every good object once */
  const exactlyOnce = async () => {
    const keys = (await rows()).map((r) => `${r._source_uri}#${r._line}`)
    expect(new Set(keys).size).toBe(keys.length)
    expect(keys).toHaveLength(5 * (n - bad.length))
  }
  const created = (since: number) => google.w.calls.slice(since).filter((c) => c.method === 'CreateWriteStream' && c.request.parent === parent)
  const ledger = () => google.sql.rows(dataset, '_seneka_ledger', 'loaded_at')
  return {dataset, uris, parent, run, rows, exactlyOnce, created, ledger}
}

describe('Write API loader: objects share pending streams (CreateWriteStream quota)', () => {
  it('100 objects at concurrency 8 take at most 10 streams (one per object before), one ledger append per group of intents', async () => {
    const s = jsonlScenario(100)
    const before = google.w.calls.length
    const queriesBefore = google.g.jobs('query').length
    const r = await s.run()
    expect(r.objects, JSON.stringify(r.failures)).toMatchObject({loaded: 100, failed: 0})
    await s.exactlyOnce()
    const streams = s.created(before)
    // ledger look-ups stay batched: three rounds for a group (before, its check, after its commit), no group-row
    // look-ups in steady state (those are for settling open intents only)
    const lookups = google.g.jobs('query').slice(queriesBefore).filter((j) => !j.configuration.dryRun && /_seneka_ledger/.test(String(j.configuration.query.query)))
    if (process.env.WAPI_DEBUG) console.log(`100 objects: ${streams.length} streams, ${lookups.length} look-ups`)
    expect(lookups.length).toBeLessThanOrEqual(3 * streams.length + 1)
    expect(streams.length).toBeGreaterThanOrEqual(1)
    expect(streams.length).toBeLessThanOrEqual(10)
    // each object's intent names its stream and its own offset range in it; the ranges tile each stream
    const intents = (await s.ledger()).filter((l) => l.state === 'intent')
    expect(intents).toHaveLength(100)
    const byStream = new Map<string, Array<{offset: number; rows: number}>>()
    for (const i of intents) byStream.set(String(i.stream), [...(byStream.get(String(i.stream)) ?? []), {offset: Number(i.stream_offset), rows: Number(i.rows)}])
    expect(byStream.size).toBe(streams.length)
    for (const [name, ranges] of byStream) {
      ranges.sort((a, b) => a.offset - b.offset)
      let at = 0
      for (const x of ranges) {
        expect(x.offset).toBe(at)
        at += x.rows
      }
      expect(google.w.streams.get(name)!.rows).toHaveLength(at)
    }
    // the intents of a group went in one request to the ledger's default stream
    const intentAppends = google.w.calls.slice(before).filter((c) => c.method === 'AppendRows' && String(c.request.writeStream).endsWith('_seneka_ledger/streams/_default') && c.request.protoRows?.rows?.serializedRows?.length > 1)
    expect(intentAppends.length).toBeGreaterThanOrEqual(streams.length)
  })

  it('an object the service refuses mid-group fails alone: the others commit once from a new stream; an object that fails to parse never joins a group', async () => {
    const s = jsonlScenario(12, [7])
    const before = google.w.calls.length
    // the third append to a pending stream of the table: an object in the middle of the first group
    let seen = 0
    google.w.refuseRow(2, (name) => name.startsWith(`${s.parent}/`) && !name.endsWith('_default') && ++seen === 3)
    const r = await s.run({}, {retries: 0})
    expect(r.objects.failed, JSON.stringify(r.failures)).toBe(2)
    const refused = r.failures.find((f) => /refused line 3 of/.test(f.error))!
    expect(refused, JSON.stringify(r.failures)).toBeDefined()
    expect(r.failures.map((f) => f.uri).sort()).toEqual([refused.uri, s.uris[7]].sort())
    expect(r.objects.loaded).toBe(10)
    // nothing of the refused object, every row of the others once
    const rows = await s.rows()
    expect(rows.filter((x) => x._source_uri === refused.uri)).toEqual([])
    const keys = rows.map((x) => `${x._source_uri}#${x._line}`)
    expect(new Set(keys).size).toBe(keys.length)
    expect(keys).toHaveLength(50)
    // the stream that held the refused object's rows was abandoned, never committed, and no intent names it
    const firstStream = s.created(before)[0]
    const abandoned = [...google.w.streams.values()].filter((x) => x.name.startsWith(`${s.parent}/`) && !x.commitTime)
    expect(abandoned).toHaveLength(1)
    const intents = (await s.ledger()).filter((l) => l.state === 'intent')
    expect(intents.map((l) => l.stream)).not.toContain(abandoned[0].name)
    expect(intents.map((l) => l.object_uri)).not.toContain(refused.uri)
    expect(firstStream.request.parent).toBe(s.parent)
    // it was a shared stream: objects appended before the refused one were in it too, and committed elsewhere once
    const before3 = new Set(abandoned[0].rows.map((x) => String(x._source_uri)))
    expect(before3.size).toBeGreaterThanOrEqual(2)
    for (const u of before3) expect(rows.filter((x) => x._source_uri === u)).toHaveLength(5)
    // the group and its retry without the refused object: two streams, not one per object
    expect(s.created(before).length).toBeLessThanOrEqual(3)
  })

  for (const at of ['finalized', 'intent', 'committed'] as const) {
    it(`a crash of a group after "${at}", then a new run: every object of it exactly once`, async () => {
      const s = jsonlScenario(16)
      const before = google.w.calls.length
      let crashed = false
      const first = await s.run({
        onStep: (step) => {
          if (step === at && !crashed) {
            crashed = true
            throw new Crash(`simulated crash after ${step}`)
          }
        },
      })
      // the whole group died with it: several objects at once
      expect(first.objects.failed).toBeGreaterThanOrEqual(2)
      const failedUris = new Set(first.failures.map((f) => f.uri))
      const rowsOfFailed = (await s.rows()).filter((x) => failedUris.has(String(x._source_uri)))
      // a group commits all of its objects or none
      expect(rowsOfFailed).toHaveLength(at === 'committed' ? 5 * failedUris.size : 0)
      const second = await s.run()
      expect(second.objects.failed, JSON.stringify(second.failures)).toBe(0)
      await s.exactlyOnce()
      const committed = new Set((await s.ledger()).filter((l) => l.state === 'committed').map((l) => l.object_uri))
      expect(committed.size).toBe(16)
      // streams that committed: each object's rows in exactly one
      const holders = [...google.w.streams.values()].filter((x) => x.name.startsWith(`${s.parent}/`) && x.commitTime)
      for (const u of s.uris) expect(holders.filter((h) => h.rows.some((row) => row._source_uri === u))).toHaveLength(1)
      expect(s.created(before).length).toBeLessThan(16)
      const third = await s.run()
      expect(third.objects).toMatchObject({loaded: 0, replaced: 0, failed: 0, skipped: 16})
    })
  }
})

describe('Write API loader: one stream per version commits, per object, across groups', () => {
  it('X in two groups left uncommitted ({X,Y} and {X,Z}, the latter first by name): a settler of Y does not commit {X,Y}, and X, Y, Z end exactly once', async () => {
    const s = jsonlScenario(3)
    const [x, y, z] = s.uris
    const bCreated = gate()
    const aCreated = gate()
    let intents = 0
    const bothIntents = gate()
    // both workers die right after recording their intents (each waits until the other's is recorded too)
    const dieAfterIntent = async (step: WriteStep, uri: string) => {
      if (step !== 'intent' || uri !== x) return
      if (++intents === 2) bothIntents.open()
      await bothIntents.p
      throw new Crash('simulated crash after intent')
    }
    // B ({X,Z}) creates its stream first, so it sorts first; then A ({X,Y})
    const b = s.run(
      {
        onStep: async (step, uri) => {
          if (step === 'created' && uri === x) bCreated.open()
          // its intent must not be visible before A looked X up and created its stream
          if (step === 'finalized' && uri === x) await aCreated.p
          await dieAfterIntent(step, uri)
        },
      },
      {loadId: 'worker-b', sources: [x, z]},
    )
    await bCreated.p
    const a = s.run(
      {
        onStep: async (step, uri) => {
          if (step === 'created' && uri === x) aCreated.open()
          await dieAfterIntent(step, uri)
        },
      },
      {loadId: 'worker-a', sources: [x, y]},
    )
    const [ra, rb] = await Promise.all([a, b])
    expect(ra.objects.failed + rb.objects.failed).toBe(4)
    const ledger = await s.ledger()
    const sa = String(ledger.find((l) => l.load_id === 'worker-a' && l.state === 'intent')!.stream)
    const sb = String(ledger.find((l) => l.load_id === 'worker-b' && l.state === 'intent')!.stream)
    expect(sb < sa).toBe(true)
    // preconditions: each worker's objects share its stream
    expect(new Set(google.w.streams.get(sa)!.rows.map((r) => r._source_uri))).toEqual(new Set([x, y]))
    expect(new Set(google.w.streams.get(sb)!.rows.map((r) => r._source_uri))).toEqual(new Set([x, z]))
    // a worker that meets only Y: committing {X,Y} would commit X although {X,Z}, first by name, may commit it
    const onlyY = await s.run({}, {loadId: 'settler-y', sources: [y]})
    expect(onlyY.objects.failed, JSON.stringify(onlyY.failures)).toBe(0)
    expect(google.w.streams.get(sa)!.commitTime).toBeUndefined()
    // then one that meets only Z (it commits {X,Z}), then everything
    const onlyZ = await s.run({}, {loadId: 'settler-z', sources: [z]})
    expect(onlyZ.objects.failed, JSON.stringify(onlyZ.failures)).toBe(0)
    const all = await s.run({}, {loadId: 'settler-all'})
    expect(all.objects.failed, JSON.stringify(all.failures)).toBe(0)
    await s.exactlyOnce()
    const again = await s.run({}, {loadId: 'settler-all'})
    expect(again.objects).toMatchObject({loaded: 0, replaced: 0, failed: 0})
  })
})

describe('Write API loader: a stream abandoned by one worker while another commits it', () => {
  it('the committer meets the abandon after its commit: the group\'s rows go and its objects load again; every object ends once', async () => {
    const s = jsonlScenario(2)
    const [x, y] = s.uris
    const cCreated = gate()
    const aChecked = gate()
    const aGo = gate()
    // C (X alone) creates its stream first, so it sorts first; its intent waits until A ({X,Y}) passed its check
    const c = s.run(
      {
        groups: {...STREAM_GROUPS, maxObjects: 1, committedLane: false},
        onStep: async (step, uri) => {
          if (uri !== x) return
          if (step === 'created') cCreated.open()
          if (step === 'finalized') await aChecked.p
        },
      },
      {loadId: 'worker-c', sources: [x]},
    )
    await cCreated.p
    // A checked before C's intent was visible, then is slow to commit
    const a = s.run(
      {
        onStep: async (step, uri) => {
          if (step !== 'checked' || uri !== x) return
          aChecked.open()
          await aGo.p
        },
      },
      {loadId: 'worker-a', sources: [x, y]},
    )
    // C sees A's intent, sorts first and commits X
    const rc = await c
    expect(rc.objects, JSON.stringify(rc.failures)).toMatchObject({loaded: 1, failed: 0})
    // a settler of Y finds A's stream open and X committed from another stream: A's stream may not commit, so it is
    // recorded abandoned, for Y and X, and the settler loads Y from a stream of its own
    const settler = await s.run({}, {loadId: 'settler', sources: [y]})
    expect(settler.objects, JSON.stringify(settler.failures)).toMatchObject({loaded: 1, failed: 0})
    const ledger = await s.ledger()
    const sa = String(ledger.find((l) => l.load_id === 'worker-a' && l.state === 'intent')!.stream)
    expect(new Set(google.w.streams.get(sa)!.rows.map((r) => r._source_uri))).toEqual(new Set([x, y]))
    expect(ledger.filter((l) => l.stream === sa && l.state === 'abandoned').map((l) => l.object_uri).sort()).toEqual([x, y])
    // A, with its older look-up, commits the stream all the same: its rows of Y would stay beside the settler's
    aGo.open()
    const ra = await a
    expect(ra.objects.failed, JSON.stringify(ra.failures)).toBe(0)
    expect(google.w.streams.get(sa)!.commitTime).toBeDefined()
    const next = await s.run({}, {loadId: 'next'})
    expect(next.objects, JSON.stringify(next.failures)).toMatchObject({loaded: 0, failed: 0})
    await s.exactlyOnce()
  })
})

describe('Write API loader: a group whose intents are not all visible', () => {
  it('a settler does not commit it: it waits while the lease may still run, then abandons it; every object ends once', async () => {
    const s = jsonlScenario(2)
    const [x, y] = s.uris
    const first = await s.run({
      onStep: (step) => {
        if (step === 'intent') throw new Crash('simulated crash after intent')
      },
    })
    expect(first.objects.failed).toBe(2)
    const intents = (await s.ledger()).filter((l) => l.state === 'intent')
    expect(intents.map((l) => Number(l.stream_objects))).toEqual([2, 2])
    // as if the ledger append had kept only X's intent
    await google.sql.run(`DELETE FROM \`test-project.${s.dataset}._seneka_ledger\` WHERE object_uri = @u`, {u: {type: 'STRING', value: y}} as never)
    // within the owner's lease: X waits (its retries say why), nothing is committed
    const early = await s.run({}, {sources: [x], retries: 1})
    expect(early.failures.map((f) => f.error)).toEqual([expect.stringMatching(/^the intents of write stream \S+ \(.*\) are not all visible yet; trying again/)])
    expect(await s.rows()).toEqual([])
    // past it: the stream is abandoned, never committed; both objects load afresh, once
    let skew = 0
    const clock = {now: () => Date.now() + skew, setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms), clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout)}
    skew = 11 * 60_000
    const late = await s.run({clock}, {sources: [x]})
    expect(late.objects.failed, JSON.stringify(late.failures)).toBe(0)
    expect(google.w.streams.get(String(intents[0].stream))!.commitTime).toBeUndefined()
    const all = await s.run({clock})
    expect(all.objects.failed, JSON.stringify(all.failures)).toBe(0)
    await s.exactlyOnce()
  })
})

describe('Write API loader: a zombie group', () => {
  it('a group past its lease loses as a whole: none of its objects records an intent or commits; another worker loads them once', async () => {
    const s = jsonlScenario(4)
    let skew = 0
    const clock = {now: () => Date.now() + skew, setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms), clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout)}
    const paused = gate()
    const reached = gate()
    let paused1 = false
    const zombie = s.run(
      {
        clock,
        leaseMs: 60_000,
        onStep: async (step) => {
          if (step !== 'finalized' || paused1) return
          paused1 = true
          reached.open()
          await paused.p
          skew = 120_000 // it wakes up two minutes later, past its lease
        },
      },
      {loadId: 'zombie', retries: 0},
    )
    await reached.p
    const zombieStreams = [...google.w.streams.values()].filter((x) => x.name.startsWith(`${s.parent}/`))
    expect(zombieStreams).toHaveLength(1)
    // the zombie's one stream holds all four objects
    expect(new Set(zombieStreams[0].rows.map((r) => r._source_uri))).toEqual(new Set(s.uris))
    const healthy = await s.run({}, {loadId: 'healthy'})
    expect(healthy.objects, JSON.stringify(healthy.failures)).toMatchObject({loaded: 4, failed: 0})
    paused.open()
    const z = await zombie
    expect(z.objects.failed).toBe(4)
    for (const f of z.failures) expect(f.error).toMatch(/^the lease on a group of 4 objects ran out before its commit/)
    expect(zombieStreams[0].commitTime).toBeUndefined()
    expect((await s.ledger()).filter((l) => l.load_id === 'zombie')).toEqual([])
    await s.exactlyOnce()
  })
})
