/**
 * Splits a load-balancer log line into fields: separated by single spaces, some wrapped in double quotes
 * (which may contain spaces and backslash-escaped quotes). Returns undefined for an unterminated quote.
 */
export function splitFields(line: string): string[] | undefined {
  const out: string[] = []
  const n = line.length
  let i = 0
  while (i < n) {
    if (line.charCodeAt(i) === 34 /* " */) {
      let j = i + 1
      let hasEscape = false
      for (;;) {
        const q = line.indexOf('"', j)
        if (q < 0) return undefined
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
      if (i < n && line.charCodeAt(i) !== 32) return undefined // text glued after a closing quote
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

export function str(v: string | undefined): string | null {
  return v === undefined || v === NULL_TOKEN || v === '' ? null : v
}

export class FieldError extends Error {}

export function int(v: string | undefined, name: string): number | null {
  const s = str(v)
  if (s === null) return null
  const n = Number(s)
  if (!Number.isInteger(n)) throw new FieldError(`${name} "${s}" is not an integer`)
  return n
}

export function num(v: string | undefined, name: string): number | null {
  const s = str(v)
  if (s === null) return null
  const n = Number(s)
  if (Number.isNaN(n)) throw new FieldError(`${name} "${s}" is not a number`)
  return n
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/

/** Parses an ISO-8601 UTC timestamp to microseconds since the epoch, keeping microsecond precision. */
export function isoMicros(v: string | undefined, name: string): number | null {
  const s = str(v)
  if (s === null) return null
  const m = ISO.exec(s)
  if (!m) {
    const ms = Date.parse(s)
    if (Number.isNaN(ms)) throw new FieldError(`${name} "${s}" is not a timestamp`)
    return ms * 1000
  }
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])
  if (+m[2] > 12 || +m[3] > 31 || +m[4] > 23 || +m[5] > 59 || +m[6] > 60) throw new FieldError(`${name} "${s}" is not a valid timestamp`)
  const frac = m[7] ? Number(m[7].padEnd(6, '0').slice(0, 6)) : 0
  return ms * 1000 + frac
}

/** Splits "ip:port" at the last colon (IPv6 addresses contain colons). */
export function hostPort(v: string | undefined, name: string): [string | null, number | null] {
  const s = str(v)
  if (s === null) return [null, null]
  const c = s.lastIndexOf(':')
  if (c < 0) return [s, null]
  const port = Number(s.slice(c + 1))
  if (!Number.isInteger(port)) throw new FieldError(`${name} "${s}" is not ip:port`)
  return [s.slice(0, c).replace(/^\[(.*)\]$/, '$1'), port]
}

/** Splits the quoted request field "VERB URL PROTO" into its three parts ("- - - " for TCP listeners). */
export function request(v: string | undefined): [string | null, string | null, string | null] {
  const s = str(v)
  if (s === null) return [null, null, null]
  const parts = s.trim().split(' ')
  if (parts.length < 3) return [str(parts[0]), str(parts[1]), null]
  return [str(parts[0]), str(parts.slice(1, -1).join(' ')), str(parts.at(-1))]
}
