import {describe, expect, it} from 'vitest'
import {UsageError, UserError} from '../../../src/lib/errors.js'
import {ExitCode} from '../../../src/lib/exit-codes.js'
import {reconcile, type ReconcileOptions} from '../../../src/lib/reconcile/run.js'
import type {BucketReport, ObjectReport} from '../../../src/lib/reconcile/types.js'
import {tempDir} from '../../helpers/tmp.js'
import {buildWarehouse, hourly} from './fixtures.js'

const since = new Date('2024-05-01T00:00:00Z')
const until = new Date('2024-05-01T03:00:00Z')

function opts(warehouse: string, extra: Partial<ReconcileOptions> = {}): ReconcileOptions {
  return {warehouse, batchTable: 'batch_logs', streamTable: 'stream_logs', since, until, by: 'hour', ...extra}
}

const bucket = (h: number, batch: number, stream: number, status: string, withinTolerance: boolean) => ({
  bucket: `2024-05-01T0${h}:00:00.000Z`,
  group: null,
  batch,
  stream,
  difference: stream - batch,
  ratio: batch === 0 ? null : stream / batch,
  status,
  withinTolerance,
})

describe('reconcile by time bucket', () => {
  it('passes on identical tables', async () => {
    const wh = await buildWarehouse(tempDir(), {batch: hourly(), stream: hourly()})
    const r = (await reconcile(opts(wh))) as BucketReport
    expect(r.rows).toEqual([bucket(0, 100, 100, 'ok', true), bucket(1, 100, 100, 'ok', true), bucket(2, 100, 100, 'ok', true)])
    expect(r.totals).toEqual({batch: 300, stream: 300, difference: 0, ratio: 1})
    expect(r.summary).toEqual({compared: 3, identical: 3, withinTolerance: 0, mismatched: 0, byStatus: {}})
    expect(r.passed).toBe(true)
    expect(r.watermark).toBeNull()
    // one GROUP BY query per side, with the range predicate on the time column
    expect(r.queries.map((q) => q.side)).toEqual(['batch', 'stream'])
    expect(r.queries[0].sql).toMatch(/WHERE "event_time" >= CAST\(\$since AS TIMESTAMP\) AND "event_time" < CAST\(\$until AS TIMESTAMP\)/)
    expect(r.queries[0].sql).toMatch(/GROUP BY 1/)
    expect(r.queries[0].params).toEqual({since: '2024-05-01T00:00:00.000Z', until: '2024-05-01T03:00:00.000Z'})
  })

  it('finds a missing hour, a duplicated object and a partial object', async () => {
    const [h0, h1, h2] = hourly()
    const wh = await buildWarehouse(tempDir(), {
      batch: [h0, h1, h2],
      // h00 missing, h01 loaded twice, h02 only its first 60 lines
      stream: [h1, h1, {...h2, count: 60}],
    })
    const r = (await reconcile(opts(wh))) as BucketReport
    expect(r.rows).toEqual([
      bucket(0, 100, 0, 'missing_in_stream', false),
      bucket(1, 100, 200, 'differ', false),
      bucket(2, 100, 60, 'differ', false),
    ])
    expect(r.totals).toEqual({batch: 300, stream: 260, difference: -40, ratio: 0.866667})
    expect(r.summary).toEqual({compared: 3, identical: 0, withinTolerance: 0, mismatched: 3, byStatus: {missing_in_stream: 1, differ: 2}})
    expect(r.passed).toBe(false)
  })

  it('reports an hour only the stream has', async () => {
    const [h0, h1] = hourly()
    const wh = await buildWarehouse(tempDir(), {batch: [h0], stream: [h0, h1]})
    const r = (await reconcile(opts(wh))) as BucketReport
    expect(r.rows).toEqual([bucket(0, 100, 100, 'ok', true), bucket(1, 0, 100, 'missing_in_batch', false)])
  })

  it('applies --tolerance in rows and in percent of the larger side', async () => {
    const [h0, h1] = hourly()
    const wh = await buildWarehouse(tempDir(), {batch: [h0, h1], stream: [{...h0, count: 99}, {...h1, count: 60}]})
    const rows = (await reconcile(opts(wh, {tolerance: {kind: 'rows', value: 1}}))) as BucketReport
    expect(rows.rows.map((x) => [x.status, x.withinTolerance])).toEqual([['differ', true], ['differ', false]])
    expect(rows.summary).toMatchObject({identical: 0, withinTolerance: 1, mismatched: 1})
    const pct = (await reconcile(opts(wh, {tolerance: {kind: 'percent', value: 40}}))) as BucketReport
    expect(pct.rows.map((x) => x.withinTolerance)).toEqual([true, true])
    expect(pct.passed).toBe(true)
    const tight = (await reconcile(opts(wh, {tolerance: {kind: 'percent', value: 0.5}}))) as BucketReport
    expect(tight.rows.map((x) => x.withinTolerance)).toEqual([false, false])
  })

  it('buckets by minute and day', async () => {
    const wh = await buildWarehouse(tempDir(), {
      batch: [{uri: 'a', start: '2024-05-01 00:00:00', count: 4, stepSeconds: 30}],
      stream: [{uri: 'a', start: '2024-05-01 00:00:00', count: 3, stepSeconds: 30}],
    })
    const m = (await reconcile(opts(wh, {by: 'minute'}))) as BucketReport
    expect(m.rows.map((x) => [x.bucket, x.batch, x.stream, x.status])).toEqual([
      ['2024-05-01T00:00:00.000Z', 2, 2, 'ok'],
      ['2024-05-01T00:01:00.000Z', 2, 1, 'differ'],
    ])
    const d = (await reconcile(opts(wh, {by: 'day', until: new Date('2024-05-02T00:00:00Z')}))) as BucketReport
    expect(d.rows.map((x) => [x.bucket, x.batch, x.stream])).toEqual([['2024-05-01T00:00:00.000Z', 4, 3]])
  })

  it('splits buckets by --group-by', async () => {
    const wh = await buildWarehouse(tempDir(), {
      batch: [
        {uri: 'a', start: '2024-05-01 00:00:00', count: 10, service: 'api'},
        {uri: 'b', start: '2024-05-01 00:10:00', count: 5, service: 'web'},
      ],
      stream: [{uri: 'a', start: '2024-05-01 00:00:00', count: 10, service: 'api'}],
    })
    const r = (await reconcile(opts(wh, {groupBy: 'service'}))) as BucketReport
    expect(r.groupBy).toBe('service')
    expect(r.rows.map((x) => [x.bucket, x.group, x.batch, x.stream, x.status])).toEqual([
      ['2024-05-01T00:00:00.000Z', 'api', 10, 10, 'ok'],
      ['2024-05-01T00:00:00.000Z', 'web', 5, 0, 'missing_in_stream'],
    ])
  })

  it('leaves late rows inside the settle window out, and still catches late rows outside it', async () => {
    const [h0, h1, h2] = hourly()
    const now = new Date('2024-05-01T03:10:00Z')
    // the stream still lacks the last 20 rows of hour 02 (late data, still arriving)
    const late = await buildWarehouse(tempDir(), {batch: [h0, h1, h2], stream: [h0, h1, {...h2, count: 80}]})
    const unsettled = (await reconcile(opts(late, {until: undefined, now}))) as BucketReport
    expect(unsettled.passed).toBe(false)
    expect(unsettled.rows.at(-1)).toEqual(bucket(2, 100, 80, 'differ', false))
    const settled = (await reconcile(opts(late, {until: undefined, now, settleMs: 15 * 60_000}))) as BucketReport
    // now - 15m = 02:55, rounded down to its hour: hour 02 is not settled yet and is left out
    expect(settled.watermark).toEqual({settleMs: 900_000, now: '2024-05-01T03:10:00.000Z', at: '2024-05-01T02:00:00.000Z'})
    expect(settled.until).toBe('2024-05-01T03:10:00.000Z')
    expect(settled.effectiveUntil).toBe('2024-05-01T02:00:00.000Z')
    expect(settled.rows).toEqual([bucket(0, 100, 100, 'ok', true), bucket(1, 100, 100, 'ok', true)])
    expect(settled.passed).toBe(true)
    // by minute the watermark is 02:55: the missing rows (02:40 onwards) are before it and count
    const byMinute = (await reconcile(opts(late, {until: undefined, now, settleMs: 15 * 60_000, by: 'minute'}))) as BucketReport
    expect(byMinute.effectiveUntil).toBe('2024-05-01T02:55:00.000Z')
    expect(byMinute.summary.mismatched).toBe(10)

    // rows missing from an old hour are outside the settle window: still a mismatch
    const old = await buildWarehouse(tempDir(), {batch: [h0, h1, h2], stream: [{...h0, count: 80}, h1, h2]})
    const r = (await reconcile(opts(old, {until: undefined, now, settleMs: 15 * 60_000}))) as BucketReport
    expect(r.rows).toEqual([bucket(0, 100, 80, 'differ', false), bucket(1, 100, 100, 'ok', true)])
    expect(r.passed).toBe(false)
  })

  it('refuses a settle window that leaves nothing to compare', async () => {
    const wh = await buildWarehouse(tempDir(), {batch: hourly(), stream: hourly()})
    await expect(reconcile(opts(wh, {until: undefined, now: new Date('2024-05-01T00:20:00Z'), settleMs: 30 * 60_000}))).rejects.toThrow(/Nothing is left to compare/)
  })

  it('explains a bucket: rows per side per object', async () => {
    const wh = await buildWarehouse(tempDir(), {
      batch: [
        {uri: 's3://l/a.log', start: '2024-05-01 01:00:00', count: 10},
        {uri: 's3://l/b.log', start: '2024-05-01 01:30:00', count: 10},
        {uri: 's3://l/c.log', start: '2024-05-01 01:40:00', count: 5},
      ],
      stream: [
        {uri: 's3://l/a.log', start: '2024-05-01 01:00:00', count: 10},
        {uri: 's3://l/b.log', start: '2024-05-01 01:30:00', count: 4},
        {uri: 's3://l/d.log', start: '2024-05-01 01:50:00', count: 3},
      ],
    })
    const r = (await reconcile(opts(wh, {explain: new Date('2024-05-01T01:17:00Z')}))) as BucketReport
    expect(r.explain).toEqual({
      bucket: '2024-05-01T01:00:00.000Z',
      bucketEnd: '2024-05-01T02:00:00.000Z',
      objects: [
        {object: 's3://l/b.log', group: null, batch: 10, stream: 4, difference: -6, status: 'differ'},
        {object: 's3://l/c.log', group: null, batch: 5, stream: 0, difference: -5, status: 'missing_in_stream'},
        {object: 's3://l/d.log', group: null, batch: 0, stream: 3, difference: 3, status: 'missing_in_batch'},
        {object: 's3://l/a.log', group: null, batch: 10, stream: 10, difference: 0, status: 'ok'},
      ],
    })
    expect(r.queries.map((q) => q.side)).toEqual(['batch', 'stream', 'explain-batch', 'explain-stream'])
    await expect(reconcile(opts(wh, {explain: new Date('2024-05-02T01:00:00Z')}))).rejects.toThrow(/outside the range/)
  })
})

describe('reconcile errors', () => {
  it('names an unknown table, an unknown column, a non-timestamp time column, an empty range', async () => {
    const wh = await buildWarehouse(tempDir(), {batch: hourly(), stream: hourly()})
    const err = await reconcile(opts(wh, {streamTable: 'nope'})).catch((e) => e)
    expect(err).toBeInstanceOf(UserError)
    expect(err.message).toMatch(/^The stream table nope does not exist in duckdb:/)
    expect(err.exitCode).toBe(ExitCode.USAGE)
    // both missing: both named, not the first one found
    const both = await reconcile(opts(wh, {batchTable: 'nope_batch', streamTable: 'nope_stream'})).catch((e) => e)
    expect(both.message).toMatch(/^Neither the batch table nope_batch nor the stream table nope_stream exists in duckdb:/)
    expect(both.exitCode).toBe(ExitCode.USAGE)
    const col = await reconcile(opts(wh, {groupBy: 'region'})).catch((e) => e)
    expect(col).toBeInstanceOf(UsageError)
    expect(col.message).toBe('The batch table batch_logs has no column region (--group-by).')
    expect(col.suggestion).toMatch(/Its columns are: event_time, service, status, _source_uri/)
    await expect(reconcile(opts(wh, {timeColumn: 'service'}))).rejects.toThrow('The column service of batch_logs is string, not a timestamp.')
    await expect(reconcile(opts(wh, {until: since}))).rejects.toThrow(/The time range is empty/)
    await expect(reconcile(opts(wh, {groupBy: 'x; drop table t'}))).rejects.toThrow(/is not a valid column name/)
    await expect(reconcile(opts(wh, {verifySource: true}))).rejects.toThrow('--verify-source needs --by object.')
  })
})

describe('reconcile by object', () => {
  it('passes on identical tables', async () => {
    const wh = await buildWarehouse(tempDir(), {batch: hourly(), stream: hourly()})
    const r = (await reconcile(opts(wh, {by: 'object'}))) as ObjectReport
    expect(r.rows.map((x) => [x.object, x.status, x.detail])).toEqual([
      ['s3://logs/app/h00.log', 'ok', 'same rows on both sides'],
      ['s3://logs/app/h01.log', 'ok', 'same rows on both sides'],
      ['s3://logs/app/h02.log', 'ok', 'same rows on both sides'],
    ])
    expect(r.totals).toEqual({batch: 300, stream: 300, difference: 0, ratio: 1})
    expect(r.passed).toBe(true)
    expect(r.lineColumn).toBe('_line')
  })

  it('classifies missing, duplicated and partial objects', async () => {
    const [h0, h1, h2] = hourly()
    const extra = {uri: 's3://logs/app/x.log', start: '2024-05-01 02:30:00', count: 7}
    const wh = await buildWarehouse(tempDir(), {batch: [h0, h1, h2], stream: [h1, h1, {...h2, count: 60}, extra]})
    const r = (await reconcile(opts(wh, {by: 'object'}))) as ObjectReport
    expect(r.rows).toEqual([
      {
        object: 's3://logs/app/h00.log',
        batch: {rows: 100, duplicateRows: 0, ledgerRows: null, ledgerRejected: null},
        stream: null,
        difference: -100,
        sourceLines: null,
        sourceError: null,
        status: 'missing_in_stream',
        side: 'stream',
        detail: '100 rows in batch, none in stream',
        withinTolerance: false,
      },
      {
        object: 's3://logs/app/h01.log',
        batch: {rows: 100, duplicateRows: 0, ledgerRows: null, ledgerRejected: null},
        stream: {rows: 200, duplicateRows: 100, ledgerRows: null, ledgerRejected: null},
        difference: 100,
        sourceLines: null,
        sourceError: null,
        status: 'loaded_twice',
        side: 'stream',
        detail: '100 rows repeat a line already loaded',
        withinTolerance: false,
      },
      {
        object: 's3://logs/app/h02.log',
        batch: {rows: 100, duplicateRows: 0, ledgerRows: null, ledgerRejected: null},
        stream: {rows: 60, duplicateRows: 0, ledgerRows: null, ledgerRejected: null},
        difference: -40,
        sourceLines: null,
        sourceError: null,
        status: 'partial',
        side: 'stream',
        detail: '60 rows in stream, 100 on the other side',
        withinTolerance: false,
      },
      {
        object: 's3://logs/app/x.log',
        batch: null,
        stream: {rows: 7, duplicateRows: 0, ledgerRows: null, ledgerRejected: null},
        difference: 7,
        sourceLines: null,
        sourceError: null,
        status: 'missing_in_batch',
        side: 'batch',
        detail: '7 rows in stream, none in batch',
        withinTolerance: false,
      },
    ])
    expect(r.summary).toEqual({compared: 4, identical: 0, withinTolerance: 0, mismatched: 4, byStatus: {missing_in_stream: 1, loaded_twice: 1, partial: 1, missing_in_batch: 1}})
  })

  it('compares with the load ledger: more rows than recorded is loaded twice, fewer is partial', async () => {
    const [h0, h1] = hourly()
    // both sides agree with each other, but not with what their ledgers recorded
    const wh = await buildWarehouse(tempDir(), {
      batch: [h0, {...h1, count: 50}, {...h1, count: 50, firstLine: 51}, {...h1, count: 10, firstLine: 1, start: '2024-05-01 01:55:00'}],
      stream: [h0, {...h1, count: 110}],
      ledger: {
        batch_logs: {[h0.uri]: {rows: 100}, [h1.uri]: {rows: 100}},
        stream_logs: {[h0.uri]: {rows: 120}, [h1.uri]: {rows: 110}},
      },
    })
    const r = (await reconcile(opts(wh, {by: 'object'}))) as ObjectReport
    expect(r.rows.map((x) => [x.object, x.status, x.side, x.detail])).toEqual([
      [h0.uri, 'partial', 'stream', '100 rows, the ledger recorded 120'],
      [h1.uri, 'loaded_twice', 'batch', '10 rows repeat a line already loaded'],
    ])
    // without duplicate lines in the table, the ledger count alone shows the second load
    const noLines = await buildWarehouse(tempDir(), {
      batch: [h0],
      stream: [h0],
      ledger: {batch_logs: {[h0.uri]: {rows: 60}}},
    })
    const r2 = (await reconcile(opts(noLines, {by: 'object'}))) as ObjectReport
    expect(r2.rows.map((x) => [x.status, x.side, x.detail])).toEqual([['loaded_twice', 'batch', '100 rows, the ledger recorded 60']])
  })

  it('counts objects that straddle the range edges whole', async () => {
    // 100 rows from 02:50 to 03:39:30: 20 inside [00:00, 03:00), 80 after
    const edge = {uri: 's3://logs/app/edge.log', start: '2024-05-01 02:50:00', count: 100, stepSeconds: 30}
    const wh = await buildWarehouse(tempDir(), {batch: [edge], stream: [edge], ledger: {batch_logs: {[edge.uri]: {rows: 100}}}})
    const r = (await reconcile(opts(wh, {by: 'object'}))) as ObjectReport
    expect(r.rows.map((x) => [x.status, x.batch?.rows, x.stream?.rows])).toEqual([['ok', 100, 100]])
    const narrow = (await reconcile(opts(wh, {by: 'object', objectMarginMs: 0}))) as ObjectReport
    expect(narrow.rows.map((x) => [x.status, x.detail])).toEqual([['partial', '20 rows, the ledger recorded 100']])
  })
})

describe('reconcile over a range with no rows', () => {
  it('does not pass an empty comparison, by bucket or by object', async () => {
    const wh = await buildWarehouse(tempDir(), {batch: hourly(), stream: hourly()})
    // a typo in --since: a year with no rows on either side
    const empty = {since: new Date('2023-05-01T00:00:00Z'), until: new Date('2023-05-02T00:00:00Z')}
    const r = await reconcile(opts(wh, empty))
    expect(r.summary.compared).toBe(0)
    expect(r.noData).toBe(true)
    expect(r.passed).toBe(false)
    const o = await reconcile(opts(wh, {...empty, by: 'object'}))
    expect(o.noData).toBe(true)
    expect(o.passed).toBe(false)
    // rows on both sides still pass
    const full = await reconcile(opts(wh))
    expect([full.noData, full.passed]).toEqual([false, true])
  })

  it('the cutover reconcile gate does not pass on an empty comparison', async () => {
    const {defaultGateRunners} = await import('../../../src/lib/cutover/gate-runners.js')
    const wh = await buildWarehouse(tempDir(), {batch: hourly(), stream: hourly()})
    const bucket = {name: 'logs', table: 'stream_logs', batchTable: 'batch_logs', p99Ms: 300_000} as unknown as Parameters<ReturnType<typeof defaultGateRunners>['reconcile']>[0]['bucket']
    const gate = defaultGateRunners().reconcile
    const empty = await gate({bucket, warehouse: wh, window: {since: new Date('2023-05-01T00:00:00Z'), until: new Date('2023-05-02T00:00:00Z')}})
    expect(empty.passed).toBe(false)
    expect(empty.summary).toMatch(/^NO DATA: no rows in batch_logs or stream_logs over the shadow window: nothing was compared/)
    const ok = await gate({bucket, warehouse: wh, window: {since, until}})
    expect(ok.passed).toBe(true)
  })
})
