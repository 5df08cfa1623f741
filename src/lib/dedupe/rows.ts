import {NotFoundError, UsageError, UserError} from '../errors.js'
import {formatTolerance, type Tolerance} from '../reconcile/tolerance.js'
import {checkRange, type TimeRange, utcDay} from '../time.js'
import {checkColumnName, checkTableName, type Dialect, LEDGER_TABLE, type QueryParams, type Row, type QueryWarehouse, type WarehouseTransaction} from '../warehouse/index.js'
import {rangeConditions} from '../warehouse/range.js'

export type KeepPolicy = 'earliest' | 'latest'

export interface RowDedupeSpec {
  table: string
  /** key columns: rows sharing all of them are copies of one record */
  keys: string[]
  keep: KeepPolicy
  /** column deciding which copy survives [default: _ingested_at] */
  ingestedAtColumn: string
  /** event-time column the range applies to [default: event_time] */
  timeColumn: string
  range: TimeRange
  /** how many duplicated keys to show [default 10] */
  samples: number
}

export interface DayDuplicates {
  day: string
  rows: number
  /** copies that --apply would remove (every copy after the one kept) */
  duplicateRows: number
  duplicatedKeys: number
  nullKeyRows: number
}

export interface SourceDuplicates {
  source: string | null
  rows: number
  /** rows of this source that --apply would remove */
  duplicateRows: number
}

export interface SampleKey {
  key: Record<string, string | number | boolean | null>
  copies: number
  firstIngestedAt: string | null
  lastIngestedAt: string | null
}

export interface RowDedupeReport {
  table: string
  keys: string[]
  keep: KeepPolicy
  /** the ORDER BY that decides which copy is kept (first one survives) */
  keepOrder: string
  range: {since: string | null; until: string | null; column: string | null}
  rows: number
  /** rows whose key has a NULL part: never treated as duplicates, reported apart */
  nullKeyRows: number
  nullKeyRowsByColumn: Record<string, number>
  distinctKeys: number
  /** rows beyond the first of their key (what --apply removes) */
  duplicateRows: number
  /** keys that have more than one row */
  duplicatedKeys: number
  maxCopies: number
  perDay: DayDuplicates[]
  /** sources with duplicate rows, most first (at most 20) */
  perSource: SourceDuplicates[]
  sourcesWithDuplicates: number
  sampleKeys: SampleKey[]
}

export interface RowDedupeApplied {
  rowsRemoved: number
  /** counts of the scope (per-day runs: summed over the days changed) */
  before: ScopeCounts
  after: ScopeCounts
  durationMs: number
  /**
   * Per-day runs (BigQuery): one transaction per UTC day holding duplicates within the day, in order.
   * Absent when the whole scope was one transaction (DuckDB).
   */
  perDay?: DayApplied[]
}

export interface ScopeCounts {
  /** rows of the whole table */
  tableRows: number
  /** rows in the time range */
  rows: number
  nullKeyRows: number
  distinctKeys: number
  duplicateRows: number
}

export type DedupeStage = 'counting' | 'deleting' | 'verifying' | 'committing'

export interface RowDedupeHooks {
  /** called inside the --apply transaction as it goes; throwing rolls it back */
  onStage?: (stage: DedupeStage) => void | Promise<void>
  /** per-day runs (BigQuery): called before the transaction of each day (index from 0) */
  onDay?: (day: string, index: number, days: number) => void | Promise<void>
}

const TIE_BREAK = ['_source_uri', '_line']
const PER_SOURCE_LIMIT = 20
const A = '__seneka' // prefix of the aliases used below, never a user column

/** Everything the SQL needs, resolved against the table's real columns. */
export interface RowPlan {
  table: string
  /** quoted key expressions */
  keys: string[]
  where: string
  notNull: string
  orderBy: string
  dayExpr: string | null
  sourceExpr: string | null
  /** the line number within the source object (seneka's _line), when the table has it */
  lineExpr: string | null
  ingestedExpr: string | null
  params: QueryParams
  /** every column of the table, in order */
  columns: string[]
}

/** --key's comma-separated parts: an empty part (`--key _source_uri,`) is a mistake, never silently dropped. */
export function parseKeyList(parts: readonly string[]): string[] {
  const keys = parts.map((k) => k.trim())
  if (keys.length === 0 || keys.some((k) => k === '')) {
    throw new UsageError(`--key "${parts.join(',')}" has an empty part.`, 'List the key columns separated by single commas, e.g. --key partition,offset.')
  }
  return keys
}

/** Default --max-remove: an apply may remove at most half of the rows in scope (a table loaded twice over). */
export const DEFAULT_MAX_REMOVE: Tolerance = {kind: 'percent', value: 50}

/** Refuses an apply that would remove more than `maxRemove` (rows, or a percentage of the rows in scope). */
export function checkRemoveShare(report: Pick<RowDedupeReport, 'rows' | 'duplicateRows'>, maxRemove: Tolerance): void {
  const limit = maxRemove.kind === 'rows' ? maxRemove.value : (report.rows * maxRemove.value) / 100
  if (report.duplicateRows === 0 || report.duplicateRows <= limit) return
  const share = `${((report.duplicateRows / report.rows) * 100).toFixed(1).replace(/\.0$/, '')}%`
  throw new UserError(
    `--apply would remove ${report.duplicateRows.toLocaleString('en-US')} of the ${report.rows.toLocaleString('en-US')} rows in scope (${share}), more than --max-remove ${formatTolerance(maxRemove)}; nothing was changed.`,
    {suggestion: 'Check --key first (a key missing a column makes distinct rows look like copies); if the report is right, run again with a higher --max-remove.'},
  )
}

/** Validates the spec against the table and builds the SQL fragments (portable SQL + the warehouse's dialect). */
export async function planRows(wh: QueryWarehouse, spec: RowDedupeSpec): Promise<RowPlan> {
  checkTableName(spec.table)
  if (spec.keys.length === 0) throw new UsageError('Give at least one key column.', 'For example: --key partition,offset')
  const keys = spec.keys.map((k) => checkColumnName(k, '--key'))
  if (new Set(keys).size !== keys.length) throw new UsageError('--key names a column twice.', 'List each key column once.')
  checkColumnName(spec.ingestedAtColumn, '--ingested-at-column')
  checkColumnName(spec.timeColumn, '--time-column')
  checkRange(spec.range)
  const cols = await wh.tableColumns(spec.table)
  if (!cols) {
    throw new NotFoundError(`The table ${spec.table} does not exist in ${wh.description}.`, 'Check --table and --warehouse (seneka backfill creates tables named <format>_logs by default).')
  }
  const names = new Set(cols.map((c) => c.name))
  const missing = keys.filter((k) => !names.has(k))
  if (missing.length > 0) {
    throw new NotFoundError(`The table ${spec.table} has no column ${missing.map((m) => `"${m}"`).join(', ')}.`, `Its columns are: ${cols.map((c) => c.name).join(', ')}.`)
  }
  const d = wh.dialect
  const q = (n: string): string => d.quoteIdent(n)
  const hasTime = names.has(spec.timeColumn)
  const ranged = spec.range.since !== undefined || spec.range.until !== undefined
  if (ranged && !hasTime) {
    throw new UsageError(`--since/--until apply to the column "${spec.timeColumn}", which ${spec.table} does not have.`, 'Name the event-time column with --time-column.')
  }
  const params: QueryParams = {}
  const conds = rangeConditions(d, q(spec.timeColumn), spec.range, params)
  const hasIngested = names.has(spec.ingestedAtColumn)
  const dir = spec.keep === 'earliest' ? 'ASC' : 'DESC'
  const order: string[] = []
  // NULLs last, written `col IS NULL, col` (the same order; BigQuery's window grammar has no NULLS LAST)
  if (hasIngested) order.push(`${q(spec.ingestedAtColumn)} IS NULL`, `${q(spec.ingestedAtColumn)} ${dir}`)
  const ties = TIE_BREAK.filter((c) => names.has(c) && !keys.includes(c))
  // without provenance columns, every other column breaks ties: identical rows are interchangeable anyway
  const tieCols = ties.length === TIE_BREAK.filter((c) => !keys.includes(c)).length && ties.length > 0 ? ties : cols.map((c) => c.name).filter((c) => !keys.includes(c) && c !== spec.ingestedAtColumn)
  for (const c of tieCols) order.push(`${q(c)} IS NULL`, `${q(c)} ASC`)
  if (order.length === 0) order.push(`${q(keys[0])} ASC`)
  const qkeys = keys.map(q)
  return {
    table: d.table(spec.table),
    keys: qkeys,
    where: conds.length > 0 ? conds.join(' AND ') : 'TRUE',
    notNull: qkeys.map((k) => `${k} IS NOT NULL`).join(' AND '),
    orderBy: order.join(', '),
    dayExpr: hasTime ? d.timeBucket(q(spec.timeColumn), 'day') : null,
    sourceExpr: names.has('_source_uri') ? q('_source_uri') : null,
    lineExpr: names.has('_line') ? q('_line') : null,
    ingestedExpr: hasIngested ? q(spec.ingestedAtColumn) : null,
    params,
    columns: cols.map((c) => c.name),
  }
}

const dayOf = (v: Row[string] | undefined): string => (v instanceof Date ? utcDay(v) : v === null || v === undefined ? 'unknown' : String(v).slice(0, 10))
const num = (v: Row[string] | undefined): number => (v === null || v === undefined ? 0 : Number(v))
const iso = (v: Row[string] | undefined): string | null => (v instanceof Date ? v.toISOString() : v === null || v === undefined ? null : String(v))

/** The report: counts, per day, per source, sample keys. Reads only. */
export async function analyzeRows(wh: QueryWarehouse, spec: RowDedupeSpec): Promise<RowDedupeReport> {
  const p = await planRows(wh, spec)
  const samples = Math.max(0, Math.floor(spec.samples))
  // ONE pass over the table for the counts: the window ranks every row of the scope once (rn > 1 are the
  // copies --apply removes, rn = 2 marks a duplicated key), and one GROUP BY GROUPING SETS gives the days and the
  // sources from it; the outer query keeps the sources shown. Sample keys are a top-N of their own, and only
  // when there are duplicates (as a third grouping set they cost a sort of every distinct key: twice the time)
  const sets = [`(${A}_day)`, ...(p.sourceExpr ? [`(${A}_source)`] : [])]
  const dup = `CASE WHEN ${A}_null = 0 AND ${A}_rn > 1 THEN 1 ELSE 0 END`
  const ing = p.ingestedExpr ?? 'NULL'
  const sql = `WITH ${A}_ranked AS (
    SELECT ${p.dayExpr ?? 'NULL'} AS ${A}_day, ${p.sourceExpr ?? 'NULL'} AS ${A}_source,
      CASE WHEN ${p.notNull} THEN 0 ELSE 1 END AS ${A}_null,
      ${p.keys.map((k, i) => `CASE WHEN ${k} IS NULL THEN 1 ELSE 0 END AS ${A}_n${i}`).join(', ')},
      row_number() OVER (PARTITION BY ${p.keys.join(', ')} ORDER BY ${p.orderBy}) AS ${A}_rn
    FROM ${p.table} WHERE ${p.where}),
  ${A}_sets AS (
    SELECT GROUPING(${A}_day) AS g_day, ${p.sourceExpr ? `GROUPING(${A}_source)` : '1'} AS g_source, ${A}_day AS day, ${p.sourceExpr ? `${A}_source` : 'NULL'} AS source,
      COUNT(*) AS n_rows, SUM(${dup}) AS dup_rows, SUM(CASE WHEN ${A}_null = 0 AND ${A}_rn = 2 THEN 1 ELSE 0 END) AS dup_keys,
      SUM(${A}_null) AS null_rows, MAX(CASE WHEN ${A}_null = 0 THEN ${A}_rn ELSE 0 END) AS max_rn,
      ${p.keys.map((_, i) => `SUM(${A}_n${i}) AS n${i}`).join(', ')}
    FROM ${A}_ranked GROUP BY GROUPING SETS (${sets.join(', ')}))
  SELECT * FROM (
    SELECT s.*,
      SUM(CASE WHEN g_day = 1 AND g_source = 0 AND dup_rows > 0 THEN 1 ELSE 0 END) OVER () AS n_sources,
      ROW_NUMBER() OVER (PARTITION BY g_day, g_source ORDER BY dup_rows DESC, source) AS source_pos
    FROM ${A}_sets AS s) AS x
  WHERE g_day = 0 OR (g_day = 1 AND g_source = 0 AND dup_rows > 0 AND source_pos <= ${PER_SOURCE_LIMIT})`
  const result = await wh.query(sql, p.params)
  const days = result.filter((r) => num(r.g_day) === 0).sort((a, b) => String(dayOf(a.day)).localeCompare(String(dayOf(b.day))))
  const perDay: DayDuplicates[] = days.map((r) => ({
    day: dayOf(r.day),
    rows: num(r.n_rows),
    duplicateRows: num(r.dup_rows),
    duplicatedKeys: num(r.dup_keys),
    nullKeyRows: num(r.null_rows),
  }))
  const sum = (f: (d: DayDuplicates) => number): number => perDay.reduce((s, d) => s + f(d), 0)
  const rows = sum((d) => d.rows)
  const nullKeyRows = sum((d) => d.nullKeyRows)
  const duplicateRows = sum((d) => d.duplicateRows)
  const duplicatedKeys = sum((d) => d.duplicatedKeys)
  // ranks are computed over the whole scope before grouping by day, so the largest is the most copies of a key
  const maxCopies = rows - nullKeyRows > 0 ? Math.max(...days.map((r) => num(r.max_rn))) : 0

  const nullKeyRowsByColumn: Record<string, number> = {}
  spec.keys.forEach((k, i) => {
    const n = days.reduce((t, r) => t + num(r[`n${i}`]), 0)
    if (n > 0) nullKeyRowsByColumn[k] = n
  })

  const sources = result.filter((r) => num(r.g_day) === 1 && num(r.g_source) === 0).sort((a, b) => num(a.source_pos) - num(b.source_pos))
  const perSource: SourceDuplicates[] = sources.map((r) => ({source: r.source === null ? null : String(r.source), rows: num(r.n_rows), duplicateRows: num(r.dup_rows)}))
  const sourcesWithDuplicates = num(result[0]?.n_sources)

  const sampleKeys: SampleKey[] = []
  const keys =
    samples > 0 && duplicateRows > 0
      ? await wh.query(
          `SELECT ${p.keys.map((k, i) => `${k} AS k${i}`).join(', ')}, COUNT(*) AS n_rows, MIN(${ing}) AS first_ing, MAX(${ing}) AS last_ing
      FROM ${p.table} WHERE ${p.where} AND ${p.notNull}
      GROUP BY ${p.keys.join(', ')} HAVING COUNT(*) > 1
      ORDER BY n_rows DESC, ${p.keys.map((_, i) => `k${i}`).join(', ')} LIMIT ${samples}`,
          p.params,
        )
      : []
  for (const r of keys) {
    const key: SampleKey['key'] = {}
    spec.keys.forEach((k, i) => {
      const v = r[`k${i}`]
      key[k] = v instanceof Date ? v.toISOString() : (v ?? null)
    })
    sampleKeys.push({key, copies: num(r.n_rows), firstIngestedAt: iso(r.first_ing), lastIngestedAt: iso(r.last_ing)})
  }

  return {
    table: spec.table,
    keys: spec.keys,
    keep: spec.keep,
    keepOrder: p.orderBy,
    range: {
      since: spec.range.since?.toISOString() ?? null,
      until: spec.range.until?.toISOString() ?? null,
      column: spec.range.since || spec.range.until ? spec.timeColumn : null,
    },
    rows,
    nullKeyRows,
    nullKeyRowsByColumn,
    distinctKeys: rows - nullKeyRows - duplicateRows,
    duplicateRows,
    duplicatedKeys,
    maxCopies,
    perDay,
    perSource,
    sourcesWithDuplicates,
    sampleKeys,
  }
}

async function scopeCounts(tx: WarehouseTransaction, p: RowPlan): Promise<ScopeCounts> {
  const [r] = await tx.query(
    `SELECT
      (SELECT COUNT(*) FROM ${p.table}) AS table_rows,
      (SELECT COUNT(*) FROM ${p.table} WHERE ${p.where}) AS n_rows,
      (SELECT COUNT(*) FROM ${p.table} WHERE ${p.where} AND NOT (${p.notNull})) AS null_rows,
      (SELECT COUNT(*) FROM (SELECT 1 AS one FROM ${p.table} WHERE ${p.where} AND ${p.notNull} GROUP BY ${p.keys.join(', ')}) AS g) AS distinct_keys`,
    p.params,
  )
  const rows = num(r?.n_rows)
  const nullKeyRows = num(r?.null_rows)
  const distinctKeys = num(r?.distinct_keys)
  return {tableRows: num(r?.table_rows), rows, nullKeyRows, distinctKeys, duplicateRows: rows - nullKeyRows - distinctKeys}
}

/** What one --apply transaction did (BigQuery: one per UTC day of the time column). */
export interface DayApplied {
  /** UTC day (YYYY-MM-DD) */
  day: string
  rowsRemoved: number
  before: ScopeCounts
  after: ScopeCounts
  durationMs: number
}

/** The days a per-day --apply committed before a day failed (each of them is deduplicated). */
export class DayByDayError extends UserError {
  constructor(
    readonly failedDay: string,
    readonly daysDone: DayApplied[],
    readonly daysNotStarted: string[],
    cause: unknown,
  ) {
    const done = daysDone.length > 0 ? `${daysDone.length} days were already deduplicated and committed (${daysDone.map((d) => `${d.day}: ${d.rowsRemoved} rows removed`).join(', ')})` : 'no day was committed before it'
    const rest = daysNotStarted.length > 0 ? `; ${daysNotStarted.length} days were not started (${daysNotStarted[0]} .. ${daysNotStarted[daysNotStarted.length - 1]})` : ''
    super(`Removing duplicates of ${failedDay} failed; that day's transaction was rolled back, so the day is unchanged. Before it, ${done}${rest}. The failure: ${(cause as Error)?.message ?? String(cause)}`, {
      suggestion: `Fix the cause, then run again from that day: --since ${failedDay}T00:00:00Z (days already done have no duplicates left and cost only the counts).`,
      cause,
    })
    this.name = 'DayByDayError'
  }
}

/**
 * The ledger entries of the objects that are about to lose lines, lowered by the lines each loses, in the same
 * transaction as the removal (run just before it, with the same ranking): after an apply the ledger, the table
 * and `reconcile --by object` agree. The ledger counts an object's lines once, so a line goes from it only when
 * every copy of it goes (a replayed object's lines: yes; a second copy of a line of the same object: no). Only
 * for tables seneka loaded (with _source_uri, _line and a ledger).
 */
function ledgerUpdate(d: Dialect, p: RowPlan, ledger: string): string {
  const rows = d.quoteIdent('rows')
  return `UPDATE ${d.table(ledger)} AS l SET ${rows} = l.${rows} - g.removed
    FROM (SELECT ${A}_source AS uri, COUNT(*) AS removed FROM (
      SELECT ${A}_source, MIN(${A}_rn) AS ${A}_first FROM (
        SELECT ${p.sourceExpr} AS ${A}_source, ${p.lineExpr} AS ${A}_line, row_number() OVER (PARTITION BY ${p.keys.join(', ')} ORDER BY ${p.orderBy}) AS ${A}_rn
        FROM ${p.table} WHERE ${p.where} AND ${p.notNull}) AS r
      GROUP BY ${A}_source, ${A}_line) AS lines WHERE ${A}_first > 1 GROUP BY ${A}_source) AS g
    WHERE l.target_table = ${d.param('seneka_table')} AND l.object_uri = g.uri`
}

async function dedupeInTransaction(
  wh: QueryWarehouse,
  tx: WarehouseTransaction,
  p: RowPlan,
  spec: RowDedupeSpec,
  deleteRanked: NonNullable<Dialect['deleteRanked']>,
  hooks: RowDedupeHooks,
  ledger: string | null,
): Promise<Omit<DayApplied, 'day' | 'durationMs'>> {
  await hooks.onStage?.('counting')
  const before = await scopeCounts(tx, p)
  await hooks.onStage?.('deleting')
  if (before.duplicateRows > 0 && ledger) await tx.query(ledgerUpdate(wh.dialect, p, ledger), {...p.params, seneka_table: spec.table})
  if (before.duplicateRows > 0) {
    await tx.query(deleteRanked(spec.table, {partitionBy: p.keys, orderBy: p.orderBy, where: `${p.where} AND ${p.notNull}`, columns: p.columns}), p.params)
  }
  await hooks.onStage?.('verifying')
  const after = await scopeCounts(tx, p)
  const problems: string[] = []
  if (after.duplicateRows !== 0) problems.push(`${after.duplicateRows} duplicate rows are left`)
  if (after.distinctKeys !== before.distinctKeys) problems.push(`distinct keys changed from ${before.distinctKeys} to ${after.distinctKeys}`)
  if (after.nullKeyRows !== before.nullKeyRows) problems.push(`rows with NULL key parts changed from ${before.nullKeyRows} to ${after.nullKeyRows}`)
  if (before.tableRows - after.tableRows !== before.duplicateRows) problems.push(`${before.tableRows - after.tableRows} rows were removed instead of ${before.duplicateRows}`)
  if (problems.length > 0) {
    throw new UserError(`Verification after removing duplicates failed (${problems.join('; ')}); the transaction was rolled back and ${wh.capabilities.dmlPartitioned ? 'its day is' : 'the table is'} unchanged.`, {
      suggestion: 'Check whether another process writes to the table, then run again.',
    })
  }
  await hooks.onStage?.('committing')
  return {rowsRemoved: before.tableRows - after.tableRows, before, after}
}

/** UTC days (YYYY-MM-DD) in scope that hold duplicates within the day: the only days a per-day pass changes. */
async function daysWithDuplicates(wh: QueryWarehouse, p: RowPlan): Promise<string[]> {
  if (!p.dayExpr) return []
  const rows = await wh.query(
    `SELECT ${A}_day AS day, SUM(${A}_n - 1) AS dup_rows FROM (
      SELECT ${p.dayExpr} AS ${A}_day, COUNT(*) AS ${A}_n FROM ${p.table} WHERE ${p.where} AND ${p.notNull}
      GROUP BY ${A}_day, ${p.keys.join(', ')}) AS g
    GROUP BY ${A}_day HAVING SUM(${A}_n - 1) > 0 ORDER BY ${A}_day`,
    p.params,
  )
  return rows.map((r) => (r.day instanceof Date ? utcDay(r.day) : String(r.day).slice(0, 10)))
}

/** The plan narrowed to one UTC day of the time column (on top of --since/--until). */
function dayPlan(wh: QueryWarehouse, p: RowPlan, spec: RowDedupeSpec, day: string): RowPlan {
  const d = wh.dialect
  const start = new Date(`${day}T00:00:00Z`)
  const col = d.quoteIdent(spec.timeColumn)
  return {
    ...p,
    where: `${p.where} AND ${col} >= ${d.timestampParam('seneka_day_start')} AND ${col} < ${d.timestampParam('seneka_day_end')}`,
    params: {...p.params, seneka_day_start: start, seneka_day_end: new Date(start.getTime() + 86_400_000)},
  }
}

/**
 * Removes duplicates in ONE transaction: counts, deletes every copy after the first of its key (by the keep
 * order), counts again and verifies that no duplicate is left, that the number of distinct keys and of NULL-key
 * rows is unchanged, and that exactly the duplicate rows went; anything else rolls the whole thing back.
 *
 * On warehouses whose DML is limited (capabilities.dmlPartitioned: BigQuery) the same runs once per UTC day of the
 * time column that holds duplicates within the day, one day after the other, each day all-or-nothing; copies of
 * one key that fall on different days are not removed by that pass. A failing day stops the run with a
 * DayByDayError naming the days already committed.
 */
export async function applyRows(wh: QueryWarehouse, spec: RowDedupeSpec, hooks: RowDedupeHooks = {}): Promise<RowDedupeApplied> {
  const deleteRanked = wh.dialect.deleteRanked?.bind(wh.dialect)
  const transaction = wh.transaction?.bind(wh)
  if (!deleteRanked || !transaction) {
    throw new UserError(`dedupe --apply is not supported on ${wh.kind} warehouses yet.`, {suggestion: 'Run without --apply for the report.'})
  }
  const p = await planRows(wh, spec)
  const ledger = p.sourceExpr && p.lineExpr && (await wh.tableExists(LEDGER_TABLE)) ? LEDGER_TABLE : null
  const started = Date.now()
  if (!wh.capabilities.dmlPartitioned || !p.dayExpr) {
    const r = await transaction((tx) => dedupeInTransaction(wh, tx, p, spec, deleteRanked, hooks, ledger))
    return {...r, durationMs: Date.now() - started}
  }
  const days = await daysWithDuplicates(wh, p)
  const done: DayApplied[] = []
  for (const [i, day] of days.entries()) {
    await hooks.onDay?.(day, i, days.length)
    const dayStarted = Date.now()
    try {
      const r = await transaction((tx) => dedupeInTransaction(wh, tx, dayPlan(wh, p, spec, day), spec, deleteRanked, hooks, ledger))
      done.push({day, ...r, durationMs: Date.now() - dayStarted})
    } catch (err) {
      throw new DayByDayError(day, done, days.slice(i + 1), err)
    }
  }
  const sum = (f: (c: ScopeCounts) => number, side: 'before' | 'after'): number => done.reduce((s, d) => s + f(d[side]), 0)
  const counts = (side: 'before' | 'after'): ScopeCounts => ({
    tableRows: side === 'before' ? (done[0]?.before.tableRows ?? 0) : (done.at(-1)?.after.tableRows ?? 0),
    rows: sum((c) => c.rows, side),
    nullKeyRows: sum((c) => c.nullKeyRows, side),
    distinctKeys: sum((c) => c.distinctKeys, side),
    duplicateRows: sum((c) => c.duplicateRows, side),
  })
  return {rowsRemoved: done.reduce((s, d) => s + d.rowsRemoved, 0), before: counts('before'), after: counts('after'), durationMs: Date.now() - started, perDay: done}
}
