import {describe, expect, it} from 'vitest'
import {allowedDifference, formatTolerance, parseTolerance, withinTolerance} from '../../../src/lib/reconcile/tolerance.js'

describe('tolerance', () => {
  it('parses rows and percentages', () => {
    expect(parseTolerance('10')).toEqual({kind: 'rows', value: 10})
    expect(parseTolerance('0.5%')).toEqual({kind: 'percent', value: 0.5})
    expect(parseTolerance(' 0 ')).toEqual({kind: 'rows', value: 0})
    for (const bad of ['', '-1', '1.5', '1x', '%', '101%', 'ten']) expect(() => parseTolerance(bad), bad).toThrow(/is not a row count or a percentage/)
  })

  it('measures percent against the larger side', () => {
    const t = parseTolerance('1%')
    expect(allowedDifference(t, 1000, 990)).toBe(10)
    expect(withinTolerance(t, 1000, 990)).toBe(true)
    expect(withinTolerance(t, 990, 1000)).toBe(true)
    expect(withinTolerance(t, 1000, 989)).toBe(false)
    // a side with nothing is never within a percentage
    expect(withinTolerance(t, 0, 5)).toBe(false)
    expect(withinTolerance(parseTolerance('5'), 0, 5)).toBe(true)
    expect(formatTolerance(t)).toBe('1%')
    expect(formatTolerance(parseTolerance('0'))).toBe('exact (0 rows)')
  })
})
