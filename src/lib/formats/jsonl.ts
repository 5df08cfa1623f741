import {UsageError} from '../errors.js'
import {checkBigint, civilMicros, INT_MAX, INT_MIN, validDate} from './fields.js'
import type {Column, ColumnType, LogFormat, ParseResult, Value} from './types.js'

export interface JsonlOptions {
  /** Field holding the event time; by default the first present of time, timestamp, @timestamp, ts. */
  timeField?: string
  /** Extra top-level fields promoted to typed columns, e.g. partition:int, offset:bigint. */
  columns?: Column[]
}

/** the fields holding the event time by default, the first present wins */
export const DEFAULT_TIME_FIELDS = ['time', 'timestamp', '@timestamp', 'ts']
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/
const RESERVED = new Set(['event_time', 'level', 'message', 'record'])

/** Parses "--jsonl-columns partition:int,offset:bigint". */
export function parseJsonlColumns(spec: string): Column[] {
  const types: ColumnType[] = ['string', 'int', 'bigint', 'double', 'timestamp', 'json']
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((part) => {
      const [name, type = 'string'] = part.split(':')
      if (!IDENT.test(name) || RESERVED.has(name) || name.startsWith('_')) {
        throw new UsageError(`"${name}" cannot be a column name.`, 'Use letters, digits and underscores, not starting with _ and not event_time, level, message or record.')
      }
      if (!types.includes(type as ColumnType)) throw new UsageError(`Unknown column type "${type}" for ${name}.`, `Use one of ${types.join(', ')}.`)
      return {name, type: type as ColumnType}
    })
}

const ISO_ZONED = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$/i
const DATE_PREFIX = /^(\d{4})-(\d{2})-(\d{2})/

/**
 * Converts an epoch number (s, ms or µs, told apart by magnitude) or a date string to microseconds. ISO
 * strings with a zone are read exactly (every year, microseconds, a day that does not exist is null);
 * beyond year 2255 the microseconds are a decimal string.
 */
export function toMicros(v: unknown): number | string | null {
  if (typeof v === 'number' && Number.isFinite(v)) {
    const a = Math.abs(v)
    if (a < 1e11) return Math.round(v * 1e6)
    if (a < 1e14) return Math.round(v * 1e3)
    if (!Number.isSafeInteger(v)) return null // not exactly representable: never rounded silently
    return v
  }
  if (typeof v === 'string' && v !== '') {
    if (/^\d+(\.\d+)?$/.test(v)) return toMicros(Number(v))
    const z = ISO_ZONED.exec(v)
    if (z) {
      const base = civilMicros(+z[1], +z[2], +z[3], +z[4], +z[5], +z[6], z[7])
      if (base === null) return null
      const zone = z[8].toUpperCase()
      if (zone === 'Z') return base
      const sign = zone[0] === '-' ? -1 : 1
      const digits = zone.slice(1).replace(':', '')
      const offsetUs = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000_000
      if (typeof base === 'number' && Number.isSafeInteger(base - offsetUs)) return base - offsetUs
      return (BigInt(base) - BigInt(offsetUs)).toString()
    }
    const d = DATE_PREFIX.exec(v)
    if (d && !validDate(+d[1], +d[2], +d[3])) return null
    const m = /\.(\d{4,9})(Z|[+-]\d{2}:?\d{2})$/i.exec(v)
    const ms = Date.parse(v)
    if (Number.isNaN(ms)) return null
    // Date.parse keeps milliseconds only; add back the microseconds
    const extra = m ? Number(m[1].padEnd(6, '0').slice(3, 6)) : 0
    return ms * 1000 + extra
  }
  return null
}

const INT_TEXT = /^[+-]?\d+$/

/** A JSON value shown in a reason: strings as they are, anything else as JSON. */
function shown(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v)
}

/**
 * A promoted field as its column type. Only a JSON number or a string of the same shape converts: true, "",
 * [7] or {} are rejected, never coerced to 1, 0 or 7; integers are range-checked, and a bigint keeps the digits
 * of its JSON text exactly (`source`, when the number is beyond 2^53).
 */
function convert(v: unknown, type: ColumnType, source: string | undefined): Value {
  if (v === undefined || v === null) return null
  switch (type) {
    case 'string':
      return typeof v === 'string' ? v : JSON.stringify(v)
    case 'int': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && INT_TEXT.test(v) ? Number(v) : Number.NaN
      if (!Number.isInteger(n)) throw new TypeError(`"${shown(v)}" is not an integer`)
      if (n < INT_MIN || n > INT_MAX) throw new TypeError(`"${shown(v)}" is out of range for a 32-bit integer`)
      return n
    }
    case 'bigint': {
      const text = typeof v === 'number' ? source : typeof v === 'string' && INT_TEXT.test(v) ? v : undefined
      const n = typeof v === 'number' ? v : text !== undefined ? Number(text) : Number.NaN
      try {
        return checkBigint(text, n, '', shown(v))
      } catch (err) {
        throw new TypeError((err as Error).message.trimStart())
      }
    }
    case 'double': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN
      if (!Number.isFinite(n)) throw new TypeError(`"${shown(v)}" is not a number`)
      return n
    }
    case 'timestamp': {
      const t = toMicros(v)
      if (t === null) throw new TypeError(`"${shown(v)}" is not a timestamp`)
      return t
    }
    case 'json':
      return JSON.stringify(v)
  }
}

/** JSON.parse that also returns the source text of the named top-level numbers that are not safe integers. */
function parseKeepingBigNumbers(line: string, names: ReadonlySet<string>): {rec: unknown; sources: Map<string, string>} {
  const sources = new Map<object, Map<string, string>>()
  const rec = JSON.parse(line, function (this: object, key: string, value: unknown, context?: {source?: string}) {
    if (typeof value === 'number' && names.has(key) && context?.source !== undefined) {
      let m = sources.get(this)
      if (!m) sources.set(this, (m = new Map()))
      m.set(key, context.source)
    }
    return value
  }) as unknown
  return {rec, sources: (typeof rec === 'object' && rec !== null && sources.get(rec)) || new Map()}
}

/** JSON-lines application logs: event_time, level, message, promoted columns, and the whole record as JSON. */
export function jsonl(opts: JsonlOptions = {}): LogFormat {
  const extra = opts.columns ?? []
  const timeFields = opts.timeField ? [opts.timeField] : DEFAULT_TIME_FIELDS
  const bigNames = new Set(extra.filter((c) => c.type === 'bigint').map((c) => c.name))
  const columns: Column[] = [
    {name: 'event_time', type: 'timestamp', description: `from ${timeFields.join(' | ')}`},
    {name: 'level', type: 'string'},
    {name: 'message', type: 'string'},
    ...extra,
    {name: 'record', type: 'json', description: 'the whole JSON record'},
  ]
  return {
    name: 'jsonl',
    description: 'JSON-lines application logs',
    options: {...opts},
    columns,
    parse(line: string): ParseResult {
      let rec: unknown
      try {
        rec = JSON.parse(line)
      } catch {
        return {ok: false, reason: 'not valid JSON'}
      }
      if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) return {ok: false, reason: 'not a JSON object'}
      const o = rec as Record<string, unknown>
      const tf = timeFields.find((f) => o[f] !== undefined)
      if (tf === undefined) return {ok: false, reason: `no time field (${timeFields.join(', ')})`}
      const t = toMicros(o[tf])
      if (t === null) return {ok: false, reason: `${tf} "${String(o[tf])}" is not a timestamp`}
      const values: Value[] = [t, str(o.level ?? o.severity), str(o.message ?? o.msg)]
      // a bigint beyond 2^53 was rounded by JSON.parse: read its digits from the line (rare, so a second parse)
      let sources: Map<string, string> | undefined
      if (bigNames.size > 0 && extra.some((c) => c.type === 'bigint' && typeof o[c.name] === 'number' && !Number.isSafeInteger(o[c.name]))) {
        sources = parseKeepingBigNumbers(line, bigNames).sources
      }
      try {
        for (const c of extra) values.push(convert(o[c.name], c.type, sources?.get(c.name)))
      } catch (err) {
        return {ok: false, reason: (err as Error).message}
      }
      values.push(line)
      return {ok: true, values}
    },
  }
}

function str(v: unknown): string | null {
  if (v === undefined || v === null) return null
  return typeof v === 'string' ? v : JSON.stringify(v)
}
