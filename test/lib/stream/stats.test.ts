import {describe, expect, it} from 'vitest'

import {LatencyRecorder} from '../../../src/lib/stream/stats.js'

describe('LatencyRecorder', () => {
  it('never reports a percentile above the maximum or below the minimum (HDR buckets are rounded)', () => {
    // 14m41s .. 14m42s: HDR with 2 significant digits puts these in one bucket whose top is above the max
    const r = new LatencyRecorder()
    for (let i = 0; i < 100; i++) r.record(881_000 + i * 10)
    const s = r.summary()
    expect(s.count).toBe(100)
    expect(s.maxMs).toBe(881_990)
    expect(s.p50Ms!).toBeLessThanOrEqual(s.maxMs!)
    expect(s.p99Ms!).toBeLessThanOrEqual(s.maxMs!)
    expect(s.p50Ms!).toBeGreaterThanOrEqual(881_000)
  })

  it('gives the exact value for a single measurement', () => {
    const r = new LatencyRecorder()
    r.record(2849)
    expect(r.summary()).toEqual({count: 1, p50Ms: 2849, p99Ms: 2849, maxMs: 2849})
  })

  it('is empty before any measurement', () => {
    expect(new LatencyRecorder().summary()).toEqual({count: 0, p50Ms: null, p99Ms: null, maxMs: null})
  })
})
