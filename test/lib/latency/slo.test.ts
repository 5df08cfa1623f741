import {describe, expect, it} from 'vitest'
import {evaluateSlos, parseSlo} from '../../../src/lib/latency/index.js'
import type {LatencyStats} from '../../../src/lib/latency/index.js'

const stats = (over: Partial<LatencyStats & {table: string}> = {}): LatencyStats & {table: string} => ({
  table: 't',
  count: 10,
  unmeasured: 0,
  mean: 30,
  min: 1,
  p50: 20,
  p90: 200,
  p95: 300,
  p99: 360,
  p99_9: 400,
  max: 3600,
  negative: {count: 0, min: null},
  bins: [],
  ...over,
})

describe('SLOs', () => {
  it('parses keys, operators and durations', () => {
    expect(parseSlo('p99<=6m')).toEqual({text: 'p99<=6m', key: 'p99', op: '<=', limitSeconds: 360})
    expect(parseSlo(' p99.9 < 30s ')).toMatchObject({key: 'p99_9', op: '<', limitSeconds: 30})
    expect(parseSlo('P99_9<=1h')).toMatchObject({key: 'p99_9', limitSeconds: 3600})
    expect(parseSlo('mean<=500ms')).toMatchObject({key: 'mean', limitSeconds: 0.5})
    expect(() => parseSlo('p42<=6m')).toThrow('--slo "p42<=6m" is not an SLO.')
    expect(() => parseSlo('p99>=6m')).toThrow(/is not an SLO/)
    expect(() => parseSlo('p99<=6min')).toThrow(/is not a duration/)
  })

  it('passes at the limit with <=, breaches above it, and treats no data as not passing', () => {
    const ok = evaluateSlos(stats(), ['p99<=6m', 'max<=1h'])
    expect(ok.passed).toBe(true)
    expect(ok.checks.map((c) => [c.text, c.actual, c.status])).toEqual([
      ['p99<=6m', 360, 'pass'],
      ['max<=1h', 3600, 'pass'],
    ])
    const strict = evaluateSlos(stats(), ['p99<6m', 'p50<=1m'])
    expect(strict.passed).toBe(false)
    expect(strict.checks.map((c) => c.status)).toEqual(['breach', 'pass'])
    const empty = evaluateSlos(stats({count: 0, p99: null}), ['p99<=6m'])
    expect(empty).toMatchObject({passed: false, checks: [{status: 'no-data', actual: null}]})
  })

  it('gates the compare table too: a breach on either table fails, one check per SLO and table', () => {
    const r = {...stats({table: 'batch', p99: 60}), compare: stats({table: 'stream', p99: 511})}
    const slo = evaluateSlos(r, ['p99<=5m'])
    expect(slo.passed).toBe(false)
    expect(slo.tables).toEqual(['batch', 'stream'])
    expect(slo.checks.map((c) => [c.table, c.status])).toEqual([
      ['batch', 'pass'],
      ['stream', 'breach'],
    ])
    const noData = evaluateSlos({...stats({table: 'batch'}), compare: stats({table: 'stream', count: 0, p99: null})}, ['p99<=10m'])
    expect(noData).toMatchObject({passed: false, checks: [{table: 'batch', status: 'pass'}, {table: 'stream', status: 'no-data'}]})
  })
})
