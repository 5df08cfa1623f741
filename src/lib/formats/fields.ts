/** Why a line could not be split into fields. */
export interface SplitError {
  reason: string
}

/**
 * Splits a load-balancer log line into fields: separated by single spaces, some wrapped in double quotes
 * (which may contain spaces and backslash-escaped quotes). A quote that is never closed, and text glued after
 * a closing quote (`"abc"def`, which AWS never writes), are a SplitError with the reason.
 */
export function splitFields(line: string): string[] | SplitError {
  const out: string[] = []
  const n = line.length
  let i = 0
  while (i < n) {
    if (line.charCodeAt(i) === 34 /* " */) {
      let j = i + 1
      let hasEscape = false
      for (;;) {
        const q = line.indexOf('"', j)
        if (q < 0) return {reason: 'unterminated quoted field'}
        if (line.charCodeAt(q - 1) === 92 /* \ */ && !isEscapedBackslash(line, q - 1, i + 1)) {
          hasEscape = true
          j = q + 1
          continue
        }
        const raw = line.slice(i + 1, q)
        out.push(hasEscape ? raw.replace(/\\(["\\])/g, '$1') : raw)
        i = q + 1
        break
      }
      if (i < n && line.charCodeAt(i) !== 32) return {reason: `text after a closing quote (field ${out.length})`}
      i++
    } else {
      let j = line.indexOf(' ', i)
      if (j < 0) j = n
      out.push(line.slice(i, j))
      i = j + 1
    }
  }
  return out
}

/** true when the backslash at `pos` is itself escaped (an even run of backslashes before a quote). */
function isEscapedBackslash(line: string, pos: number, start: number): boolean {
  let count = 0
  for (let k = pos; k >= start && line.charCodeAt(k) === 92; k--) count++
  return count % 2 === 0
}

export const NULL_TOKEN = '-'

/** A value that is typed or split further (numbers, timestamps, ip:port, request parts): `-` and empty are NULL. */
export function str(v: string | undefined): string | null {
  return v === undefined || v === NULL_TOKEN || v === '' ? null : v
}

/**
 * A text column as written: `-` (quoted or not) and a missing trailing field are NULL, an empty field (`""`) is
 * the empty string.
 */
export function text(v: string | undefined): string | null {
  return v === undefined || v === NULL_TOKEN ? null : v
}

export class FieldError extends Error {}

/** The range of each integer column type (DuckDB INTEGER / BIGINT, BigQuery INT64). */
export const INT_MIN = -2147483648
export const INT_MAX = 2147483647
const BIGINT_MIN = -(2n ** 63n)
const BIGINT_MAX = 2n ** 63n - 1n
const DECIMAL_INT = /^[+-]?\d+$/

/** An INTEGER (32-bit) value; out-of-range values are a FieldError (one rejected line, never a failed load). */
export function int(v: string | undefined, name: string): number | null {
  const s = str(v)
  if (s === null) return null
  const n = Number(s)
  if (!Number.isInteger(n)) throw new FieldError(`${name} "${s}" is not an integer`)
  if (n < INT_MIN || n > INT_MAX) throw new FieldError(`${name} "${s}" is out of range for a 32-bit integer`)
  return n
}

/**
 * A BIGINT (64-bit) value. Safe integers are numbers; larger ones written as plain digits are kept exactly as
 * a decimal string (a number would round 2^53+1); out-of-range values are a FieldError.
 */
export function bigint(v: string | undefined, name: string): number | string | null {
  const s = str(v)
  if (s === null) return null
  return checkBigint(s, Number(s), name, s)
}

/** Range-checks a BIGINT given its text (when known) and its numeric value; see bigint(). */
export function checkBigint(text: string | undefined, n: number, name: string, shown: string): number | string {
  if (!Number.isInteger(n)) throw new FieldError(`${name} "${shown}" is not an integer`)
  if (Number.isSafeInteger(n)) return n
  if (text !== undefined && DECIMAL_INT.test(text)) {
    const b = BigInt(text)
    if (b >= BIGINT_MIN && b <= BIGINT_MAX) return b.toString()
  }
  throw new FieldError(`${name} "${shown}" is out of range for a 64-bit integer`)
}

export function num(v: string | undefined, name: string): number | null {
  const s = str(v)
  if (s === null) return null
  const n = Number(s)
  if (!Number.isFinite(n)) throw new FieldError(`${name} "${s}" is not a number`)
  return n
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
}

/** true when y-m-d is a real calendar date (m 1-12, d within the month, leap years included). */
export function validDate(y: number, m: number, d: number): boolean {
  return m >= 1 && m <= 12 && d >= 1 && d <= (m === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[m - 1])
}

/** Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar, exact for any year (no 1900+ mapping of years 0-99). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/** seconds since the epoch plus microseconds, as a number when exact (up to year 2255) or else a decimal string. */
export function microsOf(seconds: number, micros: number): number | string {
  const us = seconds * 1e6 + micros
  if (Number.isSafeInteger(us) && Math.abs(seconds) < 9_000_000_000) return us
  return (BigInt(seconds) * 1_000_000n + BigInt(micros)).toString()
}

/**
 * Microseconds of a civil UTC date-time, validated (month, day of month, hour, minute; second 60 rolls over as
 * before); null when the date or time does not exist.
 */
export function civilMicros(y: number, mo: number, d: number, h: number, mi: number, s: number, frac: string | undefined): number | string | null {
  if (!validDate(y, mo, d) || h > 23 || mi > 59 || s > 60) return null
  const us = frac ? Number(frac.padEnd(6, '0').slice(0, 6)) : 0
  return microsOf(daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s, us)
}

/**
 * Parses an ISO-8601 UTC timestamp to microseconds since the epoch, keeping microsecond precision and every
 * year exactly (0001, 0099, 9999-12-31T23:59:59.999999); a day that does not exist (2024-02-30) is a FieldError.
 */
export function isoMicros(v: string | undefined, name: string): number | string | null {
  const s = str(v)
  if (s === null) return null
  if (lastMinute !== '' && s.startsWith(lastMinute)) {
    const us = sameMinuteMicros(s)
    if (us !== undefined) return us
  }
  const m = ISO.exec(s)
  if (!m) {
    const ms = Date.parse(s)
    if (Number.isNaN(ms)) throw new FieldError(`${name} "${s}" is not a timestamp`)
    return ms * 1000
  }
  const us = civilMicros(+m[1], +m[2], +m[3], +m[4], +m[5], +m[6], m[7])
  if (us === null) throw new FieldError(`${name} "${s}" is not a valid timestamp`)
  lastMinute = s.slice(0, MINUTE_CHARS)
  lastMinuteSeconds = daysFromCivil(+m[1], +m[2], +m[3]) * 86400 + +m[4] * 3600 + +m[5] * 60
  return us
}

/**
 * The last valid minute isoMicros parsed ("YYYY-MM-DDTHH:MM:") and its seconds since the epoch: a log's lines share
 * their minute, so most timestamps only need their seconds and fraction read (a regular expression and a calendar
 * per timestamp were a tenth of a parse worker's time).
 */
let lastMinute = ''
let lastMinuteSeconds = 0
const MINUTE_CHARS = 17

/**
 * Microseconds of a timestamp that starts with lastMinute, read as the ISO pattern reads the rest (two digits of
 * second up to 60, then `.` and 1-9 digits or nothing, then `Z`); undefined when the rest does not have that shape.
 */
function sameMinuteMicros(s: string): number | string | undefined {
  const n = s.length
  if (n < MINUTE_CHARS + 3 || s.charCodeAt(n - 1) !== 0x5a /* Z */) return undefined
  const tens = s.charCodeAt(MINUTE_CHARS) - 0x30
  const ones = s.charCodeAt(MINUTE_CHARS + 1) - 0x30
  if (tens < 0 || tens > 9 || ones < 0 || ones > 9) return undefined
  const second = tens * 10 + ones
  if (second > 60) return undefined
  let us = 0
  if (n > MINUTE_CHARS + 3) {
    const digits = n - (MINUTE_CHARS + 4)
    if (s.charCodeAt(MINUTE_CHARS + 2) !== 0x2e /* . */ || digits < 1 || digits > 9) return undefined
    for (let i = 0; i < digits; i++) {
      const d = s.charCodeAt(MINUTE_CHARS + 3 + i) - 0x30
      if (d < 0 || d > 9) return undefined
      if (i < 6) us = us * 10 + d
    }
    for (let i = digits; i < 6; i++) us *= 10
  }
  return microsOf(lastMinuteSeconds + second, us)
}

/** Splits "ip:port" at the last colon (IPv6 addresses contain colons). */
export function hostPort(v: string | undefined, name: string): [string | null, number | null] {
  const s = str(v)
  if (s === null) return [null, null]
  const c = s.lastIndexOf(':')
  if (c < 0) return [s, null]
  const port = Number(s.slice(c + 1))
  if (!Number.isInteger(port)) throw new FieldError(`${name} "${s}" is not ip:port`)
  if (port < INT_MIN || port > INT_MAX) throw new FieldError(`${name} "${s}" has a port out of range`)
  const host = s.slice(0, c)
  // "[v6]:port": the brackets go (only such a host starts with one: no pattern run for the others)
  return [host.charCodeAt(0) === 0x5b ? host.replace(/^\[(.*)\]$/, '$1') : host, port]
}

/** Splits the quoted request field "VERB URL PROTO" into its three parts ("- - - " for TCP listeners). */
export function request(v: string | undefined): [string | null, string | null, string | null] {
  const s = str(v)
  if (s === null) return [null, null, null]
  const parts = s.trim().split(' ')
  if (parts.length < 3) return [str(parts[0]), str(parts[1]), null]
  return [str(parts[0]), str(parts.slice(1, -1).join(' ')), str(parts.at(-1))]
}
