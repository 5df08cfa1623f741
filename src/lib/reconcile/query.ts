import type {Dialect, QueryParams} from '../warehouse/types.js'
import type {BucketUnit} from './types.js'

/**
 * Query builders. Each side is counted by ONE GROUP BY query whose WHERE clause is a range predicate on the
 * time column (so partitioned tables are pruned); only the counts come back, never rows. Engine-specific
 * pieces (time bucketing, epoch conversion, parameter placeholders) come from the warehouse's dialect.
 */
export interface BuiltQuery {
  sql: string
  params: QueryParams
}

export interface RangeParams {
  since: Date
  until: Date
}

function rangePredicate(d: Dialect, timeColumn: string, lo = 'since', hi = 'until'): string {
  const tc = d.quoteIdent(timeColumn)
  return `${tc} >= ${d.timestampParam(lo)} AND ${tc} < ${d.timestampParam(hi)}`
}

/** Rows per time bucket (and group): columns bucket (epoch seconds), grp (when grouped), n. */
export function bucketCountQuery(
  d: Dialect,
  opts: {table: string; timeColumn: string; unit: BucketUnit; groupBy?: string | null; range: RangeParams},
): BuiltQuery {
  const tc = d.quoteIdent(opts.timeColumn)
  const grp = opts.groupBy ? `, ${d.quoteIdent(opts.groupBy)} AS grp` : ''
  const sql = [
    `SELECT ${d.epochSeconds('b')} AS bucket${opts.groupBy ? ', grp' : ''}, n FROM (`,
    `  SELECT ${d.timeBucket(tc, opts.unit)} AS b${grp}, COUNT(*) AS n`,
    `  FROM ${d.table(opts.table)}`,
    `  WHERE ${rangePredicate(d, opts.timeColumn)}`,
    `  GROUP BY 1${opts.groupBy ? ', 2' : ''}`,
    `) AS counts`,
  ].join('\n')
  return {sql, params: {since: opts.range.since, until: opts.range.until}}
}

/**
 * Rows per source object. Rows are counted over [since - margin, until + margin) so an object whose events
 * straddle an edge of the range is counted whole; only objects with at least one row inside [since, until)
 * are returned. Columns: object, n, dup (rows repeating a (source, line) pair, when lineColumn is given).
 */
export function objectCountQuery(
  d: Dialect,
  opts: {table: string; timeColumn: string; sourceColumn: string; lineColumn?: string | null; range: RangeParams; marginMs: number},
): BuiltQuery {
  const src = d.quoteIdent(opts.sourceColumn)
  const inRange = `SUM(CASE WHEN ${rangePredicate(d, opts.timeColumn)} THEN 1 ELSE 0 END)`
  const dup = opts.lineColumn ? `, COUNT(${d.quoteIdent(opts.lineColumn)}) - COUNT(DISTINCT ${d.quoteIdent(opts.lineColumn)}) AS dup` : ''
  const sql = [
    `SELECT ${src} AS object, COUNT(*) AS n${dup}`,
    `FROM ${d.table(opts.table)}`,
    `WHERE ${rangePredicate(d, opts.timeColumn, 'lo', 'hi')}`,
    `GROUP BY 1`,
    `HAVING ${inRange} > 0`,
  ].join('\n')
  return {
    sql,
    params: {
      since: opts.range.since,
      until: opts.range.until,
      lo: new Date(opts.range.since.getTime() - opts.marginMs),
      hi: new Date(opts.range.until.getTime() + opts.marginMs),
    },
  }
}

/** Rows per source object (and group) inside one bucket, for --explain. Columns: object, grp, n. */
export function explainQuery(
  d: Dialect,
  opts: {table: string; timeColumn: string; sourceColumn: string; groupBy?: string | null; range: RangeParams},
): BuiltQuery {
  const grp = opts.groupBy ? `, ${d.quoteIdent(opts.groupBy)} AS grp` : ''
  const sql = [
    `SELECT ${d.quoteIdent(opts.sourceColumn)} AS object${grp}, COUNT(*) AS n`,
    `FROM ${d.table(opts.table)}`,
    `WHERE ${rangePredicate(d, opts.timeColumn)}`,
    `GROUP BY 1${opts.groupBy ? ', 2' : ''}`,
  ].join('\n')
  return {sql, params: {since: opts.range.since, until: opts.range.until}}
}

/** Milliseconds in one bucket (UTC has no DST, so a day is always 24 h). */
export const UNIT_MS: Record<BucketUnit, number> = {minute: 60_000, hour: 3_600_000, day: 86_400_000}

/** Start of the bucket holding an instant. */
export function floorToBucket(t: Date, unit: BucketUnit): Date {
  return new Date(Math.floor(t.getTime() / UNIT_MS[unit]) * UNIT_MS[unit])
}
