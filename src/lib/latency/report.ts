import {NotFoundError, UsageError, UserError} from '../errors.js'
import {type Column, EVENT_TIME_COLUMN, INGESTED_AT_COLUMN, LOAD_PATH_COLUMN, OBJECT_MODIFIED_AT_COLUMN} from '../formats/types.js'
import {checkRange} from '../time.js'
import {checkColumnName, checkTableName} from '../identifiers.js'
import {rangeConditions} from '../warehouse/range.js'
import type {Dialect, LoadPath, QueryParams, QueryWarehouse, Row} from '../warehouse/types.js'
import {clientQuantiles} from './client.js'
import {groupKey, QUANTILES, type RawStats} from './common.js'
import {
  type Bin,
  type BinScale,
  GROUP_WORDS,
  type LatencyGroup,
  type LatencyOptions,
  type LatencyResult,
  type LatencyStats,
  type Hop,
  HOPS,
  type LateData,
  type Measure,
  type TableLatency,
} from './types.js'

const BACKFILL_PATH: LoadPath = 'backfill'

interface Plan {
  measure: Measure
  /** [later, earlier] column names: latency = later - earlier */
  pair: [string, string]
  /** columns that must all be non-NULL for a row to be measured (hops: the three timestamps) */
  require?: string[]
  eventTime: string
  ingestedAt: string
  arrival: string
  gcs: string
  /** SQL of the group key, or undefined */
  groupExpr?: string
  groupBy: string | null
  /** the table's load-path column (seneka's tables), for late data to leave backfilled rows out */
  loadPath?: string
}

/** Resolves the columns of a measure and checks them against the table; errors name the flag to use. */
async function plan(wh: QueryWarehouse, table: string, opts: LatencyOptions): Promise<{plan: Plan; late: boolean}> {
  const d = wh.dialect
  const measure = opts.measure ?? 'arrival'
  const eventTime = checkColumnName(opts.eventTimeColumn ?? EVENT_TIME_COLUMN, '--event-time-column')
  const ingestedAt = checkColumnName(opts.ingestedAtColumn ?? INGESTED_AT_COLUMN, '--ingested-at-column')
  const arrival = checkColumnName(opts.arrivalColumn ?? OBJECT_MODIFIED_AT_COLUMN, '--arrival-column')
  const gcs = checkColumnName(opts.gcsCreatedColumn ?? '_gcs_created_at', '--gcs-created-column')
  const cols = await wh.tableColumns(table)
  if (!cols) {
    throw new NotFoundError(`The table ${table} does not exist in ${wh.description}.`, 'Check --table/--compare-table and --warehouse (seneka backfill creates the table it loads).')
  }
  const byName = new Map<string, Column>(cols.map((c) => [c.name, c]))
  const need = (name: string, flag: string, why: string): void => {
    const c = byName.get(name)
    if (!c) {
      throw new NotFoundError(`The table ${table} has no column ${name}, needed by ${why}.`, `Name the column that holds it with ${flag}.`)
    }
    if (c.type !== 'timestamp') {
      throw new UsageError(`The column ${name} of ${table} is not a TIMESTAMP, so ${why} cannot use it.`, `Name a TIMESTAMP column with ${flag}.`)
    }
  }
  // hops: the table's own statistics are end to end (S3 LastModified -> committed); the hops are planned apart
  const pair: [string, string] =
    measure === 'arrival' || measure === 'hops' ? [ingestedAt, arrival] : measure === 'event' ? [ingestedAt, eventTime] : [gcs, arrival]
  const flags: Record<string, string> = {
    [ingestedAt]: '--ingested-at-column',
    [arrival]: '--arrival-column',
    [eventTime]: '--event-time-column',
    [gcs]: '--gcs-created-column',
  }
  need(pair[0], flags[pair[0]], `--measure ${measure}`)
  need(pair[1], flags[pair[1]], `--measure ${measure}`)
  if (measure === 'hops') need(gcs, flags[gcs], '--measure hops (the GCS finalize time of each row)')
  // the time range always selects rows by event time
  if (opts.since || opts.until) need(eventTime, '--event-time-column', '--since/--until (rows are selected by event time)')
  let groupExpr: string | undefined
  const g = opts.groupBy
  if (g) {
    const word = g.toLowerCase() as (typeof GROUP_WORDS)[number]
    if (word === 'source' || word === 'path' || word === 'bucket') {
      const col = word === 'path' ? '_load_path' : '_source_uri'
      if (!byName.has(col)) {
        throw new UserError(`The table ${table} has no column ${col}, needed by --group-by ${word}.`, {
          suggestion: 'Group by a column of the table instead (--group-by COLUMN).',
        })
      }
      const q = d.quoteIdent(col)
      // bucket: the part of s3://bucket/key between "://" and the next "/" (portable SQL)
      groupExpr =
        word === 'bucket' ? `SUBSTR(SUBSTR(${q}, STRPOS(${q}, '://') + 3), 1, STRPOS(SUBSTR(${q}, STRPOS(${q}, '://') + 3) || '/', '/') - 1)` : q
    } else if (word === 'hour') {
      need(eventTime, '--event-time-column', '--group-by hour (hour of the event time)')
      groupExpr = d.timeBucket(d.quoteIdent(eventTime), 'hour')
    } else {
      const col = checkColumnName(g, '--group-by')
      if (!byName.has(col)) {
        throw new UserError(`The table ${table} has no column ${col} to group by.`, {
          suggestion: `Use a column of the table or one of: ${GROUP_WORDS.join(', ')}.`,
        })
      }
      groupExpr = d.quoteIdent(col)
    }
  }
  const late = byName.get(eventTime)?.type === 'timestamp' && byName.get(ingestedAt)?.type === 'timestamp'
  const require = measure === 'hops' ? [arrival, gcs, ingestedAt] : undefined
  const loadPath = byName.get(LOAD_PATH_COLUMN)?.type === 'string' ? {loadPath: LOAD_PATH_COLUMN} : {}
  return {plan: {measure, pair, ...(require ? {require} : {}), eventTime, ingestedAt, groupExpr, groupBy: g ?? null, gcs, arrival, ...loadPath}, late}
}

/** The hops of a --measure hops plan, in report order; all share the plan's rows (every timestamp known). */
function hopPlans(p: Plan): Array<{hop: Hop; plan: Plan}> {
  const pairs: Record<Hop, [string, string]> = {transfer: [p.gcs, p.arrival], load: [p.ingestedAt, p.gcs], 'end-to-end': [p.ingestedAt, p.arrival]}
  return HOPS.map((hop) => ({hop, plan: {...p, pair: pairs[hop]}}))
}

/** The rows of the report: latency x (seconds), group key g, filtered by event time. */
function baseSql(d: Dialect, table: string, p: Plan, opts: LatencyOptions, params: QueryParams): string {
  const [a, b] = p.pair.map((c) => d.epochSeconds(d.quoteIdent(c)))
  const where = rangeConditions(d, d.quoteIdent(p.eventTime), opts, params)
  const x = p.require ? `CASE WHEN ${p.require.map((c) => `${d.quoteIdent(c)} IS NOT NULL`).join(' AND ')} THEN ${a} - ${b} END` : `${a} - ${b}`
  return `SELECT (${x}) AS x${p.groupExpr ? `, ${p.groupExpr} AS g` : ''} FROM ${d.table(table)}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`
}

const num = (v: Row[string] | undefined): number | null => (v === null || v === undefined ? null : Number(v))

function emptyStats(): LatencyStats {
  return {
    count: 0,
    unmeasured: 0,
    mean: null,
    min: null,
    p50: null,
    p90: null,
    p95: null,
    p99: null,
    p99_9: null,
    max: null,
    negative: {count: 0, min: null},
    bins: [],
  }
}

function statsFromRow(r: Row): RawStats {
  const count = Number(r.n ?? 0)
  const s: RawStats = {
    ...emptyStats(),
    count,
    unmeasured: Number(r.n_rows ?? 0) - count,
    mean: num(r.mean),
    min: num(r.min),
    max: num(r.max),
    negative: {count: Number(r.neg ?? 0), min: num(r.neg_min)},
    minPositive: num(r.min_pos),
  }
  for (const [k] of QUANTILES) s[k] = num(r[k])
  return s
}

async function statsQuery(
  wh: QueryWarehouse,
  table: string,
  p: Plan,
  opts: LatencyOptions,
  grouped: boolean,
  inSql: boolean,
): Promise<Map<string, RawStats>> {
  const d = wh.dialect
  const params: QueryParams = {}
  const base = baseSql(d, table, p, opts, params)
  const quantiles = inSql ? QUANTILES.map(([k, q]) => `, ${d.quantile!('x', q, {approximate: opts.approximate})} AS ${k}`).join('') : ''
  const sql = `SELECT ${grouped ? 'g, ' : ''}COUNT(*) AS n_rows, COUNT(x) AS n, AVG(x) AS mean, MIN(x) AS min, MAX(x) AS max,
    SUM(CASE WHEN x < 0 THEN 1 ELSE 0 END) AS neg, MIN(CASE WHEN x < 0 THEN x END) AS neg_min,
    MIN(CASE WHEN x > 0 THEN x END) AS min_pos${quantiles}
    FROM (${base}) AS r${grouped ? ' GROUP BY g' : ''}`
  const rows = await wh.query(sql, params)
  const out = new Map<string, RawStats>()
  for (const r of rows) out.set(grouped ? groupKey(r.g) : '', statsFromRow(r))
  return out
}

/** Bin edges shared by every table and group of a report, so their histograms compare bar for bar. */
export interface BinEdges {
  scale: BinScale
  n: number
  /** linear: first edge; log: first edge of the positive bins */
  lo: number
  hi: number
  /** log: whether a bin for latencies <= 0 comes first */
  nonPositive: boolean
  nonPositiveMin: number
}

export function binEdges(all: RawStats[], scale: BinScale, n: number): BinEdges | undefined {
  const withRows = all.filter((s) => s.count > 0)
  if (withRows.length === 0) return undefined
  const min = Math.min(...withRows.map((s) => s.min!))
  const max = Math.max(...withRows.map((s) => s.max!))
  if (scale === 'linear') {
    const lo = Math.min(0, min)
    return {scale, n, lo, hi: max > lo ? max : lo + 1, nonPositive: false, nonPositiveMin: 0}
  }
  const positives = withRows.filter((s) => s.minPositive !== null)
  const loP = positives.length ? Math.min(...positives.map((s) => s.minPositive!)) : 1
  return {scale, n, lo: loP, hi: max > loP ? max : loP * 10, nonPositive: min <= 0, nonPositiveMin: min}
}

/** The bins (without counts) of some edges. */
export function binList(e: BinEdges): Bin[] {
  const bins: Bin[] = []
  if (e.scale === 'linear') {
    const w = (e.hi - e.lo) / e.n
    for (let i = 0; i < e.n; i++) bins.push({lo: e.lo + i * w, hi: i === e.n - 1 ? e.hi : e.lo + (i + 1) * w, count: 0})
    return bins
  }
  if (e.nonPositive) bins.push({lo: e.nonPositiveMin, hi: 0, count: 0})
  const r = e.hi / e.lo
  for (let i = 0; i < e.n; i++) bins.push({lo: e.lo * r ** (i / e.n), hi: i === e.n - 1 ? e.hi : e.lo * r ** ((i + 1) / e.n), count: 0})
  return bins
}

async function binQuery(
  wh: QueryWarehouse,
  table: string,
  p: Plan,
  opts: LatencyOptions,
  e: BinEdges,
  grouped: boolean,
): Promise<Map<string, Bin[]>> {
  const d = wh.dialect
  const params: QueryParams = {}
  const base = baseSql(d, table, p, opts, params)
  let idx: string
  if (e.scale === 'linear') {
    params.bin_lo = e.lo
    params.bin_width = (e.hi - e.lo) / e.n
    idx = `LEAST(CAST(FLOOR((x - ${d.param('bin_lo')}) / ${d.param('bin_width')}) AS BIGINT), ${e.n - 1})`
  } else {
    params.bin_lo = e.lo
    params.bin_log_range = Math.log(e.hi / e.lo)
    // below the smallest positive latency (only values <= 0 are) -> -1; otherwise the geometric bin
    idx = `CASE WHEN x <= 0 THEN -1 ELSE LEAST(GREATEST(CAST(FLOOR(LN(x / ${d.param('bin_lo')}) / ${d.param('bin_log_range')} * ${e.n}) AS BIGINT), 0), ${e.n - 1}) END`
  }
  const sql = `SELECT ${grouped ? 'g, ' : ''}${idx} AS bin, COUNT(*) AS n FROM (${base}) AS r WHERE x IS NOT NULL GROUP BY ${grouped ? 'g, ' : ''}bin`
  const rows = await wh.query(sql, params)
  const out = new Map<string, Bin[]>()
  const offset = e.scale === 'log' && e.nonPositive ? 1 : 0
  for (const r of rows) {
    const key = grouped ? groupKey(r.g) : ''
    let bins = out.get(key)
    if (!bins) out.set(key, (bins = binList(e)))
    bins[Number(r.bin) + offset].count += Number(r.n)
  }
  return out
}

async function lateQuery(wh: QueryWarehouse, table: string, p: Plan, opts: LatencyOptions): Promise<LateData> {
  const d = wh.dialect
  const mode = opts.watermark ?? 'max'
  const window = opts.window ?? 'hour'
  const thresholdSeconds = opts.lateThresholdSeconds ?? 600
  const params: QueryParams = {late_threshold: thresholdSeconds}
  const ev = d.quoteIdent(p.eventTime)
  const ing = d.quoteIdent(p.ingestedAt)
  const where = [`${ev} IS NOT NULL`, `${ing} IS NOT NULL`, ...rangeConditions(d, ev, opts, params)]
  let agg: string
  if (mode === 'max') agg = 'MAX(ev)'
  else if (d.quantile) agg = d.quantile('ev', 0.5, {approximate: opts.approximate})
  else throw new UsageError(`--watermark median needs quantiles in the warehouse, which ${wh.kind} does not provide here.`, 'Use --watermark max.')
  // backfilled rows replay history: behind any watermark by design, so they are counted apart, not as late
  const bf = p.loadPath ? `CASE WHEN ${d.quoteIdent(p.loadPath)} = '${BACKFILL_PATH}' THEN 1 ELSE 0 END` : '0'
  const sql = `WITH a AS (SELECT ${d.epochSeconds(ev)} AS ev, ${d.timeBucket(ing, window)} AS w, ${bf} AS bf FROM ${d.table(table)} WHERE ${where.join(' AND ')}),
    r AS (SELECT ev, w FROM a WHERE bf = 0),
    m AS (SELECT w, ${agg} - ${d.param('late_threshold')} AS wm FROM r GROUP BY w)
    SELECT m.w AS w, m.wm AS wm, COUNT(*) AS n, SUM(CASE WHEN r.ev < m.wm THEN 1 ELSE 0 END) AS late, 0 AS backfilled
    FROM r JOIN m ON r.w = m.w GROUP BY m.w, m.wm
    UNION ALL SELECT NULL AS w, NULL AS wm, 0 AS n, 0 AS late, COUNT(*) AS backfilled FROM a WHERE bf = 1`
  const all = await wh.query(sql, params)
  const backfilled = all.filter((r) => r.w === null).reduce((s, r) => s + Number(r.backfilled ?? 0), 0)
  const rows = all.filter((r) => r.w !== null).sort((x, y) => (String(groupKey(x.w)) < String(groupKey(y.w)) ? -1 : 1))
  const windows = rows.map((r) => {
    const n = Number(r.n)
    const late = Number(r.late ?? 0)
    return {
      window: groupKey(r.w),
      watermark: new Date(Math.round(Number(r.wm) * 1000)).toISOString(),
      rows: n,
      late,
      share: n > 0 ? late / n : 0,
    }
  })
  const total = windows.reduce((s, w) => s + w.rows, 0)
  const late = windows.reduce((s, w) => s + w.late, 0)
  return {mode, thresholdSeconds, window, rows: total, late, share: total > 0 ? late / total : 0, backfilled, windows}
}

function finish(s: RawStats, bins: Bin[] | undefined, e: BinEdges | undefined): LatencyStats {
  const {minPositive: _unused, ...rest} = s
  return {...rest, bins: bins ?? (e && s.count > 0 ? binList(e) : [])}
}

/**
 * Latency percentiles, histogram and late data of a table (and optionally a second one side by side),
 * pushed down to the warehouse: counts, mean, min, max, quantiles and bin counts are SQL aggregates; only when
 * the warehouse cannot compute quantiles (or compute: 'client') are they computed here from a bounded-memory
 * HDR histogram fed page by page.
 */
export async function latencyReport(wh: QueryWarehouse, opts: LatencyOptions): Promise<LatencyResult> {
  const d = wh.dialect
  const table = checkTableName(opts.table)
  const compareTable = opts.compareTable ? checkTableName(opts.compareTable) : undefined
  const bins = opts.bins ?? 20
  if (!Number.isInteger(bins) || bins < 1 || bins > 1000) throw new UsageError(`--bins ${bins} is out of range.`, 'Use a whole number from 1 to 1000.')
  const scale = opts.binScale ?? 'linear'
  checkRange(opts)
  const compute = opts.compute ?? (d.quantile ? 'warehouse' : 'client')
  if (compute === 'warehouse' && !d.quantile) {
    throw new UsageError(`The ${wh.kind} warehouse cannot compute quantiles in SQL here.`, 'Use --compute client.')
  }
  const inSql = compute === 'warehouse'
  const tables = [table, ...(compareTable ? [compareTable] : [])]
  const plans = await Promise.all(tables.map((t) => plan(wh, t, opts)))
  // --measure hops: transfer and load per table besides the table's own (end-to-end) statistics
  const hopsOf = opts.measure === 'hops' ? plans.map(({plan: p}) => hopPlans(p)) : undefined

  // pass 1: overall and per-group statistics of every table
  const overall: RawStats[] = []
  const groups: Array<Map<string, RawStats> | undefined> = []
  for (const [i, t] of tables.entries()) {
    const p = plans[i].plan
    const o = (await statsQuery(wh, t, p, opts, false, inSql)).get('') ?? {...emptyStats(), minPositive: null}
    const g = p.groupExpr ? await statsQuery(wh, t, p, opts, true, inSql) : undefined
    if (!inSql) await clientQuantiles(wh, (params) => baseSql(d, t, p, opts, params), o, g, opts.pageSize ?? 50_000)
    overall.push(o)
    groups.push(g)
  }
  const hopStats: Array<Map<Hop, RawStats>> = []
  for (const [i, t] of tables.entries()) {
    const m = new Map<Hop, RawStats>()
    for (const {hop, plan: hp} of hopsOf?.[i] ?? []) {
      if (hop === 'end-to-end') {
        m.set(hop, overall[i])
        continue
      }
      const o = (await statsQuery(wh, t, hp, opts, false, inSql)).get('') ?? {...emptyStats(), minPositive: null}
      if (!inSql) await clientQuantiles(wh, (params) => baseSql(d, t, hp, opts, params), o, undefined, opts.pageSize ?? 50_000)
      m.set(hop, o)
    }
    hopStats.push(m)
  }
  // pass 2: bin counts against edges shared by all tables, groups and hops
  const edges = binEdges([...overall, ...hopStats.flatMap((m) => [...m.values()])], scale, bins)
  const parts: TableLatency[] = []
  for (const [i, t] of tables.entries()) {
    const {plan: p, late} = plans[i]
    const o = overall[i]
    const ob = edges && o.count > 0 ? (await binQuery(wh, t, p, opts, edges, false)).get('') : undefined
    const part: TableLatency = {table: t, ...finish(o, ob, edges), lateData: late ? await lateQuery(wh, t, p, opts) : null}
    if (hopsOf) {
      part.hops = []
      for (const {hop, plan: hp} of hopsOf[i]) {
        const s = hopStats[i].get(hop)!
        const hb = hop === 'end-to-end' ? ob : edges && s.count > 0 ? (await binQuery(wh, t, hp, opts, edges, false)).get('') : undefined
        part.hops.push({hop, definition: `${hp.pair[0]} - ${hp.pair[1]}`, ...finish(s, hb, edges)})
      }
    }
    const g = groups[i]
    if (g) {
      const gb = edges && o.count > 0 ? await binQuery(wh, t, p, opts, edges, true) : new Map<string, Bin[]>()
      let list: LatencyGroup[] = [...g.entries()].map(([key, s]) => ({key, ...finish(s, gb.get(key), edges)}))
      const hourly = opts.groupBy?.toLowerCase() === 'hour'
      list.sort((x, y) => (hourly ? x.key.localeCompare(y.key) : y.count - x.count || x.key.localeCompare(y.key)))
      const max = opts.maxGroups ?? 50
      part.groupsOmitted = Math.max(0, list.length - max)
      list = list.slice(0, max)
      part.groups = list
    }
    parts.push(part)
  }

  const p0 = plans[0].plan
  const [main, compare] = parts
  return {
    warehouse: wh.description,
    measure: p0.measure,
    definition: `${p0.pair[0]} - ${p0.pair[1]}`,
    range: {since: opts.since?.toISOString() ?? null, until: opts.until?.toISOString() ?? null, column: p0.eventTime},
    quantiles: inSql
      ? {
          exact: wh.capabilities.quantiles === 'exact' && !opts.approximate,
          computed: 'warehouse',
          method: wh.kind === 'duckdb' ? (opts.approximate ? 'DuckDB approx_quantile (t-digest)' : 'DuckDB quantile_cont (exact, interpolated)') : `${wh.kind} SQL quantiles`,
        }
      : {exact: false, computed: 'client', method: 'HDR histogram of millisecond-rounded latencies (3 significant digits)'},
    binScale: scale,
    binCount: bins,
    groupBy: p0.groupBy,
    ...main,
    ...(compare ? {compare} : {}),
  }
}
