import * as hdr from 'hdr-histogram-js'
import type {QueryParams, QueryWarehouse} from '../warehouse/types.js'
import {groupKey, QUANTILES, type RawStats} from './common.js'

type Histogram = ReturnType<typeof hdr.build>

function newHistogram(): Histogram {
  return hdr.build({bitBucketSize: 'packed', numberOfSignificantValueDigits: 3, autoResize: true, useWebAssembly: false})
}

/**
 * Client-side quantiles for warehouses (or runs) that do not compute them in SQL. The warehouse still
 * aggregates: it returns (group, latency rounded to the millisecond, row count) from one query, read page by page, and each
 * page is folded into one HDR histogram per group (3 significant digits). Memory is bounded by the page size
 * plus the histograms, whatever the number of rows. HDR records non-negative integers, so values are shifted
 * by the smallest latency (which may be negative: skewed clocks) and shifted back.
 */
export async function clientQuantiles(
  wh: QueryWarehouse,
  base: (params: QueryParams) => string,
  overall: RawStats,
  groups: Map<string, RawStats> | undefined,
  pageSize: number,
): Promise<void> {
  if (overall.count === 0) return
  const shift = Math.floor(overall.min! * 1000)
  const all = newHistogram()
  const perGroup = new Map<string, Histogram>()
  const grouped = groups !== undefined
  try {
    // ONE aggregation; its result is read a page at a time (a warehouse re-running it per page would bill
    // the whole scan again for every page)
    const params: QueryParams = {}
    const sql = `SELECT ${grouped ? 'g, ' : ''}CAST(ROUND(x * 1000) AS BIGINT) AS ms, COUNT(*) AS n FROM (${base(params)}) AS r
      WHERE x IS NOT NULL GROUP BY ${grouped ? 'g, ' : ''}ms`
    await wh.queryPages(sql, params, pageSize, (rows) => {
      for (const r of rows) {
        const v = Number(r.ms) - shift
        const n = Number(r.n)
        all.recordValueWithCount(v, n)
        if (grouped) {
          const key = groupKey(r.g)
          let h = perGroup.get(key)
          if (!h) perGroup.set(key, (h = newHistogram()))
          h.recordValueWithCount(v, n)
        }
      }
    })
    fill(overall, all, shift)
    for (const [key, s] of groups ?? []) {
      const h = perGroup.get(key)
      if (h) fill(s, h, shift)
    }
  } finally {
    all.destroy()
    for (const h of perGroup.values()) h.destroy()
  }
}

function fill(s: RawStats, h: Histogram, shift: number): void {
  if (s.count === 0) return
  for (const [k, q] of QUANTILES) {
    const v = (h.getValueAtPercentile(q * 100) + shift) / 1000
    // the exact min and max come from SQL; an HDR bucket's representative value can lie just outside them
    s[k] = Math.min(Math.max(v, s.min!), s.max!)
  }
}
