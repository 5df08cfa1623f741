import {describe, expect, it} from 'vitest'
import {formatDuration} from '../../src/lib/time.js'

describe('formatDuration', () => {
  it('prints milliseconds, seconds, minutes and hours as before', () => {
    expect(formatDuration(850)).toBe('850ms')
    expect(formatDuration(12_500)).toBe('12.5s')
    expect(formatDuration(312_000)).toBe('5m12s')
    expect(formatDuration(3_720_000)).toBe('1h02m')
    expect(formatDuration(120_000)).toBe('2m00s')
  })

  it('prints durations of a day or more in days and hours', () => {
    expect(formatDuration(26 * 3_600_000)).toBe('1d 2h')
    expect(formatDuration(24 * 3_600_000)).toBe('1d 0h')
    expect(formatDuration((7 * 24 + 5) * 3_600_000 + 20 * 60_000)).toBe('7d 5h')
    expect(formatDuration(400 * 86_400_000)).toBe('400d 0h')
  })

  it('rounds each form to its last unit, never printing 60 of anything', () => {
    expect(formatDuration(999.6)).toBe('1.0s')
    expect(formatDuration(59_960)).toBe('1m00s')
    expect(formatDuration(359_600)).toBe('6m00s')
    expect(formatDuration(3_599_600)).toBe('1h00m')
    expect(formatDuration(86_400_000 - 20_000)).toBe('1d 0h')
    expect(formatDuration(86_400_000 - 10 * 60_000)).toBe('23h50m')
  })
})
