import {DuckDBConnection} from '@duckdb/node-api'
import path from 'node:path'
import {Readable} from 'node:stream'
import {describe, expect, it, onTestFinished, vi} from 'vitest'
import {getFormat} from '../../../src/lib/formats/index.js'
import {ObjectParseReport} from '../../../src/lib/loader/parse-report.js'
import {newCounters} from '../../../src/lib/loader/read-object.js'
import {DuckDBWarehouse, stagedRowsLimit} from '../../../src/lib/warehouse/duckdb/warehouse.js'
import {LoadNotStartedError, type ObjectLoader, type ObjectLoadRequest} from '../../../src/lib/warehouse/types.js'
import {holdFile} from '../../helpers/duckdb-holder.js'
import {tempDir} from '../../helpers/tmp.js'

const format = getFormat('jsonl')
const lines = (n: number, tag: string): Buffer => Buffer.from(Array.from({length: n}, (_, i) => JSON.stringify({ts: 1714557600 + i, msg: `${tag}-${i}`})).join('\n') + '\n')

/** Counts the reads open at once (a read is open from open() until its stream ended). */
class Reads {
  open = 0
  max = 0
  opened = 0

  request(i: number, opts: {delayMs?: number; gate?: Promise<void>; signal?: AbortSignal; rows?: number; version?: number; table?: string} = {}): ObjectLoadRequest {
    // a later version of an object: other lines (tagged with it) and another ETag
    const v = opts.version && opts.version > 1 ? `v${opts.version}` : ''
    const body = lines(opts.rows ?? 200, `o${i}${v}`)
    const open = async (): Promise<Readable> => {
      this.opened++
      this.open++
      this.max = Math.max(this.max, this.open)
      const delay = opts.delayMs ?? 20
      const done = (): void => {
        this.open--
      }
      return Readable.from(
        (async function* () {
          try {
            await new Promise((r) => setTimeout(r, delay))
            await opts.gate
            yield body
          } finally {
            done()
          }
        })(),
      )
    }
    const object = {uri: `file:///src/o${i}.jsonl`, key: `o${i}.jsonl`, size: body.length, etag: `e${i}${v}`, lastModified: new Date('2024-05-01T00:00:00Z')}
    return {table: opts.table ?? 't', format, object, loadId: 'L', path: 'backfill', open, report: new ObjectParseReport(object.uri, format, newCounters(), {keep: 50, rule: true}), ...(opts.signal ? {signal: opts.signal} : {})}
  }
}

async function setup(opts: {concurrency: number; bulk?: boolean; idleReleaseMs?: number}): Promise<{wh: DuckDBWarehouse; loader: ObjectLoader; file: string}> {
  const file = path.join(tempDir(), 'wh.duckdb')
  const wh = await DuckDBWarehouse.open(file, {idleReleaseMs: opts.idleReleaseMs ?? 60_000})
  await wh.ensureTable('t', format)
  const loader = await wh.openLoader({concurrency: opts.concurrency, bulk: opts.bulk})
  onTestFinished(async () => {
    await loader.close()
    await wh.close()
  })
  return {wh, loader, file}
}

/**
 * The ledger statements (SELECT, INSERT, DELETE...) of each transaction committed from now on, in order: every
 * statement DuckDB is sent is seen, and each connection's statements from BEGIN to COMMIT make one transaction.
 */
function ledgerStatements(): () => string[][] {
  const run = vi.spyOn(DuckDBConnection.prototype, 'run')
  onTestFinished(() => run.mockRestore())
  return () => {
    const open = new Map<DuckDBConnection, string[]>()
    const committed: string[][] = []
    run.mock.calls.forEach(([sql], n) => {
      const conn = run.mock.contexts[n] as DuckDBConnection
      if (sql === 'BEGIN TRANSACTION') open.set(conn, [])
      else if (sql === 'COMMIT') committed.push(open.get(conn)!)
      else if (sql.includes('_seneka_ledger')) open.get(conn)?.push(sql.split(' ')[0])
      if (sql === 'COMMIT' || sql === 'ROLLBACK') open.delete(conn)
    })
    return committed
  }
}

/** A gate for Reads.request: its reads stay open until `open()`. */
function gate(): {gate: Promise<void>; open: () => void} {
  let open!: () => void
  return {gate: new Promise<void>((r) => (open = r)), open}
}

const rows = async (wh: DuckDBWarehouse, sql: string): Promise<number> => Number(Object.values((await wh.query(sql))[0])[0])

describe("DuckDB's group-commit loader", () => {
  it('reads at most --concurrency objects at once, however many loads wait; a bulk loader takes more loads in flight', async () => {
    const {wh, loader} = await setup({concurrency: 2, bulk: true})
    const reads = new Reads()
    // a bulk loader lets staged objects wait for a larger commit; a stream loader does not
    const stream = await wh.openLoader({concurrency: 2})
    expect(loader.maxInFlight).toBeGreaterThan(stream.maxInFlight!)
    await stream.close()
    const outcomes = await Promise.all(Array.from({length: 24}, (_, i) => loader.load(reads.request(i))))
    expect(outcomes.every((o) => o.status === 'loaded')).toBe(true)
    expect(reads.opened).toBe(24)
    expect(reads.max).toBeLessThanOrEqual(2)
    expect(await rows(wh, 'SELECT count(*) FROM t')).toBe(24 * 200)
    expect(await rows(wh, 'SELECT count(*) FROM _seneka_ledger')).toBe(24)
  })

  it('a load aborted while it waits for a staging slot is not started: nothing read, nothing written', async () => {
    const {wh, loader} = await setup({concurrency: 1, bulk: true})
    const reads = new Reads()
    const stop = new AbortController()
    // the first object holds the only staging slot until the others were aborted
    let release!: () => void
    const first = loader.load(reads.request(0, {gate: new Promise<void>((r) => (release = r))}))
    await vi.waitFor(() => expect(reads.opened).toBe(1))
    const waiting = loader.load(reads.request(1, {signal: stop.signal}))
    const aborted = new AbortController()
    aborted.abort()
    const never = loader.load(reads.request(2, {signal: aborted.signal}))
    never.catch(() => {})
    await new Promise((r) => setTimeout(r, 50))
    stop.abort()
    await expect(waiting).rejects.toBeInstanceOf(LoadNotStartedError)
    await expect(never).rejects.toThrow(/was not started/)
    release()
    expect(await first).toMatchObject({status: 'loaded', rows: 200})
    expect(reads.opened).toBe(1)
    expect(await rows(wh, 'SELECT count(*) FROM _seneka_ledger')).toBe(1)
    expect(await rows(wh, "SELECT count(*) FROM t WHERE _source_uri <> 'file:///src/o0.jsonl'")).toBe(0)
  })

  it('a stream loader checkpoints between commits once 250,000 rows are committed, so a stop has little left to checkpoint', async () => {
    const {wh, loader} = await setup({concurrency: 2})
    const reads = new Reads()
    // one commit each: 130,000 rows committed, then 260,000
    for (let i = 0; i < 2; i++) expect(await loader.load(reads.request(i, {rows: 130_000}))).toMatchObject({status: 'loaded', rows: 130_000})
    expect((loader as unknown as {checkpoints: number}).checkpoints).toBe(1)
    expect(await rows(wh, 'SELECT count(*) FROM t')).toBe(260_000)
  })

  it('keeps the file between the commits of a run, and releases it once the run has nothing to do', async () => {
    const {wh, loader} = await setup({concurrency: 2, bulk: true, idleReleaseMs: 50})
    const reads = new Reads()
    const opens = wh.fileLease.opens
    // the second object reads until the first is committed and the idle window has long passed: the first's
    // commit must not give the file up
    let release!: () => void
    const loads = [loader.load(reads.request(0)), loader.load(reads.request(1, {gate: new Promise<void>((r) => (release = r))}))]
    await loads[0]
    await new Promise((r) => setTimeout(r, 200))
    expect(wh.fileLease.held).toBe(true)
    release()
    await loads[1]
    expect(wh.fileLease.opens).toBe(opens)
    await new Promise((r) => setTimeout(r, 300))
    expect(wh.fileLease.held).toBe(false)
    expect(await rows(wh, 'SELECT count(*) FROM t')).toBe(400)
  })

  it('stops staging while SENEKA_DUCKDB_STAGED_ROWS staged rows wait for a commit (staging files of large objects)', async () => {
    vi.stubEnv('SENEKA_DUCKDB_STAGED_ROWS', '600')
    onTestFinished(() => {
      vi.unstubAllEnvs()
    })
    const {wh, loader, file} = await setup({concurrency: 2, bulk: true})
    const reads = new Reads()
    // another process asks for the file before the run starts: the writer lets it in after its first commit and
    // waits for it; it holds the file until told
    const holder = holdFile(file, 'until-told', {wait: true})
    onTestFinished(() => holder.stop())
    await holder.waiting
    let committed = 0
    const loads = Array.from({length: 20}, (_, i) => loader.load(reads.request(i)).then((o) => (committed++, o)))
    await holder.held
    // staging goes on until the bound stops it: nothing staging, loads waiting for a slot, the bound reached
    const backlog = (loader as unknown as {backlog(): {staging: number; waitingForSlot: number; queuedRows: number}}).backlog.bind(loader)
    await vi.waitFor(
      () => {
        const b = backlog()
        expect(b.staging === 0 && b.waitingForSlot > 0 && b.queuedRows >= 600).toBe(true)
      },
      {timeout: 60_000, interval: 5},
    )
    // 200-row objects: the first group committed before the holder got in (staged below the bound: at most 5
    // objects), the group taken for the blocked commit (likewise), below the bound at most 600 queued rows plus one
    // object per slot that started just under it; without the bound (4 x 2 + 48 in flight) all 20 would be read
    expect(reads.opened - committed).toBeLessThanOrEqual(10)
    expect(reads.opened).toBeLessThan(20)
    holder.release()
    await holder.released
    const outcomes = await Promise.all(loads)
    expect(outcomes.every((o) => o.status === 'loaded')).toBe(true)
    expect(reads.opened).toBe(20)
    expect(await rows(wh, 'SELECT count(*) FROM t')).toBe(20 * 200)
  })

  it("checks and records a group's objects with one ledger SELECT and one ledger INSERT, however many objects it has", async () => {
    const {wh, loader} = await setup({concurrency: 8, bulk: true})
    const reads = new Reads()
    const statements = ledgerStatements()
    // all of them staged at once, so they are committed together
    const all = gate()
    const loads = Array.from({length: 8}, (_, i) => loader.load(reads.request(i, {gate: all.gate})))
    await vi.waitFor(() => expect(reads.opened).toBe(8))
    all.open()
    expect((await Promise.all(loads)).every((o) => o.status === 'loaded')).toBe(true)
    // a group's ledger rows share their loaded_at: the size of each group committed
    const groups = (await wh.query('SELECT count(*) AS n FROM _seneka_ledger GROUP BY loaded_at')).map((r) => Number(r.n))
    expect(groups.reduce((a, b) => a + b)).toBe(8)
    expect(Math.max(...groups)).toBeGreaterThan(1)
    expect(statements()).toEqual(groups.map(() => ['SELECT', 'INSERT']))
  })

  it('a group of fresh, current, changed and repeated objects gives what committing them one by one would', async () => {
    const {wh, loader} = await setup({concurrency: 8, bulk: true, idleReleaseMs: 50})
    const reads = new Reads()
    const before = [reads.request(0), reads.request(1)]
    expect((await Promise.all(before.map((r) => loader.load(r)))).map((o) => o.status)).toEqual(['loaded', 'loaded'])
    // with the file let go, loads skip their pre-check: the group commit's own ledger check decides
    await vi.waitFor(() => expect(wh.fileLease.held).toBe(false))
    const statements = ledgerStatements()
    const first = gate()
    const then = gate()
    const reqs = [
      reads.request(0, {gate: first.gate}),
      reads.request(1, {gate: first.gate, version: 2}),
      reads.request(2, {gate: first.gate}),
      reads.request(3, {gate: first.gate, rows: 50}),
      // staged after the others: an object already in the group, a new version of one and the same one again
      reads.request(3, {gate: then.gate, version: 2}),
      reads.request(2, {gate: then.gate}),
    ]
    const loads = reqs.map((r) => loader.load(r))
    await vi.waitFor(() => expect(reads.opened).toBe(before.length + reqs.length))
    first.open()
    const backlog = (loader as unknown as {backlog(): {staging: number}}).backlog.bind(loader)
    await vi.waitFor(() => expect(backlog().staging).toBe(2), {interval: 5})
    then.open()
    const outcomes = await Promise.all(loads)
    expect(statements()).toHaveLength(1)
    expect(outcomes.map((o) => o.status)).toEqual(['skipped', 'replaced', 'loaded', 'loaded', 'replaced', 'skipped'])
    // the ledger: the newest version of each object, with its rows
    const newest = [before[0], reqs[1], reqs[2], reqs[4]]
    expect(await wh.query('SELECT object_uri, etag, rows FROM _seneka_ledger ORDER BY object_uri')).toEqual(newest.map((r) => ({object_uri: r.object.uri, etag: r.object.etag, rows: 200})))
    // each object's rows are its newest version's, once: a replaced version's rows are gone
    expect(await wh.query("SELECT _source_uri AS uri, count(*) AS n, count(*) FILTER (WHERE record LIKE '%v2-%') AS v2 FROM t GROUP BY ALL ORDER BY ALL")).toEqual(
      newest.map((r) => ({uri: r.object.uri, n: 200, v2: r.object.etag.endsWith('v2') ? 200 : 0})),
    )
    expect(await rows(wh, 'SELECT count(*) FROM _seneka_ledger WHERE load_id IS NULL')).toBe(0)
  })

  it("a group's ledger check tells tables apart: an object loaded into one table is still fresh for another", async () => {
    const {wh, loader} = await setup({concurrency: 4, bulk: true, idleReleaseMs: 50})
    await wh.ensureTable('u', format)
    const reads = new Reads()
    expect(await loader.load(reads.request(0))).toMatchObject({status: 'loaded'})
    await vi.waitFor(() => expect(wh.fileLease.held).toBe(false))
    const statements = ledgerStatements()
    const all = gate()
    const reqs = [reads.request(0, {gate: all.gate}), reads.request(0, {gate: all.gate, table: 'u'}), reads.request(1, {gate: all.gate, table: 'u'})]
    const loads = reqs.map((r) => loader.load(r))
    await vi.waitFor(() => expect(reads.opened).toBe(1 + reqs.length))
    all.open()
    expect((await Promise.all(loads)).map((o) => o.status)).toEqual(['skipped', 'loaded', 'loaded'])
    expect(statements()).toEqual([['SELECT', 'INSERT']])
    // reqs are in the query's order: by table, then URI
    expect(await wh.query('SELECT target_table, object_uri FROM _seneka_ledger ORDER BY ALL')).toEqual(reqs.map((r) => ({target_table: r.table, object_uri: r.object.uri})))
    expect(await rows(wh, 'SELECT count(*) FROM u')).toBe(2 * 200)
  })

  it('refuses a SENEKA_DUCKDB_STAGED_ROWS that is not a row count, in one sentence', () => {
    expect(stagedRowsLimit({})).toBe(2_000_000)
    expect(stagedRowsLimit({SENEKA_DUCKDB_STAGED_ROWS: '500000'})).toBe(500_000)
    for (const bad of ['0', '-5', '1e6', 'lots']) expect(() => stagedRowsLimit({SENEKA_DUCKDB_STAGED_ROWS: bad})).toThrow(/^SENEKA_DUCKDB_STAGED_ROWS must be a positive whole number of rows, not "[^"]+"\.$/)
  })
})
