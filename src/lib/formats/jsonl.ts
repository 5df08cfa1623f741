import {UsageError} from '../errors.js'
import type {Column, ColumnType, LogFormat, ParseResult, Value} from './types.js'

export interface JsonlOptions {
  /** Field holding the event time; by default the first present of time, timestamp, @timestamp, ts. */
  timeField?: string
  /** Extra top-level fields promoted to typed columns, e.g. partition:int, offset:bigint. */
  columns?: Column[]
}

const DEFAULT_TIME_FIELDS = ['time', 'timestamp', '@timestamp', 'ts']
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

/** Converts an epoch number (s, ms or µs, told apart by magnitude) or a date string to microseconds. */
export function toMicros(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) {
    const a = Math.abs(v)
    if (a < 1e11) return Math.round(v * 1e6)
    if (a < 1e14) return Math.round(v * 1e3)
    return Math.round(v)
  }
  if (typeof v === 'string' && v !== '') {
    if (/^\d+(\.\d+)?$/.test(v)) return toMicros(Number(v))
    const m = /\.(\d{4,9})(Z|[+-]\d{2}:?\d{2})$/i.exec(v)
    const ms = Date.parse(v)
    if (Number.isNaN(ms)) return null
    // Date.parse keeps milliseconds only; add back the microseconds
    const extra = m ? Number(m[1].padEnd(6, '0').slice(3, 6)) : 0
    return ms * 1000 + extra
  }
  return null
}

function convert(v: unknown, type: ColumnType): Value {
  if (v === undefined || v === null) return null
  switch (type) {
    case 'string':
      return typeof v === 'string' ? v : JSON.stringify(v)
    case 'int':
    case 'bigint': {
      const n = typeof v === 'number' ? v : Number(v)
      if (!Number.isInteger(n)) throw new TypeError(`"${String(v)}" is not an integer`)
      return n
    }
    case 'double': {
      const n = typeof v === 'number' ? v : Number(v)
      if (Number.isNaN(n)) throw new TypeError(`"${String(v)}" is not a number`)
      return n
    }
    case 'timestamp': {
      const t = toMicros(v)
      if (t === null) throw new TypeError(`"${String(v)}" is not a timestamp`)
      return t
    }
    case 'json':
      return JSON.stringify(v)
  }
}

/** JSON-lines application logs: event_time, level, message, promoted columns, and the whole record as JSON. */
export function jsonl(opts: JsonlOptions = {}): LogFormat {
  const extra = opts.columns ?? []
  const timeFields = opts.timeField ? [opts.timeField] : DEFAULT_TIME_FIELDS
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
      try {
        for (const c of extra) values.push(convert(o[c.name], c.type))
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
