import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {runBackfill} from '../../../src/lib/backfill/run.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {albFixture, PREFIX} from '../../helpers/alb-fixtures.js'
import {UsageError, UserError} from '../../../src/lib/errors.js'
import {analyzeRows, applyRows, parseKeyList, type RowDedupeSpec} from '../../../src/lib/dedupe/rows.js'
import {runDedupe} from '../../../src/lib/dedupe/run.js'
import {DuckDBWarehouse} from '../../../src/lib/warehouse/duckdb/warehouse.js'
import {tempDir} from '../../helpers/tmp.js'
import {count, makeTable, records, type TestRow} from './fixtures.js'

const SPEC: RowDedupeSpec = {
  table: 'app_logs',
  keys: ['partition', 'offset'],
  keep: 'earliest',
  ingestedAtColumn: '_ingested_at',
  timeColumn: 'event_time',
  range: {},
  samples: 10,
}

const T1 = '2024-05-01 06:00:00'
const T2 = '2024-05-02 06:00:00'

async function withWarehouse<T>(file: string, fn: (wh: DuckDBWarehouse) => Promise<T>): Promise<T> {
  const wh = await DuckDBWarehouse.open(file)
  try {
    return await fn(wh)
  } finally {
    await wh.close()
  }
}

describe('dedupe rows: report', () => {
  it('counts exact duplicates, keys, per day, per source and samples', async () => {
    const dir = tempDir()
    const base = records(0, 0, 10, 's3://b/a.jsonl', T1)
    // three rows loaded twice, byte for byte
    const file = await makeTable(dir, [...base, base[2], base[5], base[7], base[7]])
    const r = await withWarehouse(file, (wh) => analyzeRows(wh, SPEC))
    expect(r.rows).toBe(14)
    expect(r.distinctKeys).toBe(10)
    expect(r.duplicateRows).toBe(4)
    expect(r.duplicatedKeys).toBe(3)
    expect(r.maxCopies).toBe(3)
    expect(r.nullKeyRows).toBe(0)
    expect(r.perDay).toEqual([{day: '2024-05-01', rows: 14, duplicateRows: 4, duplicatedKeys: 3, nullKeyRows: 0}])
    expect(r.perSource).toEqual([{source: 's3://b/a.jsonl', rows: 14, duplicateRows: 4}])
    expect(r.sampleKeys[0]).toMatchObject({key: {partition: 0, offset: 7}, copies: 3})
    expect(r.sampleKeys.map((s) => s.key.offset)).toEqual([7, 2, 5])
  })

  it('attributes duplicates across days to the day of the event and to the replaying source', async () => {
    const dir = tempDir()
    const day1 = records(0, 0, 20, 's3://b/day1.jsonl', T1, '2024-05-01')
    const day2 = records(0, 20, 40, 's3://b/day2.jsonl', T2, '2024-05-02')
    // a replay a day later re-delivers offsets 15..25 (end of day 1, start of day 2)
    const replay = [...day1.slice(15), ...day2.slice(0, 5)].map((r, i) => ({...r, _source_uri: 's3://b/replay.jsonl', _line: i + 1, _ingested_at: '2024-05-03 00:00:00'}))
    const file = await makeTable(dir, [...day1, ...day2, ...replay])
    const r = await withWarehouse(file, (wh) => analyzeRows(wh, SPEC))
    expect(r.duplicateRows).toBe(10)
    expect(r.perDay.map((d) => [d.day, d.rows, d.duplicateRows])).toEqual([
      ['2024-05-01', 25, 5],
      ['2024-05-02', 25, 5],
    ])
    // keep earliest: the replay's rows are the ones that would go
    expect(r.perSource).toEqual([{source: 's3://b/replay.jsonl', rows: 10, duplicateRows: 10}])
    const latest = await withWarehouse(file, (wh) => analyzeRows(wh, {...SPEC, keep: 'latest'}))
    expect(latest.perSource.map((s) => [s.source, s.duplicateRows])).toEqual([
      ['s3://b/day1.jsonl', 5],
      ['s3://b/day2.jsonl', 5],
    ])
    // a range covering day 2 only sees day 2's rows
    const d2 = await withWarehouse(file, (wh) => analyzeRows(wh, {...SPEC, range: {since: new Date('2024-05-02T00:00:00Z')}}))
    expect([d2.rows, d2.duplicateRows, d2.range.column]).toEqual([25, 5, 'event_time'])
  })

  it('reports rows with a NULL key part apart and never as duplicates', async () => {
    const dir = tempDir()
    const nulls: TestRow[] = [
      ...records(null, 3, 4, 's3://b/a', T1),
      ...records(null, 3, 4, 's3://b/b', T1),
      {...records(0, 9, 10, 's3://b/c', T1)[0], offset: null},
      {...records(0, 9, 10, 's3://b/d', T1)[0], offset: null},
    ]
    const file = await makeTable(dir, [...records(0, 0, 5, 's3://b/a', T1), ...nulls])
    const r = await withWarehouse(file, (wh) => analyzeRows(wh, SPEC))
    expect(r.rows).toBe(9)
    expect(r.nullKeyRows).toBe(4)
    expect(r.nullKeyRowsByColumn).toEqual({partition: 2, offset: 2})
    expect(r.distinctKeys).toBe(5)
    expect(r.duplicateRows).toBe(0)
    expect(r.sampleKeys).toEqual([])
    const applied = await withWarehouse(file, (wh) => applyRows(wh, SPEC))
    expect(applied.rowsRemoved).toBe(0)
    expect(await count(file, 'SELECT COUNT(*) FROM app_logs')).toBe(9)
  })

  it('rejects bad identifiers, unknown columns and a range on a missing time column', async () => {
    const dir = tempDir()
    const file = await makeTable(dir, records(0, 0, 2, 's3://b/a', T1))
    await withWarehouse(file, async (wh) => {
      await expect(analyzeRows(wh, {...SPEC, keys: ['partition; DROP TABLE app_logs']})).rejects.toBeInstanceOf(UsageError)
      await expect(analyzeRows(wh, {...SPEC, keys: ['partition', 'topic']})).rejects.toThrow(/no column "topic"/)
      await expect(analyzeRows(wh, {...SPEC, table: 'nope'})).rejects.toThrow(/does not exist/)
      await expect(analyzeRows(wh, {...SPEC, timeColumn: 'ts', range: {since: new Date('2024-05-01T00:00:00Z')}})).rejects.toThrow(/column "ts", which app_logs does not have/)
    })
    expect(await count(file, 'SELECT COUNT(*) FROM app_logs')).toBe(2)
  })
})

describe('dedupe rows: apply', () => {
  it('removes a replay of a whole offset range, keeping the earliest copy, in the time range only', async () => {
    const dir = tempDir()
    const p0 = records(0, 0, 120, 's3://b/p0.jsonl', T1) // 2 hours of day 1
    const p1 = records(1, 0, 60, 's3://b/p1.jsonl', T1)
    const replay = p0.map((r) => ({...r, _source_uri: 's3://b/p0-replay.jsonl', _ingested_at: T2}))
    const day2 = records(2, 0, 10, 's3://b/day2.jsonl', T2, '2024-05-02')
    const day2copy = day2.map((r) => ({...r, _source_uri: 's3://b/day2-again.jsonl'}))
    const file = await makeTable(dir, [...p0, ...p1, ...replay, ...day2, ...day2copy])
    const res = await runDedupe({mode: 'rows', warehouse: `duckdb:${file}`, apply: true, ...SPEC, range: {until: new Date('2024-05-02T00:00:00Z')}})
    expect(res.mode).toBe('rows')
    if (res.mode !== 'rows') return
    expect(res.report.duplicateRows).toBe(120)
    expect(res.applied?.rowsRemoved).toBe(120)
    expect(res.applied?.after).toMatchObject({rows: 180, distinctKeys: 180, duplicateRows: 0})
    // the originals survive; day 2 (outside the range) keeps its duplicates
    expect(await count(file, `SELECT COUNT(*) FROM app_logs WHERE _source_uri = 's3://b/p0-replay.jsonl'`)).toBe(0)
    expect(await count(file, `SELECT COUNT(*) FROM app_logs WHERE _source_uri = 's3://b/p0.jsonl'`)).toBe(120)
    expect(await count(file, `SELECT COUNT(*) FROM app_logs WHERE partition = 2`)).toBe(20)
    // running again finds nothing to do in the range
    const again = await runDedupe({mode: 'rows', warehouse: `duckdb:${file}`, apply: true, ...SPEC, range: {until: new Date('2024-05-02T00:00:00Z')}})
    expect(again.mode === 'rows' && again.applied?.rowsRemoved).toBe(0)
  })

  it('keeps the latest copy with --keep latest and breaks ingestion-time ties by source and line', async () => {
    const dir = tempDir()
    const a = records(0, 0, 5, 's3://b/a.jsonl', T1)
    const b = records(0, 0, 5, 's3://b/b.jsonl', T2)
    const c = records(0, 0, 5, 's3://b/c.jsonl', T2) // same ingestion time as b
    const file = await makeTable(dir, [...c, ...a, ...b])
    await withWarehouse(file, (wh) => applyRows(wh, {...SPEC, keep: 'latest'}))
    expect(await count(file, 'SELECT COUNT(*) FROM app_logs')).toBe(5)
    expect(await count(file, `SELECT COUNT(*) FROM app_logs WHERE _source_uri = 's3://b/b.jsonl'`)).toBe(5)
    const file2 = await makeTable(tempDir(), [...c, ...b, ...a])
    await withWarehouse(file2, (wh) => applyRows(wh, SPEC))
    expect(await count(file2, `SELECT COUNT(*) FROM app_logs WHERE _source_uri = 's3://b/a.jsonl'`)).toBe(5)
  })

  it('rolls the whole transaction back when it fails after the delete', async () => {
    const dir = tempDir()
    const base = records(0, 0, 50, 's3://b/a.jsonl', T1)
    const file = await makeTable(dir, [...base, ...base.map((r) => ({...r, _source_uri: 's3://b/again.jsonl', _ingested_at: T2}))])
    const stages: string[] = []
    await expect(
      withWarehouse(file, (wh) =>
        applyRows(wh, SPEC, {
          onStage: async (s) => {
            stages.push(s)
            if (s === 'verifying') {
              throw new UserError('simulated failure')
            }
          },
        }),
      ),
    ).rejects.toThrow('simulated failure')
    expect(stages).toEqual(['counting', 'deleting', 'verifying'])
    expect(await count(file, 'SELECT COUNT(*) FROM app_logs')).toBe(100)
  })

  it('refuses a verification that does not hold (a row added under the same key mid-way) and rolls back', async () => {
    const dir = tempDir()
    const base = records(0, 0, 10, 's3://b/a.jsonl', T1)
    const file = await makeTable(dir, [...base, base[0]])
    await withWarehouse(file, async (wh) => {
      const tx = wh.transaction!.bind(wh)
      // a transaction that sneaks a new copy in after the delete must fail verification
      ;(wh as unknown as {transaction: typeof tx}).transaction = (fn) =>
        tx(async (t) =>
          fn({
            query: async (sql, params) => {
              const out = await t.query(sql, params)
              if (sql.startsWith('DELETE')) await t.query(`INSERT INTO app_logs SELECT * FROM app_logs WHERE "offset" = 3`)
              return out
            },
          }),
        )
      await expect(applyRows(wh, SPEC)).rejects.toThrow(/Verification .* failed .*1 duplicate rows are left.*rolled back/)
    })
    expect(await count(file, 'SELECT COUNT(*) FROM app_logs')).toBe(11)
  })
})

describe('dedupe rows: guard rails of --apply', () => {
  it('refuses an empty key part (a trailing comma) instead of dropping it', () => {
    expect(() => parseKeyList(['_source_uri', ''])).toThrow(UsageError)
    expect(() => parseKeyList(['_source_uri', ''])).toThrow(/--key "_source_uri," has an empty part/)
    expect(() => parseKeyList([' partition', 'offset '])).not.toThrow()
    expect(parseKeyList([' partition', 'offset '])).toEqual(['partition', 'offset'])
  })

  it('refuses to remove more than --max-remove of the rows in scope (a too coarse key), changing nothing', async () => {
    const dir = tempDir()
    // 20 distinct records; keyed by partition alone, 19 of the 20 rows look like copies
    const file = await makeTable(dir, records(0, 0, 20, 's3://b/a.jsonl', T1))
    const coarse = {...SPEC, keys: ['partition']}
    const err = await runDedupe({mode: 'rows', warehouse: `duckdb:${file}`, apply: true, ...coarse}).catch((e) => e)
    expect(err).toBeInstanceOf(UserError)
    expect(err.message).toBe('--apply would remove 19 of the 20 rows in scope (95%), more than --max-remove 50%; nothing was changed.')
    expect(await count(file, 'SELECT COUNT(*) FROM app_logs')).toBe(20)
    // told explicitly, it goes ahead
    const ok = await runDedupe({mode: 'rows', warehouse: `duckdb:${file}`, apply: true, ...coarse, maxRemove: {kind: 'percent', value: 100}})
    expect(ok.mode === 'rows' && ok.applied?.rowsRemoved).toBe(19)
    expect(await count(file, 'SELECT COUNT(*) FROM app_logs')).toBe(1)
  })
})

describe('dedupe rows: the ledger after --apply', () => {
  it('agrees with the table: a replayed object loses the lines removed from it, copies of one line do not count twice', async () => {
    const dir = tempDir()
    const src = path.join(dir, 'src')
    const fx = albFixture({days: 1, intervalMinutes: 720, linesPerFile: 20, dir: src})
    // a replay: the first object's lines again, under another name (another object for the ledger)
    const first = fx.files[0]
    const replayKey = first.key.replace(/\.log\.gz$/, '_replay.log.gz')
    writeFileSync(path.join(src, replayKey), first.body)
    const file = path.join(dir, 'w.duckdb')
    const wh = `duckdb:${file}`
    await runBackfill({sources: [path.join(src, PREFIX)], format: getFormat('alb'), warehouse: wh, table: 'alb_logs', range: {}, concurrency: 2, dryRun: false, retries: 0})
    // and a second copy of one line of another object, written by something else than seneka
    await withWarehouse(file, (w) => w.query(`INSERT INTO alb_logs SELECT * FROM alb_logs WHERE _source_uri LIKE '%${path.basename(fx.files[1].key)}' AND _line = 3`))
    const r = await runDedupe({mode: 'rows', warehouse: wh, apply: true, table: 'alb_logs', keys: ['trace_id'], keep: 'earliest', ingestedAtColumn: '_ingested_at', timeColumn: 'event_time', range: {}, samples: 0})
    expect(r.mode === 'rows' && r.applied?.rowsRemoved).toBe(21)
    const mismatches = await withWarehouse(file, (w) =>
      w.query(`SELECT l.object_uri, l.rows AS ledger, (SELECT COUNT(*) FROM alb_logs t WHERE t._source_uri = l.object_uri) AS in_table
        FROM _seneka_ledger l WHERE l.target_table = 'alb_logs' AND l.rows <> (SELECT COUNT(*) FROM alb_logs t WHERE t._source_uri = l.object_uri)`),
    )
    expect(mismatches).toEqual([])
    const replay = await withWarehouse(file, (w) => w.query(`SELECT rows FROM _seneka_ledger WHERE object_uri LIKE '%_replay.log.gz'`))
    expect(Number(replay[0].rows)).toBe(0)
  })
})
