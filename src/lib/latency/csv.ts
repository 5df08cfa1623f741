import {stringify} from 'csv-stringify/sync'
import type {LatencyResult, LatencyStats} from './types.js'

const METRICS = ['count', 'unmeasured', 'mean', 'min', 'p50', 'p90', 'p95', 'p99', 'p99_9', 'max'] as const

/**
 * The report as one long CSV: a row per statistic (value in seconds, or rows for count/unmeasured/negative)
 * and a row per histogram bin (lo/hi in seconds, value = rows), for every table and group.
 */
export function latencyCsv(r: LatencyResult): string {
  if (r.hops) return hopsCsv(r)
  const rows: Array<Array<string | number | null>> = []
  const add = (table: string, group: string, s: LatencyStats): void => {
    for (const m of METRICS) rows.push([table, group, m, null, null, s[m]])
    rows.push([table, group, 'negative_count', null, null, s.negative.count], [table, group, 'negative_min', null, null, s.negative.min])
    for (const b of s.bins) rows.push([table, group, 'bin', b.lo, b.hi, b.count])
  }
  for (const t of [r, ...(r.compare ? [r.compare] : [])]) {
    add(t.table, '', t)
    for (const g of t.groups ?? []) add(t.table, g.key, g)
  }
  return stringify(rows, {header: true, columns: ['table', 'group', 'metric', 'lo_seconds', 'hi_seconds', 'value']})
}

/** --measure hops: the same long rows with a `hop` column (transfer, load, end-to-end) after the table. */
function hopsCsv(r: LatencyResult): string {
  const rows: Array<Array<string | number | null>> = []
  for (const t of [r, ...(r.compare ? [r.compare] : [])]) {
    for (const h of t.hops ?? []) {
      for (const m of METRICS) rows.push([t.table, h.hop, '', m, null, null, h[m]])
      rows.push([t.table, h.hop, '', 'negative_count', null, null, h.negative.count], [t.table, h.hop, '', 'negative_min', null, null, h.negative.min])
      for (const b of h.bins) rows.push([t.table, h.hop, '', 'bin', b.lo, b.hi, b.count])
    }
    for (const g of t.groups ?? []) {
      for (const m of METRICS) rows.push([t.table, 'end-to-end', g.key, m, null, null, g[m]])
      for (const b of g.bins) rows.push([t.table, 'end-to-end', g.key, 'bin', b.lo, b.hi, b.count])
    }
  }
  return stringify(rows, {header: true, columns: ['table', 'hop', 'group', 'metric', 'lo_seconds', 'hi_seconds', 'value']})
}
