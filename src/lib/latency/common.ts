import type {Row} from '../warehouse/types.js'
import type {LatencyStats} from './types.js'

export const QUANTILES: ReadonlyArray<[key: 'p50' | 'p90' | 'p95' | 'p99' | 'p99_9', q: number]> = [
  ['p50', 0.5],
  ['p90', 0.9],
  ['p95', 0.95],
  ['p99', 0.99],
  ['p99_9', 0.999],
]

export interface RawStats extends LatencyStats {
  minPositive: number | null
}

export function groupKey(v: Row[string] | undefined): string {
  if (v === null || v === undefined) return '(null)'
  if (v instanceof Date) return v.toISOString()
  return String(v)
}

