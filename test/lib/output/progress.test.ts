import {describe, expect, it} from 'vitest'
import {barLayout, LONG_TAIL, ProgressBar, progressLine} from '../../../src/lib/output/progress.js'

const state = (done: number) => ({done, total: 10, bytesDone: done * 1024 * 1024, bytesTotal: 10 * 1024 * 1024, rows: done * 1000})

describe('progress without a terminal', () => {
  it('prints a line when the work starts, then one per tick of its clock, whether or not an object finished; none after stop', () => {
    let t = 0
    const lines: string[] = []
    let tick = (): void => {}
    let interval = 0
    let stopped = false
    const every = (ms: number, fn: () => void) => {
      interval = ms
      tick = fn
      return {stop: () => (stopped = true)}
    }
    const p = new ProgressBar('lines', {now: () => t, write: (l) => lines.push(l), every})
    t = 1000
    p.update(state(1))
    // the first line at once, not after an interval (a long backfill waited 51-61 s for it)
    expect(lines).toEqual(['progress: 1/10 objects, 1.0 MiB/10.0 MiB, 1,000 rows, 1,000 rows/s, ETA 9s'])
    expect(interval).toBe(10_000)
    // updates in between print nothing of their own
    t = 5000
    p.update(state(2))
    expect(lines).toHaveLength(1)
    // the clock ticks with no object finished (one long object): still a line
    t = 10_000
    tick()
    t = 20_000
    tick()
    expect(lines).toHaveLength(3)
    expect(lines[2]).toBe('progress: 2/10 objects, 2.0 MiB/10.0 MiB, 2,000 rows, 100 rows/s, ETA 80s')
    p.stop()
    expect(stopped).toBe(true)
  })

  it('says the time left is unknown before any byte is done', () => {
    expect(progressLine({done: 0, total: 5, bytesDone: 0, bytesTotal: 100, rows: 0}, 1)).toMatch(/ETA unknown$/)
  })

  it('prints nothing when off', () => {
    let t = 0
    const lines: string[] = []
    const p = new ProgressBar('off', {everyMs: 1, now: () => t, write: (l) => lines.push(l)})
    t = 1000
    p.update(state(1))
    expect(lines).toEqual([])
  })
})

describe('the progress bar', () => {
  const longTail = LONG_TAIL
  it('keeps rate and ETA on the line at 80 columns, showing a percentage instead of the bar', () => {
    const l = barLayout(80)
    const longest = l.format
      .replace('{percentage}', '100')
      .replace('{value}/{total} {unit}', '9999/9999 objects')
      .replace('{rows}', '9,999,999')
      .replace('{rate}', '99,999 rows/s')
      .replace('{eta_formatted}', '9999s')
    expect(longest).not.toContain('{')
    expect(longest.length).toBeLessThanOrEqual(80)
    expect(longest.endsWith('99,999 rows/s | ETA 9999s')).toBe(true)
  })

  it('draws a bar as wide as the terminal leaves room for, at most 40', () => {
    const l = barLayout(120)
    expect(l.format.startsWith('{bar} ')).toBe(true)
    expect(l.barsize + 1 + longTail.length).toBeLessThanOrEqual(120)
    expect(barLayout(300).barsize).toBe(40)
  })
})
