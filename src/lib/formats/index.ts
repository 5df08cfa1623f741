import {UsageError} from '../errors.js'
import {alb} from './alb.js'
import {elb} from './elb.js'
import {jsonl, type JsonlOptions} from './jsonl.js'
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
