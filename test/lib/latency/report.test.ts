import {describe, expect, it} from 'vitest'
import {latencyReport, renderReport} from '../../../src/lib/latency/index.js'
import {arrivalRows, createTable, openTemp, T0} from './fixtures.js'

const oneToHundred = Array.from({length: 100}, (_, i) => i + 1)

describe('latencyReport', () => {
  it('computes exact percentiles, count, mean and linear bins in the warehouse', async () => {
    const {wh} = await openTemp()
    await createTable(wh, 'logs', arrivalRows(oneToHundred))
    const r = await latencyReport(wh, {table: 'logs', bins: 10})
    expect(r.quantiles).toMatchObject({exact: true, computed: 'warehouse'})
    expect(r.definition).toBe('_ingested_at - _object_modified_at')
    expect(r.count).toBe(100)
    expect(r.mean).toBeCloseTo(50.5, 9)
    expect(r.min).toBe(1)
    expect(r.max).toBe(100)
    // quantile_cont interpolates linearly between order statistics: 1 + q * 99
    expect(r.p50).toBeCloseTo(50.5, 9)
    expect(r.p90).toBeCloseTo(90.1, 9)
    expect(r.p95).toBeCloseTo(95.05, 9)
    expect(r.p99).toBeCloseTo(99.01, 9)
    expect(r.p99_9).toBeCloseTo(99.901, 9)
    expect(r.negative).toEqual({count: 0, min: null})
    // bins of 10 s from 0 to 100: [0,10) holds 1..9, the last bin includes 100
    expect(r.bins.map((b) => b.count)).toEqual([9, 10, 10, 10, 10, 10, 10, 10, 10, 11])
    expect(r.bins[0]).toMatchObject({lo: 0, hi: 10})
    expect(r.bins.at(-1)).toMatchObject({lo: 90, hi: 100})
    expect(r.bins.reduce((s, b) => s + b.count, 0)).toBe(100)
  })

  it('measures event latency (ingested - event time) and uses logarithmic bins', async () => {
    const {wh} = await openTemp()
    const lat = [1, 2, 5, 20, 50, 200, 500, 1000]
    // modified 1 s after the event, ingested `l` s after the event
    await createTable(wh, 'logs', lat.map((l, i) => ({ev: i * 3600, mod: i * 3600 + 1, ing: i * 3600 + l})))
    const r = await latencyReport(wh, {table: 'logs', measure: 'event', bins: 3, binScale: 'log'})
    expect(r.definition).toBe('_ingested_at - event_time')
    expect(r.max).toBe(1000)
    expect(r.p50).toBeCloseTo(35, 9) // between 20 and 50
    expect(r.bins.map((b) => [Math.round(b.lo), Math.round(b.hi), b.count])).toEqual([
      [1, 10, 3],
      [10, 100, 2],
      [100, 1000, 3],
    ])
  })

  it('reports negative latencies (skewed clocks) without clamping them', async () => {
    const {wh} = await openTemp()
    await createTable(wh, 'logs', arrivalRows([-5, -2, 0, 3, 10, 10]))
    const r = await latencyReport(wh, {table: 'logs', bins: 3})
    expect(r.negative).toEqual({count: 2, min: -5})
    expect(r.min).toBe(-5)
    expect(r.count).toBe(6)
    expect(r.p50).toBeCloseTo(1.5, 9)
    // linear bins start at the most negative latency: [-5,0) [0,5) [5,10]
    expect(r.bins.map((b) => [b.lo, b.hi, b.count])).toEqual([
      [-5, 0, 2],
      [0, 5, 2],
      [5, 10, 2],
    ])
    const log = await latencyReport(wh, {table: 'logs', bins: 2, binScale: 'log'})
    // a first bin holds every latency <= 0; positive ones follow geometrically from 3 s to 10 s
    expect(log.bins.map((b) => b.count)).toEqual([3, 1, 2])
    expect(log.bins[0]).toMatchObject({lo: -5, hi: 0})
  })

  it('returns an empty report for an empty range, without failing', async () => {
    const {wh} = await openTemp()
    await createTable(wh, 'logs', arrivalRows(oneToHundred))
    const since = new Date((T0 + 86_400 * 10) * 1000)
    const r = await latencyReport(wh, {table: 'logs', since, until: new Date(since.getTime() + 3_600_000), groupBy: 'path'})
    expect(r).toMatchObject({count: 0, p50: null, p99_9: null, max: null, bins: [], groups: []})
    expect(r.lateData).toMatchObject({rows: 0, late: 0, windows: []})
  })

  it('filters rows by event time: --since inclusive, --until exclusive', async () => {
    const {wh} = await openTemp()
    await createTable(wh, 'logs', arrivalRows(oneToHundred)) // row i has event time i minutes after T0
    const r = await latencyReport(wh, {table: 'logs', since: new Date((T0 + 10 * 60) * 1000), until: new Date((T0 + 20 * 60) * 1000)})
    expect(r.count).toBe(10)
    expect([r.min, r.max]).toEqual([11, 20])
  })

  it('groups by path, bucket and hour, and compares two tables on the same bins', async () => {
    const {wh} = await openTemp()
    await createTable(wh, 'batch', [
      ...arrivalRows([100, 200, 300], {path: 'backfill', src: 's3://bucket-a/x/1.log'}),
      ...arrivalRows([10, 20], {path: 'stream', src: 's3://bucket-b/y/2.log'}),
    ])
    await createTable(wh, 'stream', arrivalRows([1, 2, 3, 4]))
    const r = await latencyReport(wh, {table: 'batch', compareTable: 'stream', groupBy: 'path', bins: 3})
    expect(r.groups!.map((g) => [g.key, g.count, g.p50])).toEqual([
      ['backfill', 3, 200],
      ['stream', 2, 15],
    ])
    expect(r.compare).toMatchObject({table: 'stream', count: 4, max: 4})
    // shared edges from 0 to 300 s
    expect(r.bins.map((b) => [b.lo, b.hi, b.count])).toEqual([
      [0, 100, 2],
      [100, 200, 1],
      [200, 300, 2],
    ])
    expect(r.compare!.bins.map((b) => [b.lo, b.count])).toEqual([
      [0, 4],
      [100, 0],
      [200, 0],
    ])
    expect(r.groups![0].bins.map((b) => b.count)).toEqual([0, 1, 2])

    const byBucket = await latencyReport(wh, {table: 'batch', groupBy: 'bucket'})
    expect(byBucket.groups!.map((g) => [g.key, g.count])).toEqual([
      ['bucket-a', 3],
      ['bucket-b', 2],
    ])
    const byHour = await latencyReport(wh, {table: 'stream', groupBy: 'hour'})
    expect(byHour.groups!.map((g) => [g.key, g.count])).toEqual([['2024-05-01T00:00:00.000Z', 4]])
    const limited = await latencyReport(wh, {table: 'batch', groupBy: 'path', maxGroups: 1})
    expect([limited.groups!.length, limited.groupsOmitted]).toEqual([1, 1])
  })

  it('counts rows behind the watermark of their ingestion window (max and median)', async () => {
    const {wh} = await openTemp()
    // all ingested in the 01:00 hour; event times 00:55, 00:58, 01:00, 01:05 and one straggler at 00:10
    const ing = 3600 + 1800
    const evs = [55 * 60, 58 * 60, 60 * 60, 65 * 60, 10 * 60]
    await createTable(wh, 'logs', evs.map((ev) => ({ev, mod: ev, ing, path: 'stream'})))
    const max = await latencyReport(wh, {table: 'logs', lateThresholdSeconds: 600})
    // watermark = 01:05 - 10m = 00:55: only the 00:10 row is behind it (00:55 is not strictly behind)
    expect(max.lateData).toMatchObject({mode: 'max', rows: 5, late: 1, share: 0.2})
    expect(max.lateData!.windows).toEqual([{window: '2024-05-01T01:00:00.000Z', watermark: '2024-05-01T00:55:00.000Z', rows: 5, late: 1, share: 0.2}])
    const median = await latencyReport(wh, {table: 'logs', lateThresholdSeconds: 60, watermark: 'median'})
    // median event time 00:58 - 1m = 00:57: 00:55 and 00:10 are late
    expect(median.lateData).toMatchObject({mode: 'median', late: 2})
    expect(median.lateData!.windows[0].watermark).toBe('2024-05-01T00:57:00.000Z')
  })

  it('leaves backfilled rows out of late data (history is behind the watermark by design) and says so', async () => {
    const {wh} = await openTemp()
    const ing = 3600 + 1800
    // the stream's rows of the 01:00 hour, and a backfill of the previous day loaded in the same hour
    const stream = [55 * 60, 58 * 60, 60 * 60, 65 * 60, 10 * 60].map((ev) => ({ev, mod: ev, ing, path: 'stream'}))
    const backfill = Array.from({length: 20}, (_, i) => ({ev: -86_400 + i * 60, mod: -86_400 + i * 60, ing, path: 'backfill'}))
    await createTable(wh, 'logs', [...stream, ...backfill])
    const r = await latencyReport(wh, {table: 'logs', lateThresholdSeconds: 600})
    // the watermark is the stream's (01:05 - 10m): the backfill neither moves it nor counts as late
    expect(r.lateData).toMatchObject({rows: 5, late: 1, backfilled: 20})
    expect(renderReport(r)).toMatch(/logs: 1 of 5 rows \(20\.00%\) behind the watermark, in 1 of 1 window; 20 backfilled rows left out/)
    await createTable(wh, 'batch', backfill)
    const b = await latencyReport(wh, {table: 'batch'})
    expect(b.lateData).toMatchObject({rows: 0, late: 0, backfilled: 20})
    const text = renderReport(b)
    expect(text).toContain('batch: not counted: all 20 rows in range were backfilled (history replayed later is behind the watermark by design, not late)')
    expect(text).not.toMatch(/behind the watermark, in/)
  })

  it('measures transfer latency where both times are known and says clearly when the column is missing', async () => {
    const {wh} = await openTemp()
    await createTable(wh, 'plain', arrivalRows([1, 2]))
    await expect(latencyReport(wh, {table: 'plain', measure: 'transfer'})).rejects.toThrow(
      'The table plain has no column _gcs_created_at, needed by --measure transfer.',
    )
    await expect(latencyReport(wh, {table: 'nope'})).rejects.toThrow(/The table nope does not exist/)
    await expect(latencyReport(wh, {table: 'plain', measure: 'event', eventTimeColumn: 'status'})).rejects.toThrow(/is not a TIMESTAMP/)
    await expect(latencyReport(wh, {table: 'plain', groupBy: 'nope'})).rejects.toThrow(/no column nope to group by/)
    await createTable(
      wh,
      'moved',
      [
        {ev: 0, mod: 10, ing: 100, gcs: 14},
        {ev: 0, mod: 10, ing: 100, gcs: 40},
        {ev: 0, mod: null, ing: 100, gcs: 40},
        {ev: 0, mod: 10, ing: 100, gcs: null},
      ],
      {gcs: true},
    )
    const r = await latencyReport(wh, {table: 'moved', measure: 'transfer'})
    expect(r.definition).toBe('_gcs_created_at - _object_modified_at')
    expect([r.count, r.unmeasured, r.min, r.max, r.p50]).toEqual([2, 2, 4, 30, 17])
  })

  it('computes approximate quantiles client-side with a paged HDR histogram that agree with the exact ones', async () => {
    const {wh} = await openTemp()
    // 2,000 latencies with negatives and millisecond fractions
    const lat = Array.from({length: 2000}, (_, i) => ((i * 7919) % 2000) / 4 - 20 + 0.25)
    await createTable(wh, 'logs', arrivalRows(lat))
    const exact = await latencyReport(wh, {table: 'logs', groupBy: 'path'})
    const client = await latencyReport(wh, {table: 'logs', groupBy: 'path', compute: 'client', pageSize: 97})
    const onePage = await latencyReport(wh, {table: 'logs', compute: 'client', pageSize: 100_000})
    expect(client.quantiles).toMatchObject({exact: false, computed: 'client'})
    for (const k of ['p50', 'p90', 'p95', 'p99', 'p99_9'] as const) {
      // within half a second (a few bin widths) of the exact quantile, whatever the page size
      expect(Math.abs(client[k]! - exact[k]!)).toBeLessThan(0.6)
      expect(onePage[k]).toBe(client[k])
      expect(client.groups![0][k]).toBe(client[k])
    }
    expect([client.count, client.min, client.max, client.negative.count]).toEqual([exact.count, exact.min, exact.max, exact.negative.count])
    expect(client.bins).toEqual(exact.bins)
  })

  it('uses approximate quantiles in the warehouse on request and says so', async () => {
    const {wh} = await openTemp()
    await createTable(wh, 'logs', arrivalRows(oneToHundred))
    const r = await latencyReport(wh, {table: 'logs', approximate: true})
    expect(r.quantiles.exact).toBe(false)
    expect(Math.abs(r.p50! - 50.5)).toBeLessThan(2)
  })

  it('the cutover latency gate applies the rule of --slo: the same evaluation, NO DATA fails', async () => {
    const {defaultGateRunners} = await import('../../../src/lib/cutover/gate-runners.js')
    const {evaluateSlos} = await import('../../../src/lib/latency/index.js')
    const {file, wh} = await openTemp()
    await createTable(wh, 'stream_logs', arrivalRows([10, 20, 30]))
    await wh.close()
    const bucket = {name: 'logs', table: 'stream_logs', batchTable: 'batch_logs', p99Ms: 30_000} as unknown as Parameters<ReturnType<typeof defaultGateRunners>['latency']>[0]['bucket']
    const gate = defaultGateRunners().latency
    const window = {since: new Date(T0 * 1000), until: new Date(T0 * 1000 + 86_400_000)}
    const r = await gate({bucket, warehouse: `duckdb:${file}`, window})
    const report = await latencyReportOf(file, window)
    // exactly what `latency-report --slo 'p99<=30.0s'` decides over the same rows
    expect((r.details as {slo: unknown}).slo).toEqual(evaluateSlos(report, [{text: 'p99<=30.0s', key: 'p99', op: '<=', limitSeconds: 30}]))
    expect(r.passed).toBe(true)
    const empty = await gate({bucket, warehouse: `duckdb:${file}`, window: {since: new Date('2030-01-01T00:00:00Z'), until: new Date('2030-01-02T00:00:00Z')}})
    expect(empty).toMatchObject({passed: false, summary: expect.stringMatching(/^NO DATA: no rows with a measurable latency in stream_logs/)})
  })
})

async function latencyReportOf(file: string, window: {since: Date; until: Date}) {
  const {DuckDBWarehouse} = await import('../../../src/lib/warehouse/duckdb/warehouse.js')
  const wh = await DuckDBWarehouse.open(file, {readOnly: true})
  try {
    return await latencyReport(wh, {table: 'stream_logs', ...window})
  } finally {
    await wh.close()
  }
}
