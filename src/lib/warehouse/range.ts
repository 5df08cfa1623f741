import type {TimeRange} from '../time.js'
import type {Dialect, QueryParams} from './types.js'

/**
 * The conditions of a time range on a column expression — `expr >= since` and `expr < until`, each only when
 * that end is given — with the values added to `params` as `since` / `until` (never inlined in the SQL).
 */
export function rangeConditions(d: Dialect, expr: string, range: TimeRange, params: QueryParams): string[] {
  const conds: string[] = []
  if (range.since) {
    conds.push(`${expr} >= ${d.timestampParam('since')}`)
    params.since = range.since
  }
  if (range.until) {
    conds.push(`${expr} < ${d.timestampParam('until')}`)
    params.until = range.until
  }
  return conds
}
