import {checkOutcome} from '../checks.js'
import {NotFoundError, UsageError, UserError} from '../errors.js'
import {ExitCode} from '../exit-codes.js'
import {EVENT_TIME_COLUMN, LINE_COLUMN, SOURCE_URI_COLUMN, type Column} from '../formats/types.js'
import type {StoreFactories, StoreOptions} from '../store/index.js'
import {checkRange, formatDuration} from '../time.js'
import {type BigQuerySettings, checkColumnName, checkTableName, openWarehouse} from '../warehouse/index.js'
import type {QueryParams, QueryWarehouse, Row} from '../warehouse/types.js'
import {type BucketCount, compareBuckets, compareObjects, type LedgerInfo, type ObjectCount, summarize, totalsOf, bucketStatus} from './compare.js'
import {type BuiltQuery, bucketCountQuery, explainQuery, floorToBucket, objectCountQuery, UNIT_MS} from './query.js'
import {EXACT, type Tolerance} from './tolerance.js'
import type {BucketReport, BucketUnit, Explain, ObjectReport, QueryRecord, ReconcileBy, ReconcileResult, Side, Watermark} from './types.js'
import {countSourceLines} from './verify.js'

export interface ReconcileOptions {
  /** warehouse URI (reconcile only reads: DuckDB files are opened read-only) */
  warehouse: string
  batchTable: string
  streamTable: string
  since: Date
  /** exclusive; default: now */
  until?: Date
  /** minute | hour | day buckets of the time column, or object (the provenance column) */
  by: ReconcileBy
  /** default event_time */
  timeColumn?: string
  groupBy?: string
  /** default _source_uri */
  sourceColumn?: string
  /** default _line; duplicate lines are only looked for on a side whose table has this column */
  lineColumn?: string
  /** leave out rows at or after now - settle (rounded down to its bucket) */
  settleMs?: number
  tolerance?: Tolerance
  /** an instant inside the bucket to explain (bucket modes) */
  explain?: Date
  /** --by object: count the lines of each source object too */
  verifySource?: boolean
  /** --by object: rows are counted this far outside the range so objects on its edges are counted whole */
  objectMarginMs?: number
  storeOptions?: StoreOptions
  storeFactories?: StoreFactories
  /** BigQuery: every query is dry-run first and capped at maxBytesBilled (see the warehouse) */
  bigquery?: BigQuerySettings
  /** the clock (tests) */
  now?: Date
}

export const DEFAULT_OBJECT_MARGIN_MS = 3_600_000

/** Opens the warehouse read-only, reconciles the two tables, closes it. */
export async function reconcile(opts: ReconcileOptions): Promise<ReconcileResult> {
  validateOptions(opts)
  const wh = await openWarehouse(opts.warehouse, {readOnly: true, bigquery: opts.bigquery})
  try {
    return await reconcileWith(wh, opts)
  } finally {
    await wh.close()
  }
}

function validateOptions(opts: ReconcileOptions): void {
  if (opts.by === 'object') {
    if (opts.groupBy) throw new UsageError('--group-by applies to time buckets, not to --by object.', 'Drop --group-by, or use --by minute|hour|day.')
    if (opts.explain) throw new UsageError('--explain applies to time buckets; --by object already lists objects.', 'Use --by hour (or minute|day) with --explain.')
  } else if (opts.verifySource) {
    throw new UsageError('--verify-source needs --by object.', 'Add --by object to count the lines of each source object.')
  }
  checkTableName(opts.batchTable)
  checkTableName(opts.streamTable)
  if (opts.timeColumn) checkColumnName(opts.timeColumn, '--time-column')
  if (opts.groupBy) checkColumnName(opts.groupBy, '--group-by')
  if (opts.sourceColumn) checkColumnName(opts.sourceColumn, '--source-column')
  if (opts.lineColumn) checkColumnName(opts.lineColumn, '--line-column')
}

/** The comparison itself, on an open warehouse (benchmarks and tests call this directly). */
export async function reconcileWith(wh: QueryWarehouse, opts: ReconcileOptions): Promise<ReconcileResult> {
  const started = performance.now()
  validateOptions(opts)
  const now = opts.now ?? new Date()
  const until = opts.until ?? now
  checkRange({since: opts.since, until})
  const tolerance = opts.tolerance ?? EXACT
  const timeColumn = opts.timeColumn ?? EVENT_TIME_COLUMN
  const sourceColumn = opts.sourceColumn ?? SOURCE_URI_COLUMN

  // late data: leave out the most recent window
  let watermark: Watermark | null = null
  let effectiveUntil = until
  if (opts.settleMs !== undefined && opts.settleMs > 0) {
    const raw = new Date(now.getTime() - opts.settleMs)
    const at = opts.by === 'object' ? raw : floorToBucket(raw, opts.by)
    watermark = {settleMs: opts.settleMs, now: now.toISOString(), at: at.toISOString()}
    if (at.getTime() < effectiveUntil.getTime()) effectiveUntil = at
    if (effectiveUntil.getTime() <= opts.since.getTime()) {
      throw new UsageError(
        `Nothing is left to compare: --settle ${formatDuration(opts.settleMs)} puts the watermark at ${at.toISOString()}, not after --since ${opts.since.toISOString()}.`,
        'Give an earlier --since, or a shorter --settle.',
      )
    }
  }
  const range = {since: opts.since, until: effectiveUntil}

  // tables and columns: clear errors before any counting
  const tables: Record<Side, string> = {batch: opts.batchTable, stream: opts.streamTable}
  const columns = {} as Record<Side, Column[]>
  const found = {batch: await wh.tableColumns(tables.batch), stream: await wh.tableColumns(tables.stream)}
  const missing = (['batch', 'stream'] as const).filter((side) => !found[side])
  if (missing.length === 2) {
    throw new NotFoundError(`Neither the batch table ${tables.batch} nor the stream table ${tables.stream} exists in ${wh.description}.`, 'Check --batch-table, --stream-table and --warehouse.')
  }
  if (missing.length === 1) {
    const [side] = missing
    throw new NotFoundError(`The ${side} table ${tables[side]} does not exist in ${wh.description}.`, `Check --${side}-table and --warehouse.`)
  }
  for (const side of ['batch', 'stream'] as const) {
    const cols = found[side]!
    columns[side] = cols
    const time = requireColumn(cols, timeColumn, side, tables[side], '--time-column')
    if (time.type !== 'timestamp') {
      throw new UsageError(`The column ${timeColumn} of ${tables[side]} is ${time.type}, not a timestamp.`, 'Point --time-column at a TIMESTAMP column holding the event time.')
    }
    if (opts.groupBy) requireColumn(cols, opts.groupBy, side, tables[side], '--group-by')
    if (opts.by === 'object' || opts.explain) requireColumn(cols, sourceColumn, side, tables[side], '--source-column')
  }

  const queries: QueryRecord[] = []
  const run = async (side: QueryRecord['side'], q: BuiltQuery): Promise<Row[]> => {
    queries.push({side, sql: q.sql, params: printable(q.params)})
    return wh.query(q.sql, q.params)
  }
  const base = {
    warehouse: wh.description,
    batchTable: opts.batchTable,
    streamTable: opts.streamTable,
    timeColumn,
    since: opts.since.toISOString(),
    until: until.toISOString(),
    effectiveUntil: effectiveUntil.toISOString(),
    watermark,
    tolerance,
  }

  if (opts.by === 'object') {
    const lineColumn = opts.lineColumn ?? LINE_COLUMN
    const marginMs = opts.objectMarginMs ?? DEFAULT_OBJECT_MARGIN_MS
    const counts = {} as Record<Side, ObjectCount[]>
    const ledgers = {} as Record<Side, Map<string, LedgerInfo>>
    let anyLine = false
    for (const side of ['batch', 'stream'] as const) {
      const hasLine = columns[side].some((c) => c.name === lineColumn)
      anyLine ||= hasLine
      const rows = await run(side, objectCountQuery(wh.dialect, {table: tables[side], timeColumn, sourceColumn, lineColumn: hasLine ? lineColumn : null, range, marginMs}))
      counts[side] = rows.map((r) => ({object: r.object === null ? null : String(r.object), n: Number(r.n), dup: hasLine ? Number(r.dup) : null}))
      ledgers[side] = await wh.readLedger(tables[side])
    }
    let sources = null
    if (opts.verifySource) {
      const uris = new Set<string>()
      for (const side of ['batch', 'stream'] as const) for (const c of counts[side]) if (c.object !== null) uris.add(c.object)
      sources = await countSourceLines([...uris].sort(), {storeOptions: opts.storeOptions, storeFactories: opts.storeFactories})
      // a source check that could not run is an error, not a difference from the source
      const unread = [...sources].filter(([, info]) => info.unavailable)
      if (unread.length > 0) {
        const [uri, info] = unread[0]
        throw new UserError(
          `Could not read ${unread.length} of ${sources.size} source objects to count their lines (first: ${uri}: ${String(info.error).replace(/\.$/, '')}), so --verify-source did not run.`,
          {suggestion: 'Check the object store endpoint, credentials and network, then run again (or run without --verify-source).', exitCode: ExitCode.ERROR},
        )
      }
    }
    const rows = compareObjects(counts.batch, counts.stream, ledgers, sources, tolerance)
    const summary = summarize(rows)
    const totals = totalsOf(rows.map((r) => ({batch: r.batch?.rows ?? 0, stream: r.stream?.rows ?? 0})))
    const report: ObjectReport = {
      ...base,
      by: 'object',
      sourceColumn,
      lineColumn: anyLine ? lineColumn : null,
      objectMarginMs: marginMs,
      verifiedSource: Boolean(opts.verifySource),
      rows,
      totals,
      summary,
      ...verdict(summary),
      queries,
      durationMs: Math.round(performance.now() - started),
    }
    return report
  }

  const unit: BucketUnit = opts.by
  const counts = {} as Record<Side, BucketCount[]>
  for (const side of ['batch', 'stream'] as const) {
    const rows = await run(side, bucketCountQuery(wh.dialect, {table: tables[side], timeColumn, unit, groupBy: opts.groupBy, range}))
    counts[side] = rows.map((r) => ({bucket: isoFromEpochSeconds(r.bucket), group: opts.groupBy ? groupValue(r.grp) : null, n: Number(r.n)}))
  }
  const rows = compareBuckets(counts.batch, counts.stream, tolerance)
  let explain: Explain | null = null
  if (opts.explain) explain = await explainBucket(opts.explain, unit, range, {tables, timeColumn, sourceColumn, groupBy: opts.groupBy ?? null, wh, run})
  const summary = summarize(rows)
  const report: BucketReport = {
    ...base,
    by: unit,
    groupBy: opts.groupBy ?? null,
    rows,
    explain,
    totals: totalsOf(rows),
    summary,
    ...verdict(summary),
    queries,
    durationMs: Math.round(performance.now() - started),
  }
  return report
}

async function explainBucket(
  at: Date,
  unit: BucketUnit,
  range: {since: Date; until: Date},
  ctx: {
    tables: Record<Side, string>
    timeColumn: string
    sourceColumn: string
    groupBy: string | null
    wh: QueryWarehouse
    run: (side: QueryRecord['side'], q: BuiltQuery) => Promise<Row[]>
  },
): Promise<Explain> {
  const start = floorToBucket(at, unit)
  const end = new Date(start.getTime() + UNIT_MS[unit])
  if (end.getTime() <= range.since.getTime() || start.getTime() >= range.until.getTime()) {
    throw new UsageError(
      `--explain ${at.toISOString()} is outside the range compared [${range.since.toISOString()}, ${range.until.toISOString()}).`,
      'Give the start of one of the buckets in the report.',
    )
  }
  const lo = new Date(Math.max(start.getTime(), range.since.getTime()))
  const hi = new Date(Math.min(end.getTime(), range.until.getTime()))
  const per = new Map<string, {object: string | null; group: string | null; batch: number; stream: number}>()
  for (const side of ['batch', 'stream'] as const) {
    const q = explainQuery(ctx.wh.dialect, {table: ctx.tables[side], timeColumn: ctx.timeColumn, sourceColumn: ctx.sourceColumn, groupBy: ctx.groupBy, range: {since: lo, until: hi}})
    for (const r of await ctx.run(side === 'batch' ? 'explain-batch' : 'explain-stream', q)) {
      const object = r.object === null ? null : String(r.object)
      const group = ctx.groupBy ? groupValue(r.grp) : null
      const k = `${object ?? '\u0001'}\u0000${group ?? '\u0001'}`
      const e = per.get(k) ?? {object, group, batch: 0, stream: 0}
      e[side] += Number(r.n)
      per.set(k, e)
    }
  }
  const objects = [...per.values()]
    .map((e) => ({...e, difference: e.stream - e.batch, status: bucketStatus(e.batch, e.stream)}))
    // mismatches first, then by object
    .sort((a, b) => Number(a.status === 'ok') - Number(b.status === 'ok') || String(a.object).localeCompare(String(b.object)) || String(a.group).localeCompare(String(b.group)))
  return {bucket: start.toISOString(), bucketEnd: end.toISOString(), objects}
}

function requireColumn(cols: Column[], name: string, side: Side, table: string, flag: string): Column {
  const c = cols.find((x) => x.name === name)
  if (c) return c
  const names = cols.map((x) => x.name)
  const shown = names.length > 12 ? `${names.slice(0, 12).join(', ')} ...` : names.join(', ')
  throw new NotFoundError(`The ${side} table ${table} has no column ${name} (${flag}).`, `Its columns are: ${shown}.`)
}

function isoFromEpochSeconds(v: Row[string]): string {
  if (v instanceof Date) return v.toISOString()
  return new Date(Math.round(Number(v) * 1000)).toISOString()
}

function groupValue(v: Row[string] | undefined): string | null {
  if (v === null || v === undefined) return null
  if (v instanceof Date) return v.toISOString()
  return String(v)
}

function printable(params: QueryParams): Record<string, string> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : String(v)]))
}

/** Passed, or NO DATA (nothing compared: the shared rule of the checks, see lib/checks.ts). */
function verdict(summary: {compared: number; mismatched: number}): {passed: boolean; noData: boolean} {
  const outcome = checkOutcome(summary.compared, summary.mismatched > 0)
  return {passed: outcome === 'pass', noData: outcome === 'no-data'}
}
