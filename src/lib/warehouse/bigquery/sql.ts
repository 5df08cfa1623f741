import type {Column, ColumnType} from '../../formats/types.js'
import {LOAD_JOBS_PER_TABLE_PER_DAY} from '../../cost/quotas.js'
import {checkColumnName, checkTableName} from '../../identifiers.js'
import {type Dialect, LEDGER_TABLE, type LedgerEntry, REJECTS_TABLE, type Row} from '../types.js'

/**
 * Every SQL statement the BigQuery warehouse generates is built here, from validated identifiers, so the
 * tests can parse each one as BigQuery SQL.
 */

/** Logical column type -> BigQuery type (json stays text, as on DuckDB, so both engines compare equal). */
export const BQ_TYPES: Record<ColumnType, string> = {
  string: 'STRING',
  int: 'INT64',
  bigint: 'INT64',
  double: 'FLOAT64',
  timestamp: 'TIMESTAMP',
  json: 'STRING',
}

/** BigQuery (legacy REST) type names -> logical type. */
export function fromBqType(type: string): ColumnType {
  switch (type.toUpperCase()) {
    case 'INTEGER':
    case 'INT64':
      return 'bigint'
    case 'FLOAT':
    case 'FLOAT64':
    case 'NUMERIC':
    case 'BIGNUMERIC':
      return 'double'
    case 'TIMESTAMP':
    case 'DATETIME':
      return 'timestamp'
    case 'JSON':
      return 'json'
    default:
      return 'string'
  }
}

export function quoteIdent(name: string): string {
  return `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``
}

/** The BigQuery dialect of a warehouse: unqualified table names resolve to project.dataset. */
export function bigQueryDialect(project: string, dataset: string): Dialect {
  const d: Dialect = {
    quoteIdent,
    table: (name) => {
      const parts = checkTableName(name).split('.')
      const [ds, t] = parts.length === 2 ? parts : [dataset, parts[0]]
      return `\`${project}.${ds}.${t}\``
    },
    param: (name) => `@${checkColumnName(name, 'parameter')}`,
    timeBucket: (expr, unit) => `TIMESTAMP_TRUNC(${expr}, ${unit.toUpperCase()})`,
    epochSeconds: (expr) => `(UNIX_MICROS(${expr}) / 1e6)`,
    timestampParam: (name) => `CAST(@${checkColumnName(name, 'parameter')} AS TIMESTAMP)`,
    // APPROX_QUANTILES ignores NULLs; 1000 buckets give 0.1% rank resolution. BigQuery has no exact
    // percentile aggregate (PERCENTILE_CONT is an analytic function only), so quantiles are always approximate.
    quantile: (expr, q) => `APPROX_QUANTILES(${expr}, 1000)[OFFSET(${Math.min(1000, Math.max(0, Math.round(Number(q) * 1000)))})]`,
    // No rowid in BigQuery, and byte-identical copies have no column that tells them apart: one MERGE
    // rewrites the rows in scope as one row per key (the first by the keep order). `ON FALSE` makes every
    // source row an INSERT and every target row in scope a DELETE, in one atomic, DDL-free statement (so it
    // can be dry-run). The source's columns carry other names, so the DELETE condition's unqualified columns
    // can only mean the target's.
    deleteRanked: (table, {partitionBy, orderBy, where, columns}) => {
      const t = d.table(table)
      const alias = (c: string) => quoteIdent(`__seneka_${c}`)
      const source = `SELECT ${columns.map((c) => `${quoteIdent(c)} AS ${alias(c)}`).join(', ')} FROM ${t} WHERE (${where}) QUALIFY ROW_NUMBER() OVER (PARTITION BY ${partitionBy.join(', ')} ORDER BY ${orderBy}) = 1`
      return (
        `MERGE INTO ${t} AS __seneka_t USING (${source}) AS __seneka_s ON FALSE ` +
        `WHEN NOT MATCHED BY SOURCE AND (${where}) THEN DELETE ` +
        `WHEN NOT MATCHED THEN INSERT (${columns.map(quoteIdent).join(', ')}) VALUES (${columns.map((c) => `__seneka_s.${alias(c)}`).join(', ')})`
      )
    },
  }
  return d
}

/** BigQuery's per-table daily limit on load jobs (failed ones count too). */
export const DAILY_LOAD_JOBS_PER_TABLE = LOAD_JOBS_PER_TABLE_PER_DAY

/** Extra columns of the staging table: one staging table carries rows, rejected lines and ledger entries. */
export const STAGING_EXTRA: Column[] = [
  {name: '_stg_kind', type: 'string'},
  {name: '_stg_reason', type: 'string'},
  {name: '_stg_raw', type: 'string'},
  {name: '_stg_etag', type: 'string'},
  {name: '_stg_size', type: 'bigint'},
  {name: '_stg_rows', type: 'bigint'},
  {name: '_stg_rejected', type: 'bigint'},
  {name: '_stg_sequencer', type: 'string'},
  {name: '_stg_min_event', type: 'timestamp'},
  {name: '_stg_max_event', type: 'timestamp'},
]

export interface BqField {
  name: string
  type: string
  mode?: 'NULLABLE' | 'REQUIRED'
}

export function bqSchema(columns: readonly Column[]): BqField[] {
  return columns.map((c) => ({name: c.name, type: BQ_TYPES[c.type], mode: 'NULLABLE'}))
}

export const LEDGER_SCHEMA: BqField[] = [
  {name: 'target_table', type: 'STRING', mode: 'REQUIRED'},
  {name: 'object_uri', type: 'STRING', mode: 'REQUIRED'},
  {name: 'etag', type: 'STRING', mode: 'REQUIRED'},
  {name: 'size', type: 'INT64'},
  {name: 'last_modified', type: 'TIMESTAMP'},
  {name: 'rows', type: 'INT64'},
  {name: 'rejected', type: 'INT64'},
  {name: 'load_id', type: 'STRING'},
  {name: 'path', type: 'STRING'},
  {name: 'loaded_at', type: 'TIMESTAMP'},
  {name: 'sequencer', type: 'STRING'},
  /** event-time range of the object's rows (NULL when unknown or some rows have no event time) */
  {name: 'min_event_time', type: 'TIMESTAMP'},
  {name: 'max_event_time', type: 'TIMESTAMP'},
  /**
   * Write API path (the ledger is appended to, several rows per object): 'intent' (the object's rows sit in a
   * finalized PENDING stream, not yet known committed), 'committed', 'abandoned'. NULL: a load-jobs entry.
   */
  {name: 'state', type: 'STRING'},
  /** the PENDING write stream holding the object's rows (Write API path) */
  {name: 'stream', type: 'STRING'},
  /** the PENDING write stream holding its rejected lines, if any */
  {name: 'reject_stream', type: 'STRING'},
  /**
   * the offset of the object's first row in its stream (Write API path: objects of a group share one stream,
   * each at its own offset range, `rows` long)
   */
  {name: 'stream_offset', type: 'INT64'},
  /** how many objects share `stream` (their intents are recorded together: a settler that sees fewer waits) */
  {name: 'stream_objects', type: 'INT64'},
  /**
   * the objects of a stream's group, as a JSON array of URIs: on the group's own row ('group' state, object_uri
   * `stream:<name>`), appended with its intents, so a settler finds a stream's other objects by a clustered look-up
   */
  {name: 'stream_members', type: 'STRING'},
]

export const REJECTS_SCHEMA: BqField[] = [
  {name: 'target_table', type: 'STRING', mode: 'REQUIRED'},
  {name: 'object_uri', type: 'STRING', mode: 'REQUIRED'},
  {name: 'line', type: 'INT64'},
  {name: 'reason', type: 'STRING'},
  {name: 'raw', type: 'STRING'},
  {name: 'load_id', type: 'STRING'},
  {name: 'rejected_at', type: 'TIMESTAMP'},
]

const q = quoteIdent

/** Ledger entries of a table under a URI prefix (readLedger, when the ledger is too large to page for free). */
export function ledgerSelectSql(d: Dialect): string {
  return `SELECT ${LEDGER_SCHEMA.map((f) => q(f.name)).join(', ')} FROM ${d.table(LEDGER_TABLE)} WHERE target_table = @table AND STARTS_WITH(object_uri, @prefix)`
}

/**
 * The version the table holds of each object under a URI prefix (@table, @prefix), one row per object: what
 * currentEntries (write-api/ledger.ts) makes of the appended ledger, in SQL, so a huge ledger is reduced by
 * BigQuery and paged (backfill planned from an inventory): committed rows only (state NULL, a load-jobs entry,
 * or 'committed'; never an intent), none whose stream was abandoned afterwards, the latest per object.
 */
export function ledgerVersionsSql(d: Dialect): string {
  return `SELECT object_uri, etag FROM (
  SELECT object_uri, etag, state, stream, loaded_at, MAX(CASE WHEN state = 'abandoned' THEN 1 ELSE 0 END) OVER (PARTITION BY object_uri, stream) AS abandoned
  FROM ${d.table(LEDGER_TABLE)} WHERE target_table = @table AND STARTS_WITH(object_uri, @prefix) AND (state IS NULL OR state IN ('committed', 'abandoned'))
) WHERE COALESCE(state, 'committed') = 'committed' AND (stream IS NULL OR abandoned = 0)
QUALIFY ROW_NUMBER() OVER (PARTITION BY object_uri ORDER BY loaded_at DESC) = 1`
}

/** Ledger entries of the objects of one batch (checked right before the batch is merged). */
export function ledgerCheckSql(d: Dialect): string {
  return `SELECT ${LEDGER_SCHEMA.map((f) => q(f.name)).join(', ')} FROM ${d.table(LEDGER_TABLE)} WHERE target_table = @table AND object_uri IN UNNEST(@uris)`
}

/**
 * The statements of one batch merge, run as ONE multi-statement transaction (a script). Keyed by the
 * ledger: an object is applied only if its ledger entry still carries the load id seen when the batch was
 * checked (@expected: ARRAY<STRUCT<uri STRING, prev STRING, load STRING, etag STRING>>, prev '' = no entry).
 * Re-running the same script after a commit whose reply was lost applies nothing twice: the ledger then
 * carries this batch's load id, and the last statement reports the object as applied all the same.
 * Replaced objects lose their old rows and rejects in the same transaction.
 *
 * The script is DDL-free (no temporary table): BigQuery's dry run of a script stops at its first DDL
 * statement (and cannot dry-run CREATE TEMP TABLE at all), so a script without DDL is estimated whole, every
 * billed statement included. The set of applied objects is the same subquery in every statement; it reads
 * the ledger, which only the last DML statement (the MERGE) changes.
 *
 * With `replaceRange`, the DELETE of replaced rows is bounded by @replace_since/@replace_until, the event-time
 * range of the rows being replaced (recorded in their ledger entries; @replace_until exclusive): a constant filter on the partition
 * column, so BigQuery reads only those days instead of every partition.
 */
export function mergeBatchStatements(
  d: Dialect,
  opts: {table: string; staging: string; columns: readonly Column[]; replacing: boolean; replaceRange?: boolean; partitionColumn?: string},
): string[] {
  const target = d.table(opts.table)
  const stg = d.table(opts.staging)
  const ledger = d.table(LEDGER_TABLE)
  const rejects = d.table(REJECTS_TABLE)
  const eligible = `SELECT e.uri FROM UNNEST(@expected) AS e LEFT JOIN ${ledger} AS l ON l.target_table = @table AND l.object_uri = e.uri WHERE COALESCE(l.load_id, '') = e.prev`
  const applied = `(${eligible})`
  const cols = opts.columns.map((c) => q(c.name))
  const values = opts.columns.map((c) => (c.name === '_ingested_at' ? 'CURRENT_TIMESTAMP()' : `s.${q(c.name)}`))
  const out = ['BEGIN TRANSACTION']
  if (opts.replacing) {
    const replaced = `(${eligible} AND e.prev <> '')`
    const part = q(checkColumnName(opts.partitionColumn ?? 'event_time'))
    const bound = opts.replaceRange ? `${part} >= ${d.timestampParam('replace_since')} AND ${part} < ${d.timestampParam('replace_until')} AND ` : ''
    out.push(
      `DELETE FROM ${target} WHERE ${bound}_source_uri IN ${replaced}`,
      `DELETE FROM ${rejects} WHERE target_table = @table AND object_uri IN ${replaced}`,
    )
  }
  out.push(
    `INSERT INTO ${target} (${cols.join(', ')}) SELECT ${values.join(', ')} FROM ${stg} AS s WHERE s._stg_kind = 'row' AND s._source_uri IN ${applied}`,
    `INSERT INTO ${rejects} (target_table, object_uri, line, reason, raw, load_id, rejected_at) SELECT @table, s._source_uri, s._line, s._stg_reason, s._stg_raw, s._load_id, CURRENT_TIMESTAMP() FROM ${stg} AS s WHERE s._stg_kind = 'reject' AND s._source_uri IN ${applied}`,
    `MERGE ${ledger} AS l USING (SELECT _source_uri, _load_id, _load_path, _object_modified_at, _stg_etag, _stg_size, _stg_rows, _stg_rejected, _stg_sequencer, _stg_min_event, _stg_max_event FROM ${stg} WHERE _stg_kind = 'object' AND _source_uri IN ${applied}) AS s ON l.target_table = @table AND l.object_uri = s._source_uri ` +
      `WHEN MATCHED THEN UPDATE SET etag = s._stg_etag, size = s._stg_size, last_modified = s._object_modified_at, \`rows\` = s._stg_rows, rejected = s._stg_rejected, load_id = s._load_id, path = s._load_path, loaded_at = CURRENT_TIMESTAMP(), sequencer = s._stg_sequencer, min_event_time = s._stg_min_event, max_event_time = s._stg_max_event ` +
      `WHEN NOT MATCHED THEN INSERT (target_table, object_uri, etag, size, last_modified, \`rows\`, rejected, load_id, path, loaded_at, sequencer, min_event_time, max_event_time) VALUES (@table, s._source_uri, s._stg_etag, s._stg_size, s._object_modified_at, s._stg_rows, s._stg_rejected, s._load_id, s._load_path, CURRENT_TIMESTAMP(), s._stg_sequencer, s._stg_min_event, s._stg_max_event)`,
    'COMMIT TRANSACTION',
    // the objects whose ledger entry now carries this version from this load (also after a lost reply)
    `SELECT e.uri AS object_uri FROM UNNEST(@expected) AS e JOIN ${ledger} AS l ON l.target_table = @table AND l.object_uri = e.uri WHERE l.load_id = e.load AND l.etag = e.etag`,
  )
  return out
}

export function joinScript(statements: string[]): string {
  return statements.map((s) => `${s};`).join('\n')
}

/** A ledger row as read back from BigQuery. */
export function ledgerFromRow(r: Row): LedgerEntry {
  return {
    table: String(r.target_table),
    objectUri: String(r.object_uri),
    etag: String(r.etag),
    size: Number(r.size ?? 0),
    lastModified: r.last_modified instanceof Date ? r.last_modified : new Date(String(r.last_modified ?? 0)),
    rows: Number(r.rows ?? 0),
    rejected: Number(r.rejected ?? 0),
    loadId: String(r.load_id ?? ''),
    path: (r.path ?? 'backfill') as LedgerEntry['path'],
    loadedAt: r.loaded_at instanceof Date ? r.loaded_at : new Date(String(r.loaded_at ?? 0)),
    sequencer: r.sequencer === null || r.sequencer === undefined ? null : String(r.sequencer),
    eventRange: eventRangeFromRow(r),
  }
}

function toDate(v: Row[string] | undefined): Date | null {
  if (v === null || v === undefined) return null
  const d = v instanceof Date ? v : new Date(typeof v === 'number' ? v : String(v))
  return Number.isNaN(d.getTime()) ? null : d
}

function eventRangeFromRow(r: Row): {min: Date; max: Date} | null {
  const min = toDate(r.min_event_time)
  const max = toDate(r.max_event_time)
  return min && max ? {min, max} : null
}

/**
 * The event-time range covering the rows of every replaced ledger entry, or null when one of them has no
 * recorded range (ledgers written before the range was kept): then the DELETE reads every partition.
 */
export function replacedRange(entries: ReadonlyArray<{eventRange?: {min: Date; max: Date} | null}>): {min: Date; max: Date} | null {
  let min = Infinity
  let max = -Infinity
  for (const e of entries) {
    if (!e.eventRange) return null
    min = Math.min(min, e.eventRange.min.getTime())
    max = Math.max(max, e.eventRange.max.getTime())
  }
  // Dates carry milliseconds, the rows microseconds: the end is exclusive, one millisecond past the last row
  return entries.length > 0 ? {min: new Date(min), max: new Date(max + 1)} : null
}

/** Every ledger row of some objects of a table (Write API path: one batched look-up for many objects). */
export function ledgerLookupSql(d: Dialect): string {
  return `SELECT ${LEDGER_SCHEMA.map((f) => q(f.name)).join(', ')} FROM ${d.table(LEDGER_TABLE)} WHERE target_table = @table AND object_uri IN UNNEST(@objects)`
}

/**
 * Write API path, an object replaced: ONE statement (outside any transaction: rows the Write API streamed in the
 * last 30 minutes may be changed by DML, but not inside a multi-statement transaction) deleting the rows of
 * earlier versions, named by their load ids, within their event-time range (@replace_since/@replace_until) when
 * known. Keyed by load id, it never touches the new version's rows and can run any number of times.
 */
export function deleteVersionsSql(d: Dialect, opts: {table: string; range: boolean}): string {
  const part = q('event_time')
  const bound = opts.range ? `${part} >= ${d.timestampParam('replace_since')} AND ${part} < ${d.timestampParam('replace_until')} AND ` : ''
  return `DELETE FROM ${d.table(opts.table)} WHERE ${bound}_source_uri = @uri AND _load_id IN UNNEST(@loads)`
}

/**
 * Write API path, a committed-type stream fenced (finalized): whether one attempt's rows are in the table (its
 * load id names them), within its event-time range when known, like deleteVersionsSql.
 */
export function landedRowsSql(d: Dialect, opts: {table: string; range: boolean}): string {
  const part = q('event_time')
  const bound = opts.range ? `${part} >= ${d.timestampParam('since')} AND ${part} < ${d.timestampParam('until')} AND ` : ''
  return `SELECT COUNT(*) AS n FROM ${d.table(opts.table)} WHERE ${bound}_source_uri = @uri AND _load_id = @load`
}

/** The rejected lines of earlier versions of a replaced object (Write API path), like deleteVersionsSql. */
export function deleteVersionRejectsSql(d: Dialect): string {
  return `DELETE FROM ${d.table(REJECTS_TABLE)} WHERE target_table = @table AND object_uri = @uri AND load_id IN UNNEST(@loads)`
}
