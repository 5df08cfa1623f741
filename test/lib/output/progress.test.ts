import {describe, expect, it} from 'vitest'
import {barLayout, LONG_TAIL, ProgressBar, progressLine} from '../../../src/lib/output/progress.js'

const state = (done: number) => ({done, total: 10, bytesDone: done * 1024 * 1024, bytesTotal: 10 * 1024 * 1024, rows: done * 1000})

describe('progress without a terminal', () => {
  it('prints one plain line per interval, not one per update', () => {
    let t = 0
    const lines: string[] = []
    const p = new ProgressBar('lines', {everyMs: 30_000, now: () => t, write: (l) => lines.push(l)})
    for (let i = 1; i <= 10; i++) {
      t = i * 10_000 // an update every 10 s
      p.update(state(i))
    }
    // 100 s of work at one line per 30 s: lines at 30 s, 60 s and 90 s
    expect(lines).toHaveLength(3)
    expect(lines[0]).toBe('progress: 3/10 objects, 3.0 MiB/10.0 MiB, 3,000 rows, 100 rows/s, ETA 70s')
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
