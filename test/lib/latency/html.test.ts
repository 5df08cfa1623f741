import {describe, expect, it} from 'vitest'
import {BinAxis, latencyChart, latencyTicks, tickLabel, type ChartSeries} from '../../../src/lib/latency/chart.js'
import {formatInstant, latencyHtml, rangeText} from '../../../src/lib/latency/html.js'
import {binList} from '../../../src/lib/latency/report.js'
import {evaluateSlos} from '../../../src/lib/latency/slo.js'
import type {Bin, LatencyResult, TableLatency} from '../../../src/lib/latency/types.js'

const linear = binList({scale: 'linear', n: 10, lo: 0, hi: 100, nonPositive: false, nonPositiveMin: 0})
const log = binList({scale: 'log', n: 4, lo: 1, hi: 10_000, nonPositive: true, nonPositiveMin: -5})

function counted(bins: Bin[], counts: number[]): Bin[] {
  return bins.map((b, i) => ({...b, count: counts[i] ?? 0}))
}

function table(name: string, bins: Bin[], p: Partial<TableLatency> = {}): TableLatency {
  const count = bins.reduce((s, b) => s + b.count, 0)
  return {
    table: name,
    count,
    unmeasured: 0,
    mean: count ? 50 : null,
    min: count ? 1 : null,
    p50: count ? 50 : null,
    p90: count ? 90 : null,
    p95: count ? 95 : null,
    p99: count ? 99 : null,
    p99_9: count ? 99.9 : null,
    max: count ? 100 : null,
    negative: {count: 0, min: null},
    bins: count ? bins : [],
    lateData: null,
    ...p,
  }
}

function result(main: TableLatency, compare?: TableLatency, range: Partial<LatencyResult['range']> = {}): LatencyResult {
  return {
    ...main,
    warehouse: 'duckdb:w.duckdb',
    measure: 'arrival',
    definition: '_ingested_at - _object_modified_at',
    range: {since: null, until: null, column: 'event_time', ...range},
    quantiles: {exact: true, computed: 'warehouse', method: 'quantile_cont'},
    binScale: 'linear',
    binCount: 10,
    groupBy: null,
    ...(compare ? {compare} : {}),
  }
}

describe('latency HTML page', () => {
  it('names the range covered in words, or "all rows" when unbounded', () => {
    expect(rangeText({since: null, until: null, column: 'event_time'})).toBe('all rows')
    expect(rangeText({since: '2024-05-01T00:00:00.000Z', until: '2024-05-02T06:30:00.000Z', column: 'event_time'})).toBe(
      'rows with event_time from 2024-05-01 00:00 UTC to 2024-05-02 06:30 UTC (exclusive)',
    )
    expect(rangeText({since: '2024-05-01T00:00:00.000Z', until: null, column: 'ts'})).toBe('rows with ts from 2024-05-01 00:00 UTC on')
    expect(rangeText({since: null, until: '2024-05-02T00:00:00.000Z', column: 'ts'})).toBe('rows with ts before 2024-05-02 00:00 UTC')
    expect(formatInstant('2024-05-01T06:00:15.000Z')).toBe('2024-05-01 06:00:15 UTC')
    expect(formatInstant('2024-05-01T06:00:15.250Z')).toBe('2024-05-01 06:00:15.250 UTC')
  })

  it('is one self-contained page: no script, nothing fetched, a CSP that forbids loads, both tables in one chart', () => {
    const r = result(table('batch', counted(linear, [5, 10, 20, 20, 15, 10, 8, 6, 4, 2])), table('stream', counted(linear, [60, 30, 10])))
    const html = latencyHtml(r, evaluateSlos(r, ['p99<5m']))
    expect(html).not.toContain('<script')
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//)
    expect(html).not.toMatch(/url\(/)
    expect(html).toContain("default-src 'none'")
    expect(html.match(/<svg class="latency-chart"/g)).toHaveLength(1)
    expect(html).toContain('data-series="2"')
    expect(html.match(/<rect class="bar"/g)).toHaveLength(20)
    expect(html.match(/<polyline class="cdf-line"/g)).toHaveLength(2)
    expect(html.match(/<g class="marker" data-key="p(50|99)"/g)).toHaveLength(4)
    expect(html).toContain('<g class="slo-line" data-key="p99" data-status="pass"')
    expect(html).toContain('SLOs of batch and stream: all met')
    expect(html).toContain('all rows')
    expect(html).not.toContain('∞')
  })

  it('says why there is no chart when no row was measured, and draws a table without rows only in the legend', () => {
    const none = latencyHtml(result(table('batch', counted(linear, []))))
    expect(none).not.toContain('<svg')
    expect(none).toContain('No measured rows in range: nothing to chart.')
    const one = latencyHtml(result(table('batch', counted(linear, [1, 2, 3])), table('stream', counted(linear, []))))
    expect(one).toContain('data-series="1"')
    expect(one).toContain('stream: no measured rows')
    expect(one).not.toContain('data-table="stream"')
  })

  it('escapes table names', () => {
    const html = latencyHtml(result(table('a<b>"c', counted(linear, [1]))))
    expect(html).not.toContain('a<b>')
    expect(html).toContain('a&lt;b&gt;&quot;c')
  })
})

describe('latency chart', () => {
  it('labels ticks briefly, in days beyond a day', () => {
    expect(['0', '500ms', '10s', '2.5s', '1m', '1m30s', '1h', '1h30m', '1d', '1d 6h', '-30s']).toEqual(
      [0, 0.5, 10, 2.5, 60, 90, 3600, 5400, 86_400, 108_000, -30].map(tickLabel),
    )
  })

  it('places latencies on the bin axis: linearly in linear bins, geometrically in log bins, beyond the last bin too', () => {
    const a = new BinAxis(linear, 'linear')
    expect(a.index(0)).toBe(0)
    expect(a.index(55)).toBeCloseTo(5.5, 9)
    expect(a.index(100)).toBe(10)
    expect(a.index(300)).toBeCloseTo(30, 9)
    const l = new BinAxis(log, 'log')
    expect(l.index(-5)).toBe(0) // the bin of latencies <= 0 comes first
    expect(l.index(0)).toBe(1)
    expect(l.index(1)).toBe(1)
    expect(l.index(100)).toBeCloseTo(3, 9) // 1, 10, 100, 1000, 10000: one decade per bin
    expect(l.index(100_000)).toBeCloseTo(6, 9)
    expect(l.valueBeyond(6)).toBeCloseTo(100_000, 3)
  })

  it('spreads tick labels so that they never touch, with round values', () => {
    const px = (i: number): number => 70 + (i / 10) * 850
    const ticks = latencyTicks(new BinAxis(linear, 'linear'), 10, px)
    expect(ticks.map((t) => t.label)).toEqual(['0', '10s', '20s', '30s', '40s', '50s', '1m', '1m10s', '1m20s', '1m30s', '1m40s'])
    const narrow = latencyTicks(new BinAxis(linear, 'linear'), 10, (i) => 70 + i * 20)
    expect(narrow.length).toBeLessThan(ticks.length)
    for (let i = 1; i < narrow.length; i++) expect(20 * (narrow[i].index - narrow[i - 1].index)).toBeGreaterThan(30)
    const logTicks = latencyTicks(new BinAxis(log, 'log'), 5, (i) => 70 + (i / 5) * 850)
    expect(logTicks[0].label).toBe('≤0')
    expect(logTicks.map((t) => t.label)).toEqual(expect.arrayContaining(['1s', '10s', '1m', '10m', '1h']))
  })

  it('extends the axis to an SLO limit within reach, and names a limit beyond it at the edge', () => {
    const s: ChartSeries = {table: 'batch', count: 10, bins: counted(linear, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]), p50: 50, p99: 99}
    const slo = (text: string, limitSeconds: number) => ({passed: true, table: 'batch', tables: ['batch'], checks: [{text, key: 'p99' as const, op: '<' as const, limitSeconds, table: 'batch', actual: 99, status: 'pass' as const}]})
    const near = latencyChart({series: [s], binScale: 'linear', slo: slo('p99<5m', 300), axisTitle: 'latency'})
    expect(near).toContain('<g class="slo-line" data-key="p99"')
    expect(near).toMatch(/>5m<\/text>/)
    const far = latencyChart({series: [s], binScale: 'linear', slo: slo('p99<1h', 3600), axisTitle: 'latency'})
    expect(far).not.toContain('<g class="slo-line"')
    expect(far).toContain('SLO p99&lt;1h: met (limit 1h is off the chart →)')
  })
})
