import {gzipSync} from 'node:zlib'
import {afterEach, describe, expect, it, vi} from 'vitest'
import {runBackfill} from '../../../src/lib/backfill/run.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {LANE_STREAMS} from '../../../src/lib/cost/quotas.js'
import type {WriteApiLoaderSettings, WriteStep} from '../../../src/lib/warehouse/bigquery/write-api/loader.js'
import {STREAM_GROUPS} from '../../../src/lib/warehouse/bigquery/write-api/groups.js'
import {useGoogleStandIns} from '../../helpers/write-api-double.js'

/**
 * The committed lane of the Write API loader: groups whose rows fit one append request go to a few COMMITTED-type
 * streams the worker keeps (visible when the append is acknowledged), not to a PENDING stream each. Through the
 * real client against the strict gRPC double; statements run on the DuckDB stand-in.
 */

const google = useGoogleStandIns()
afterEach(() => google.g.clearFailures())

let seq = 0
const LANE = {...STREAM_GROUPS, committedLane: true}

class Crash extends Error {
  override readonly name = 'Crash'
}

function gate() {
  let open!: () => void
  const p = new Promise<void>((r) => (open = r))
  return {p, open}
}

/** n JSON-lines objects of 5 lines; those in `bad` start with a malformed line (a rejected line: their groups take a pending stream) */
function lane(n: number, bad: number[] = []) {
  const dataset = `lane_${++seq}`
  const bucket = `src-lane-${seq}`
  const uris: string[] = []
  for (let i = 0; i < n; i++) {
    const key = `logs/o${String(i).padStart(4, '0')}.jsonl.gz`
    const lines = Array.from({length: 5}, (_, k) => (bad.includes(i) && k === 0 ? `not json ${k}` : JSON.stringify({time: `2024-05-01T00:${String(i % 60).padStart(2, '0')}:0${k}Z`, msg: `o${i}-${k}`})))
    google.g.putObject(bucket, key, gzipSync(`${lines.join('\n')}\n`))
    uris.push(`gs://${bucket}/${key}`)
  }
  const table = `projects/test-project/datasets/${dataset}/tables/app`
  const run = (writeApi: Partial<WriteApiLoaderSettings> = {}, extra: Record<string, unknown> = {}) =>
    runBackfill({
      sources: [`gs://${bucket}/logs/`],
      format: getFormat('jsonl'),
      warehouse: `bigquery://test-project/${dataset}`,
      table: 'app',
      range: {},
      concurrency: 8,
      dryRun: false,
      retries: 3,
      storeOptions: {gcsEndpoint: google.g.endpoint},
      bigquery: {
        location: 'EU',
        apiEndpoint: google.g.endpoint,
        gcsEndpoint: google.g.endpoint,
        loadMethod: 'write-api',
        storageEmulatorHost: google.w.host,
        overrides: {retryBaseDelayMs: 1, pollIntervalMs: 1, writeApi: {minLookupIntervalMs: 0, groups: LANE, ...writeApi}},
      },
      ...extra,
    })
  const rows = () => google.sql.rows(dataset, 'app')
  const exactlyOnce = async () => {
    const keys = (await rows()).map((r) => `${r._source_uri}#${r._line}`)
    expect(new Set(keys).size).toBe(keys.length)
    expect(keys).toHaveLength(5 * n - bad.length)
  }
  const ledger = () => google.sql.rows(dataset, '_seneka_ledger', 'loaded_at')
  const laneStreams = () => [...google.w.streams.values()].filter((s) => s.name.startsWith(`${table}/`) && s.type === 1)
  return {dataset, uris, table, run, rows, exactlyOnce, ledger, laneStreams}
}

describe('Write API loader: the committed lane', () => {
  it('groups share a few committed-type streams: no stream and no commit per group, offsets follow on, rows once, no DML', async () => {
    const s = lane(60, [7])
    const before = google.w.calls.length
    // groups of 5 at most: 12 groups or more
    const r = await s.run({groups: {...LANE, maxObjects: 5}})
    expect(r.objects, JSON.stringify(r.failures)).toMatchObject({loaded: 60, failed: 0})
    await s.exactlyOnce()
    const calls = google.w.calls.slice(before)
    const created = calls.filter((c) => c.method === 'CreateWriteStream' && c.request.parent === s.table)
    // a few committed-type streams (LANE_STREAMS at most) for every group of good objects, one pending stream for the
    // malformed object's group
    const committedType = created.filter((c) => String(c.request.writeStream?.type) === 'COMMITTED' || Number(c.request.writeStream?.type) === 1)
    expect(committedType.length).toBeGreaterThanOrEqual(1)
    expect(committedType.length).toBeLessThanOrEqual(LANE_STREAMS)
    expect(created.length - committedType.length).toBeGreaterThanOrEqual(1)
    // every append to a lane stream is at the stream's next offset: one request per group, never a gap or a repeat
    const names = new Set(s.laneStreams().map((x) => x.name))
    const next = new Map<string, number>()
    let groups = 0
    for (const a of calls.filter((c) => c.method === 'AppendRows' && names.has(String(c.request.writeStream)))) {
      const name = String(a.request.writeStream)
      expect(a.request.offset?.value).toBe(String(next.get(name) ?? 0))
      next.set(name, (next.get(name) ?? 0) + a.request.protoRows.rows.serializedRows.length)
      groups++
    }
    expect(groups).toBeGreaterThanOrEqual(11)
    // the lane's streams are never batch-committed; no statement changes rows
    expect(calls.filter((c) => c.method === 'BatchCommitWriteStreams').flatMap((c) => c.request.writeStreams).filter((n: string) => names.has(n))).toEqual([])
    const statements = google.g.jobs('query').map((j) => String(j.configuration.query.query))
    expect(statements.filter((q) => q.includes(s.dataset) && /\b(MERGE|UPDATE|DELETE|INSERT)\b/.test(q))).toEqual([])
    const ledger = await s.ledger()
    expect(new Set(ledger.filter((l) => l.state === 'committed').map((l) => l.object_uri)).size).toBe(60)
    await vi.waitFor(() => expect(google.w.openConnections).toBe(0))
    const again = await s.run()
    expect(again.objects).toMatchObject({loaded: 0, skipped: 60, failed: 0})
  })

  it('a lost append reply: sent again at the same offset (ALREADY_EXISTS = done), rows once', async () => {
    const s = lane(6)
    google.w.loseAppendReplies(1, (name) => name.startsWith(`${s.table}/`) && !name.endsWith('_default'))
    const r = await s.run()
    expect(r.objects, JSON.stringify(r.failures)).toMatchObject({loaded: 6, failed: 0})
    await s.exactlyOnce()
  })

  for (const at of ['lookup', 'intent', 'checked', 'committed', 'replaced', 'recorded'] as WriteStep[]) {
    it(`a crash after step "${at}" of a lane group, then a new run: exactly the rows of an uninterrupted run`, async () => {
      const s = lane(4)
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
      const second = await s.run({}, {loadId: 'second'})
      expect(second.objects.failed, JSON.stringify(second.failures)).toBe(0)
      await s.exactlyOnce()
      const ledger = await s.ledger()
      expect(new Set(ledger.filter((l) => l.state === 'committed').map((l) => l.object_uri)).size).toBe(4)
      const third = await s.run({}, {loadId: 'third'})
      expect(third.objects).toMatchObject({loaded: 0, replaced: 0, failed: 0})
    })
  }

  it('three workers with the same new objects at once (each looks up only after its intent): every object once, no failure', async () => {
    const s = lane(20)
    const runs = await Promise.all(['a', 'b', 'c'].map((w) => s.run({}, {loadId: `worker-${w}`})))
    expect(runs.reduce((n, r) => n + r.objects.failed, 0), JSON.stringify(runs.map((r) => r.failures))).toBe(0)
    expect(runs.reduce((n, r) => n + r.objects.loaded, 0)).toBeGreaterThanOrEqual(20)
    await s.exactlyOnce()
    const next = await s.run({}, {loadId: 'next'})
    expect(next.objects).toMatchObject({loaded: 0, skipped: 20, failed: 0})
  })

  it('a settler fences a paused owner before its append: nothing of the owner lands, the settler loads the object once, the owner skips it', async () => {
    const s = lane(1)
    const [x] = s.uris
    const ownerChecked = gate()
    const resume = gate()
    const owner = s.run({onStep: async (step) => {
      if (step !== 'checked') return
      ownerChecked.open()
      await resume.p
    }}, {loadId: 'owner'})
    await ownerChecked.p
    const ownerStream = String((await s.ledger()).find((l) => l.load_id === 'owner' && l.state === 'intent')!.stream)
    const settler = await s.run({}, {loadId: 'settler'})
    expect(settler.objects, JSON.stringify(settler.failures)).toMatchObject({loaded: 1, failed: 0})
    // the owner's stream was fenced (finalized), and its intent recorded abandoned
    expect(google.w.streams.get(ownerStream)!.finalized).toBe(true)
    expect((await s.ledger()).some((l) => l.stream === ownerStream && l.state === 'abandoned' && l.object_uri === x)).toBe(true)
    resume.open()
    const o = await owner
    expect(o.objects, JSON.stringify(o.failures)).toMatchObject({failed: 0})
    expect(o.objects.loaded).toBe(0)
    // the owner's append was refused: its stream holds nothing; fencing it again (finalized once already) gave no row
    // count, so the table was asked for the owner's rows
    expect(google.w.streams.get(ownerStream)!.rows).toHaveLength(0)
    expect(google.g.jobs('query').map((j) => String(j.configuration.query.query)).filter((q) => q.includes(s.dataset) && q.startsWith('SELECT COUNT(*) AS n'))).not.toEqual([])
    await s.exactlyOnce()
    // the settler's rows only (its first attempt, without a look-up, met the owner's intent and was abandoned: the
    // load that followed took the next load id)
    expect(new Set((await s.rows()).map((r) => r._load_id))).toEqual(new Set(['settler#2']))
  })

  it('a settler meets an intent whose append landed (owner paused before recording it committed): fenced, found in the table, recorded committed, not loaded again', async () => {
    const s = lane(1)
    const appended = gate()
    const resume = gate()
    const owner = s.run({onStep: async (step) => {
      if (step !== 'committed') return
      appended.open()
      await resume.p
    }}, {loadId: 'owner'})
    await appended.p
    const settler = await s.run({}, {loadId: 'settler'})
    expect(settler.objects, JSON.stringify(settler.failures)).toMatchObject({loaded: 0, failed: 0})
    expect((await s.ledger()).some((l) => l.load_id === 'owner' && l.state === 'committed')).toBe(true)
    resume.open()
    const o = await owner
    expect(o.objects, JSON.stringify(o.failures)).toMatchObject({loaded: 1, failed: 0})
    await s.exactlyOnce()
    expect(new Set((await s.rows()).map((r) => r._load_id))).toEqual(new Set(['owner']))
  })
})
