import {UsageError} from './errors.js'

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/

/**
 * Parses a --since/--until value: a date (YYYY-MM-DD, UTC midnight), an ISO-8601 timestamp (UTC unless it
 * carries an offset), or "now-<duration>".
 */
export function parseInstant(value: string, flag: string, now: Date = new Date()): Date {
  const v = value.trim()
  if (v === 'now') return now
  const rel = /^now-(.+)$/.exec(v)
  if (rel) return new Date(now.getTime() - parseDuration(rel[1], flag))
  if (DATE_ONLY.test(v)) {
    const d = new Date(`${v}T00:00:00Z`)
    if (!Number.isNaN(d.getTime()) && d.toISOString().startsWith(v)) return d
  } else if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(v)) {
    const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(v)
    const d = new Date(hasZone ? v.replace(' ', 'T') : `${v.replace(' ', 'T')}Z`)
    if (!Number.isNaN(d.getTime())) return d
  }
  throw new UsageError(`${flag} "${value}" is not a date or timestamp.`, 'Use YYYY-MM-DD, an ISO-8601 timestamp such as 2024-05-01T06:00:00Z, or now-2h.')
}

/** Parses durations like 500ms, 30s, 15m, 2h, 7d into milliseconds. */
export function parseDuration(value: string, flag = 'duration'): number {
  const m = DURATION.exec(value.trim())
  if (!m) throw new UsageError(`${flag} "${value}" is not a duration.`, 'Use a number with a unit: 500ms, 30s, 15m, 2h or 7d.')
  const n = Number(m[1])
  const unit = {ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000}[m[2] as 'ms' | 's' | 'm' | 'h' | 'd']
  return n * unit
}

export interface TimeRange {
  since?: Date
  until?: Date
}

export function checkRange(range: TimeRange): TimeRange {
  if (range.since && range.until && range.since.getTime() >= range.until.getTime()) {
    throw new UsageError(
      `The time range is empty: --since ${range.since.toISOString()} is not before --until ${range.until.toISOString()}.`,
      '--since is inclusive and --until exclusive; give a --until later than --since.',
    )
  }
  return range
}

export function inRange(t: Date | number, range: TimeRange): boolean {
  const ms = typeof t === 'number' ? t : t.getTime()
  if (range.since && ms < range.since.getTime()) return false
  if (range.until && ms >= range.until.getTime()) return false
  return true
}

/** UTC day (YYYY-MM-DD) of an instant. */
export function utcDay(t: Date | number): string {
  return new Date(t).toISOString().slice(0, 10)
}

/**
 * A duration for people: 850ms, 12.5s, 5m12s, 1h02m, and over a day in days: 1d 2h. Each form is rounded to its
 * last unit (59.96 s is 1m00s, never 60.0s; 23h59m40s is 1d 0h).
 */
export function formatDuration(ms: number): string {
  if (Math.round(ms) < 1000) return `${Math.round(ms)}ms`
  const s = ms / 1000
  if (Math.round(s * 10) < 600) return `${s.toFixed(1)}s`
  const totalS = Math.round(s)
  if (totalS < 3600) return `${Math.floor(totalS / 60)}m${String(totalS % 60).padStart(2, '0')}s`
  const totalM = Math.round(s / 60)
  if (totalM < 24 * 60) return `${Math.floor(totalM / 60)}h${String(totalM % 60).padStart(2, '0')}m`
  const totalH = Math.round(s / 3600)
  return `${Math.floor(totalH / 24)}d ${totalH % 24}h`
}
