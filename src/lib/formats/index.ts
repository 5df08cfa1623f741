import {UsageError} from '../errors.js'
import {checkTableName} from '../identifiers.js'
import {alb} from './alb.js'
import {elb} from './elb.js'
import {jsonl, type JsonlOptions, parseJsonlColumns} from './jsonl.js'
import type {LogFormat} from './types.js'

export * from './types.js'
export {parseJsonlColumns} from './jsonl.js'

export const FORMAT_NAMES = ['alb', 'elb', 'jsonl'] as const
export type FormatName = (typeof FORMAT_NAMES)[number]

export function getFormat(name: string, opts: JsonlOptions = {}): LogFormat {
  switch (name) {
    case 'alb':
      return alb
    case 'elb':
      return elb
    case 'jsonl':
      return jsonl(opts)
    default:
      throw new UsageError(`Unknown format "${name}".`, `Use one of: ${FORMAT_NAMES.join(', ')}.`)
  }
}

/** The flags of a command that loads objects (backfill, stream). */
export interface FormatFlags {
  format: string
  table?: string
  'time-field'?: string
  'jsonl-columns'?: string
}

/** The format and the target table such flags name; the table defaults to <format>_logs. */
export function formatAndTable(flags: FormatFlags): {format: LogFormat; table: string} {
  const format = getFormat(flags.format, {
    timeField: flags['time-field'],
    columns: flags['jsonl-columns'] ? parseJsonlColumns(flags['jsonl-columns']) : undefined,
  })
  return {format, table: checkTableName(flags.table ?? `${flags.format}_logs`)}
}
