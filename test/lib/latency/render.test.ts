import {describe, expect, it} from 'vitest'
import {formatSeconds, renderHistogram} from '../../../src/lib/latency/render.js'

describe('latency terminal rendering', () => {
  it('prints latencies over a day in days, keeping the sign of negative ones', () => {
    expect(formatSeconds(26 * 3600)).toBe('1d 2h')
    expect(formatSeconds(-2 * 86_400)).toBe('-2d 0h')
    expect(formatSeconds(90)).toBe('1m30s')
    expect(formatSeconds(null)).toBe('-')
  })

  it('labels histogram bins beyond a day in days', () => {
    const text = renderHistogram([
      {lo: 0, hi: 86_400, count: 3},
      {lo: 86_400, hi: 2 * 86_400 + 7200, count: 1},
    ])
    expect(text).toContain('1d 0h .. 2d 2h │')
    expect(text).toContain('  0ms .. 1d 0h │')
  })
})
