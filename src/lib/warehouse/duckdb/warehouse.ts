import {
  DuckDBConnection,
  DuckDBTimestampValue,
  type DuckDBValue,
  JSDuckDBValueConverter,
  timestampValue,
} from '@duckdb/node-api'
import {existsSync} from 'node:fs'
import {randomUUID} from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {UsageError, UserError} from '../../errors.js'
import {requireFolderOf} from '../../output/files.js'
import {type Column, type ColumnType, type LogFormat, PROVENANCE_COLUMNS, tableColumns} from '../../formats/types.js'
import {
  type AwaitingOutcome,
  type Dialect,
  LEDGER_TABLE,
  isCurrentEntry,
  type LedgerEntry,
  type LedgerVersion,
  LoadNotStartedError,
  type LoaderOptions,
  type ObjectLoader,
  type ObjectLoadOutcome,
  type ObjectLoadRequest,
  type QueryParams,
  REJECTS_TABLE,
  type Row,
  type Warehouse,
  type WarehouseCapabilities,
  type WarehouseTransaction,
} from '../types.js'
import {checkTableName} from '../../identifiers.js'
import {albFastSelect} from './alb.js'
import {stageRequest} from './stage-request.js'
import {FileLease, idleReleaseMs, lockWaitMs} from './file-lease.js'
import {warehouseNotice} from '../notices.js'
import {LineStager, lineSizeOptions, openStageDir, type StageResult, stagedRejectsRead, stagedSelect} from './stage.js'
import {csvFormat, csvRead, csvSelect, FALLBACK_MARK, lineSelect, rawRead} from './raw.js'

const SQL_TYPES: Record<ColumnType, string> = {
  string: 'VARCHAR',
  int: 'INTEGER',
  bigint: 'BIGINT',
  double: 'DOUBLE',
  timestamp: 'TIMESTAMP',
  json: 'VARCHAR',
}
const FROM_SQL: Array<[RegExp, ColumnType]> = [
  [/^(VARCHAR|TEXT|STRING|JSON)/i, 'string'],
  [/^(INTEGER|INT|SMALLINT|TINYINT)$/i, 'int'],
  [/^(BIGINT|HUGEINT|UBIGINT|UINTEGER)/i, 'bigint'],
  [/^(DOUBLE|FLOAT|REAL|DECIMAL)/i, 'double'],
  [/^TIMESTAMP/i, 'timestamp'],
]

export const duckdbDialect: Dialect = {
  quoteIdent: (name) => `"${name.replaceAll('"', '""')}"`,
  table: (name) =>
    checkTableName(name)
      .split('.')
      .map((p) => `"${p}"`)
      .join('.'),
  param: (name) => `$${name}`,
  timeBucket: (expr, unit) => `date_trunc('${unit}', ${expr})`,
  epochSeconds: (expr) => `(epoch_us(${expr}) / 1e6)`,
  timestampParam: (name) => `CAST($${name} AS TIMESTAMP)`,
  quantile: (expr, q, opts) => `${opts?.approximate ? 'approx_quantile' : 'quantile_cont'}(${expr}, ${Number(q)})`,
  // rowids are stable inside one transaction, so ranking and deleting in one statement is safe
  deleteRanked: (table, {partitionBy, orderBy, where}) =>
    `DELETE FROM ${duckdbDialect.table(table)} WHERE rowid IN (SELECT rowid FROM (SELECT rowid, row_number() OVER (PARTITION BY ${partitionBy.join(', ')} ORDER BY ${orderBy}) AS seneka_rn FROM ${duckdbDialect.table(table)} WHERE ${where}) AS seneka_ranked WHERE seneka_rn > 1)`,
}

/** DuckDB's buffer-pool cap for the embedded warehouse (override with SENEKA_DUCKDB_MEMORY_LIMIT, e.g. 4GB). */
export const DEFAULT_MEMORY_LIMIT = '1GB'
/**
 * While loading, DuckDB only appends: a small cache is enough, and it keeps a long backfill's memory flat
 * (measured in docs/performance.md). SENEKA_DUCKDB_MEMORY_LIMIT overrides both.
 */
export const DEFAULT_LOAD_MEMORY_LIMIT = '256MB'
const LOAD_CHECKPOINT_THRESHOLD = '512MB'

const LEDGER_DDL = `CREATE TABLE IF NOT EXISTS ${LEDGER_TABLE} (
  target_table VARCHAR NOT NULL, object_uri VARCHAR NOT NULL, etag VARCHAR NOT NULL, size BIGINT,
  last_modified TIMESTAMP, rows BIGINT, rejected BIGINT, load_id VARCHAR, path VARCHAR,
  loaded_at TIMESTAMP, sequencer VARCHAR)`
const REJECTS_DDL = `CREATE TABLE IF NOT EXISTS ${REJECTS_TABLE} (
  target_table VARCHAR NOT NULL, object_uri VARCHAR NOT NULL, line BIGINT, reason VARCHAR, raw VARCHAR,
  load_id VARCHAR, rejected_at TIMESTAMP)`

function micros(d: Date): DuckDBTimestampValue {
  return timestampValue(BigInt(d.getTime()) * 1000n)
}

function toParam(v: QueryParams[string]): DuckDBValue {
  if (v instanceof Date) return micros(v)
  return v as DuckDBValue
}

function fromDuck(v: unknown): Row[string] {
  if (typeof v === 'bigint') return Number(v)
  if (v === undefined) return null
  return v as Row[string]
}


/** A DuckDB file (or :memory:) as the warehouse. */
export class DuckDBWarehouse implements Warehouse {
  readonly kind = 'duckdb' as const
  readonly dialect = duckdbDialect
  readonly capabilities: WarehouseCapabilities = {transactions: true, dmlPartitioned: false, quantiles: 'exact', billing: 'none', dailyLoadJobsPerTable: null, loadMethods: []}
  private lease!: FileLease
  private metaReady = false
  /** whether this open created the file (a run that then fails before creating a table removes it again) */
  private createdFile = false

  private constructor(
    readonly file: string,
    readonly readOnly: boolean,
  ) {}

  get description(): string {
    return `duckdb:${this.file}`
  }

  /**
   * Opens the file. Read-only opens never create anything: a missing file reads as an empty warehouse.
   *
   * Sharing the file with other processes (file-lease.ts): a locked file is waited for (up to
   * SENEKA_DUCKDB_LOCK_WAIT, 30 s by default; `onLockWait` hears once that we wait); a read-write open holds the
   * file only while it works (released when idle, or at once after a commit when another process waits), a
   * read-only one until close.
   */
  static async open(file: string, opts: {readOnly?: boolean; onLockWait?: (message: string) => void; lockWaitMs?: number; idleReleaseMs?: number} = {}): Promise<DuckDBWarehouse> {
    const wh = new DuckDBWarehouse(file, opts.readOnly ?? false)
    const memory = file === ':memory:' || (wh.readOnly && !existsSync(file))
    if (!memory) {
      requireFolderOf(file, 'DuckDB file', '--warehouse')
      wh.createdFile = !existsSync(file)
    }
    // DuckDB caches up to 80% of RAM by default: cap it so seneka's memory stays flat whatever the input size
    const settings: Record<string, string> = {memory_limit: process.env.SENEKA_DUCKDB_MEMORY_LIMIT ?? DEFAULT_MEMORY_LIMIT}
    if (wh.readOnly && !memory) settings.access_mode = 'READ_ONLY'
    wh.lease = new FileLease({
      file: memory ? ':memory:' : file,
      settings,
      shared: !memory && !wh.readOnly,
      waitMs: opts.lockWaitMs ?? lockWaitMs(),
      idleReleaseMs: opts.idleReleaseMs ?? idleReleaseMs(),
      onWait: opts.onLockWait ?? warehouseNotice,
    })
    await wh.lease.start()
    return wh
  }

  /** how this process holds the file (tests) */
  get fileLease(): FileLease {
    return this.lease
  }

  private async ensureMeta(c: DuckDBConnection): Promise<void> {
    if (this.metaReady || this.readOnly) return
    await c.run(LEDGER_DDL)
    await c.run(REJECTS_DDL)
    this.metaReady = true
  }

  async tableExists(table: string): Promise<boolean> {
    return (await this.tableColumns(table)) !== undefined
  }

  async tableColumns(table: string): Promise<Column[] | undefined> {
    return this.lease.use(({conn}) => columnsOf(conn, table))
  }

  async ensureTable(table: string, format: LogFormat): Promise<void> {
    await this.lease.use(async ({conn}) => {
      await this.ensureMeta(conn)
      await this.ensureTableOn(conn, table, format)
    })
  }

  private async ensureTableOn(conn: DuckDBConnection, table: string, format: LogFormat): Promise<void> {
    const want = tableColumns(format)
    const have = await columnsOf(conn, table)
    const t = this.dialect.table(table)
    if (!have) {
      const cols = want.map((c) => `${this.dialect.quoteIdent(c.name)} ${SQL_TYPES[c.type]}`).join(', ')
      await conn.run(`CREATE TABLE IF NOT EXISTS ${t} (${cols})`)
      // ledger and rejects of a dropped table describe rows that are gone: a new table starts without them
      await conn.run(`DELETE FROM ${LEDGER_TABLE} WHERE target_table = $table`, {table})
      await conn.run(`DELETE FROM ${REJECTS_TABLE} WHERE target_table = $table`, {table})
      return
    }
    const names = new Set(have.map((c) => c.name))
    const missing = want.filter((c) => !names.has(c.name))
    // the appender writes every column in order, so only a table that matches the format's layout can be loaded
    const order = have.map((c) => c.name).join(',')
    const expected = want.filter((c) => names.has(c.name)).map((c) => c.name)
    if (missing.length === want.length || !order.startsWith(expected.join(','))) {
      throw new UserError(`The table ${table} exists but does not have the ${format.name} layout.`, {
        suggestion: 'Load into a new table (--table) or drop the existing one.',
      })
    }
    for (const c of missing) {
      await conn.run(`ALTER TABLE ${t} ADD COLUMN ${this.dialect.quoteIdent(c.name)} ${SQL_TYPES[c.type]}`)
    }
  }

  async readLedger(table: string, uriPrefix = ''): Promise<Map<string, LedgerEntry>> {
    return this.lease.use(async ({conn}) => {
      const out = new Map<string, LedgerEntry>()
      if (!(await columnsOf(conn, LEDGER_TABLE))) return out
      const rows = await runQuery(conn, ledgerSql('*'), {table, prefix: uriPrefix})
      for (const r of rows) out.set(String(r.object_uri), ledgerFromRow(r))
      return out
    })
  }

  async pageLedger(table: string, uriPrefix: string, pageSize: number, onPage: (versions: LedgerVersion[]) => Promise<void>): Promise<void> {
    await this.lease.use(async ({conn}) => {
      if (!(await columnsOf(conn, LEDGER_TABLE))) return
      // one row per object here (a load replaces its entry in the object's transaction): the rows are the versions
      await streamPages(conn, ledgerSql('object_uri, etag'), {table, prefix: uriPrefix}, pageSize, (rows) => onPage(rows.map((r) => ({uri: String(r.object_uri), etag: String(r.etag)}))))
    })
  }

  async openLoader(opts: LoaderOptions): Promise<ObjectLoader> {
    if (this.readOnly) throw new Error('cannot load into a read-only warehouse')
    const maxQueuedRows = stagedRowsLimit()
    const threads = loadThreads()
    const before = await this.lease.use(async ({conn}) => {
      await this.ensureMeta(conn)
      return (await runQuery(conn, `SELECT current_setting('threads') AS threads, current_setting('max_vacuum_tasks') AS vacuum`))[0]
    })
    const restore = String(before.threads)
    // settings of the loading instance, kept for every later open of the file (a writer opens it again after
    // letting another process in)
    await this.lease.configure({
      ...(process.env.SENEKA_DUCKDB_MEMORY_LIMIT ? {} : {memory_limit: DEFAULT_LOAD_MEMORY_LIMIT}),
      // DuckDB checkpoints whenever the WAL passes 16 MB: with commits of ~100k rows that was a checkpoint per
      // commit, each costlier as the table grows; checkpoint rarely while loading (and at close, as always)
      checkpoint_threshold: LOAD_CHECKPOINT_THRESHOLD,
      // rows carry their order (_source_uri, _line): DuckDB need not keep the staging files' order, which lets its
      // CSV reader and insert run in parallel without reordering (about half its CPU once parsing is cheap)
      // (the raw path's line numbers are written in its files: no order needed either)
      preserve_insertion_order: 'false',
      ...(threads === undefined ? {} : {threads: String(threads)}),
      // a backfill's checkpoints do not merge row groups: each group commit ends in a part-filled row group per
      // DuckDB thread, and merging them rewrote most of the table at the final checkpoint (10x: 4.8-10 s of a
      // 25 s load, docs/performance.md); the table keeps those row groups until a later checkpoint vacuums it
      ...(opts.bulk ? {max_vacuum_tasks: '0'} : {}),
    })
    // staging files live next to the database (same disk, removed after each commit and on close); folders
    // left by killed runs are removed first
    const stageDir = await openStageDir(this.file === ':memory:' ? os.tmpdir() : path.dirname(path.resolve(this.file)))
    return new GroupCommitLoader(this.lease, this.dialect, stageDir, opts, maxQueuedRows, {
      threadsBefore: restore,
      threadsLoad: threads === undefined ? restore : String(threads),
      ...(opts.bulk ? {vacuumBefore: String(before.vacuum)} : {}),
    })
  }

  async query(sql: string, params?: QueryParams): Promise<Row[]> {
    return this.lease.use(({conn}) => runQuery(conn, sql, params))
  }

  async queryPages(sql: string, params: QueryParams | undefined, pageSize: number, onPage: (rows: Row[]) => void | Promise<void>): Promise<void> {
    await this.lease.use(({conn}) => streamPages(conn, sql, params, pageSize, onPage))
  }

  async transaction<T>(fn: (tx: WarehouseTransaction) => Promise<T>): Promise<T> {
    if (this.readOnly) throw new Error('cannot write to a read-only warehouse')
    return this.lease.use(async ({instance}) => {
      const c = await instance.connect()
      try {
        await c.run('BEGIN TRANSACTION')
        try {
          const out = await fn({query: (sql, params) => runQuery(c, sql, params)})
          await c.run('COMMIT')
          return out
        } catch (err) {
          await c.run('ROLLBACK').catch(() => {})
          throw err
        }
      } finally {
        c.closeSync()
      }
    })
  }

  async close(): Promise<void> {
    if (!this.lease) return
    // a file this run created and left without a single table (e.g. the source could not be listed) is removed:
    // a failed first command must not leave an empty warehouse behind that looks like a result
    const discard = this.createdFile && (await this.lease.use(({conn}) => isEmpty(conn)).catch(() => false))
    await this.lease.close()
    if (discard) await Promise.all([this.file, `${this.file}.wal`].map((f) => fs.rm(f, {force: true})))
  }
}

async function columnsOf(conn: DuckDBConnection, table: string): Promise<Column[] | undefined> {
  const parts = checkTableName(table).split('.')
  const name = parts.at(-1)!
  const schema = parts.length > 1 ? parts[0] : 'main'
  const rows = await runQuery(
    conn,
    `SELECT column_name AS name, data_type AS type FROM information_schema.columns
     WHERE table_schema = $schema AND table_name = $name ORDER BY ordinal_position`,
    {schema, name},
  )
  if (rows.length === 0) return undefined
  return rows.map((r) => ({
    name: String(r.name),
    type: FROM_SQL.find(([re]) => re.test(String(r.type)))?.[1] ?? 'string',
  }))
}

async function isEmpty(conn: DuckDBConnection): Promise<boolean> {
  const rows = await runQuery(conn, `SELECT count(*) AS n FROM information_schema.tables WHERE table_catalog = current_database()`)
  return Number(rows[0]?.n) === 0
}

/** The ledger entries of a table ($table) under a URI prefix ($prefix). */
function ledgerSql(columns: string): string {
  return `SELECT ${columns} FROM ${LEDGER_TABLE} WHERE target_table = $table AND starts_with(object_uri, $prefix)`
}

async function streamPages(conn: DuckDBConnection, sql: string, params: QueryParams | undefined, pageSize: number, onPage: (rows: Row[]) => void | Promise<void>): Promise<void> {
  const result = await conn.stream(sql, toParams(params) as never)
  const names = result.columnNames()
  let page: Row[] = []
  for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
    for (const values of chunk.convertRows(JSDuckDBValueConverter)) {
      const o: Row = {}
      names.forEach((n, i) => (o[n] = fromDuck(values[i])))
      page.push(o)
    }
    if (page.length >= pageSize) {
      await onPage(page)
      page = []
    }
  }
  if (page.length > 0) await onPage(page)
}

function toParams(params?: QueryParams): Record<string, ReturnType<typeof toParam>> | undefined {
  return params ? Object.fromEntries(Object.entries(params).map(([k, v]) => [k, toParam(v)])) : undefined
}

async function runQuery(conn: DuckDBConnection, sql: string, params?: QueryParams): Promise<Row[]> {
  const reader = await conn.runAndReadAll(sql, toParams(params))
  return reader.getRowObjectsJS().map((r) => {
    const o: Row = {}
    for (const [k, v] of Object.entries(r)) o[k] = fromDuck(v)
    return o
  })
}

function ledgerFromRow(r: Row): LedgerEntry {
  return {
    table: String(r.target_table),
    objectUri: String(r.object_uri),
    etag: String(r.etag),
    size: Number(r.size),
    lastModified: r.last_modified as Date,
    rows: Number(r.rows),
    rejected: Number(r.rejected),
    loadId: String(r.load_id),
    path: r.path as LedgerEntry['path'],
    loadedAt: r.loaded_at as Date,
    sequencer: r.sequencer === null ? null : String(r.sequencer),
  }
}

interface PendingInsert {
  t: string
  columns: readonly Column[]
  kind: 'parsed' | 'fast' | 'raw'
  file: string
  maxLine: number | undefined
  uri: string
  lm: DuckDBTimestampValue
  /** _gcs_created_at of gs:// objects */
  gcs: DuckDBTimestampValue | null
  path: string
  loadId: string
  /** a raw object (kind 'raw'): its request, non-blank lines, and what to do once its rows and rejects are known */
  raw?: {req: ObjectLoadRequest; lines: number; csv: boolean; base: string; settle: (rows: number, rejected: number) => Promise<void>}
}

interface StagedObject extends AwaitingOutcome {
  file: string
  staged: StageResult
}

/** An object's new ledger row, waiting for its group's INSERT (the raw path's settle corrects rows and rejected). */
interface PendingLedgerRow {
  req: ObjectLoadRequest
  rows: number
  rejected: number
}

/** An object's key in a group's ledger lookups: the same URI may be loaded into two tables. */
const ledgerKey = (table: string, uri: string): string => `${table}\0${uri}`

const lit = (v: string): string => `'${v.replaceAll("'", "''")}'`

/** An insert's provenance as parameters named by its index: uri, modified, path, load id, GCS creation time. */
/** The SQL placeholders of one object's provenance values (their parameters set by provenanceParams). */
interface Provenance {
  uri: string
  modified: string
  path: string
  loadId: string
  gcs: string
}

function provenanceParams(params: Record<string, DuckDBValue>, i: PendingInsert, n: number): Provenance {
  params[`u${n}`] = i.uri
  params[`m${n}`] = i.lm
  params[`p${n}`] = i.path
  params[`l${n}`] = i.loadId
  params[`g${n}`] = i.gcs
  return {uri: `$u${n}`, modified: `$m${n}`, path: `$p${n}`, loadId: `$l${n}`, gcs: `CAST($g${n} AS TIMESTAMP)`}
}

/** objects committed together at most (a group is also cut at GROUP_ROWS rows) */
const GROUP_OBJECTS = 256
const GROUP_ROWS = 1_000_000
/** DuckDB's row group size: a transaction appending at least this many rows skips the WAL */
const ROW_GROUP_ROWS = 122_880
/**
 * A backfill waits for two row groups of staged rows, at most LINGER_MS (10x benchmark, alternating: about 10%
 * less time and 15% less CPU than one row group and 250 ms; four row groups and 1 s gained nothing more)
 */
const GROUP_TARGET_ROWS = 2 * ROW_GROUP_ROWS
const LINGER_MS = 600
/**
 * Rows a stream loader commits between checkpoints: a stop closes the file, and the close checkpoints what is
 * left, which after heavy loading took 5-18 s (past a platform's stop budget). checkpoint_threshold cannot bound
 * it: large appends go to the file itself, not the WAL, and still wait for a checkpoint.
 */
const STREAM_CHECKPOINT_ROWS = 250_000
/** loads a backfill's loader takes in flight beyond 4 x --concurrency: staged ones wait on disk for a commit */
const STAGED_WAITING = 48
/**
 * Staged rows that may wait for a commit (SENEKA_DUCKDB_STAGED_ROWS, default 2,000,000): a bound on the staging
 * files' disk use when objects are large (about 700 MB per million ALB rows).
 */
export function stagedRowsLimit(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.SENEKA_DUCKDB_STAGED_ROWS?.trim()
  if (v === undefined || v === '') return 2 * GROUP_ROWS
  if (!/^[1-9]\d*$/.test(v)) throw new UsageError(`SENEKA_DUCKDB_STAGED_ROWS must be a positive whole number of rows, not "${v}".`, 'Set it to, for example, 500000 (less disk for staging files), or unset it for the default 2000000.')
  return Number(v)
}

/** raw objects this process loaded through DuckDB's CSV reader and line by line (tests, figures) */
export const rawPathCounts = {csv: 0, lines: 0, held: 0}

/**
 * DuckDB's threads while loading (SENEKA_DUCKDB_THREADS; by default DuckDB's own, one per core), the raw path's
 * CSV INSERTs included; its line-by-line INSERTs take that many or one (lineThreads).
 */
export function loadThreads(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env.SENEKA_DUCKDB_THREADS?.trim()
  if (v === undefined || v === '') return undefined
  if (!/^[1-9]\d{0,3}$/.test(v)) throw new UsageError(`SENEKA_DUCKDB_THREADS must be a positive whole number of threads, not "${v}".`, 'Set it to, for example, 2, or unset it for the default.')
  return Number(v)
}

/**
 * DuckDB's threads for the raw path's line-by-line INSERTs (JSON lines, and ALB/ELB objects the CSV reader did not
 * take): one unless SENEKA_DUCKDB_THREADS says otherwise. Their SQL is heavy per line and the parse workers need
 * the other core: two threads cost 1.5x the CPU for no less time on two cores (docs/performance.md).
 */
export function lineThreads(env: NodeJS.ProcessEnv = process.env): number {
  return loadThreads(env) ?? 1
}

/**
 * Loads objects with group commit. Each object is first staged (read, parsed, written as a staging TSV; in
 * worker threads when available) with no transaction open; then one writer commits whatever objects are
 * staged in a single transaction: re-check the group's ledger entries (one SELECT), per object delete an older
 * version's rows and INSERT its rejects, then the group's ledger rows (one INSERT) and its rows from the staging
 * files. Objects stay all-or-nothing (a crash loses whole objects, never part of one), while DuckDB pays one
 * commit per group instead of one per object. A failed group is retried object by object so one bad object
 * cannot fail the others.
 */
class GroupCommitLoader implements ObjectLoader {
  readonly maxInFlight: number
  private readonly queue: StagedObject[] = []
  private writing: Promise<void> | undefined

  constructor(
    /** the file, held by each commit (released between commits when another process waits, or when idle) */
    private readonly lease: FileLease,
    private readonly dialect: Dialect,
    private readonly stageDir: string,
    {concurrency, bulk}: LoaderOptions,
    /** staged rows that may wait for a commit */
    private readonly maxQueuedRows: number,
    /**
     * DuckDB's settings around the loader: its threads before (given back on close) and while it loads (between
     * raw INSERTs); max_vacuum_tasks before a bulk loader turned vacuuming off (given back on close, after a checkpoint)
     */
    private readonly settings: {threadsBefore: string; threadsLoad: string; vacuumBefore?: string},
  ) {
    // objects are staged `concurrency` at a time; staged ones wait on disk (not in memory) for their commit, and
    // enough of them may wait that staging goes on while a group commits: with too few, the group after a
    // large one got the few objects that could stage meanwhile and went through the WAL (10x: 0.27x native)
    this.stageSlots = Math.max(1, concurrency)
    this.maxInFlight = this.stageSlots * 4 + (bulk ? STAGED_WAITING : 0)
    this.checkpointEvery = bulk ? Infinity : STREAM_CHECKPOINT_ROWS
  }

  private readonly checkpointEvery: number
  /** rows committed since the last checkpoint (stream loads) */
  private uncheckpointed = 0
  /** checkpoints run between commits (tests, figures) */
  checkpoints = 0

  private readonly stageSlots: number
  /** loads waiting to stage: woken whenever a slot frees or the queue shrinks, each checks again */
  private readonly slotWaiters = new Set<() => void>()

  /** objects being read and staged right now */
  private staging = 0
  private arrived: (() => void) | undefined

  /** load() calls not yet answered, and the lease's pin they hold (no idle release between a run's commits) */
  private active = 0
  private unpin: (() => void) | undefined

  async load(req: ObjectLoadRequest): Promise<ObjectLoadOutcome> {
    if (this.active++ === 0) this.unpin = this.lease.pin()
    try {
      return await this.loadPinned(req)
    } finally {
      if (--this.active === 0) this.unpin?.()
    }
  }

  private async loadPinned(req: ObjectLoadRequest): Promise<ObjectLoadOutcome> {
    // cheap pre-check so an object loaded meanwhile (e.g. by the stream worker) is not even read; only while the
    // file is held anyway (never opened for it): the commit checks the ledger again, and that check decides
    const entry = await this.lease.ifHeld(async (h) => this.ledgerEntry(await h.connection('reader'), req))
    if (entry && isCurrentEntry(req, entry)) return {status: 'skipped', entry}
    const file = path.join(this.stageDir, `${randomUUID()}.tsv`)
    let staged: StageResult
    await this.takeStageSlot(req)
    try {
      // a long-idle loader's folder may have been taken for abandoned (STAGE_LEASE_MS): recreate it
      await fs.mkdir(this.stageDir, {recursive: true})
      staged = await stageRequest(req, file)
    } catch (err) {
      await Promise.all([file, `${file}.fast`, `${file}.raw`, `${file}.rejects`].map((f) => fs.rm(f, {force: true})))
      throw err
    } finally {
      this.staging--
      this.wakeSlotWaiters()
      this.arrived?.()
    }
    return new Promise<ObjectLoadOutcome>((resolve, reject) => {
      this.queue.push({req, file, staged, resolve, reject})
      this.writing ??= this.drain().finally(() => (this.writing = undefined))
    })
  }

  /**
   * Takes a staging slot (`staging` counts it), waiting while `concurrency` objects stage or maxQueuedRows
   * staged rows already wait for a commit (their files are on disk: large objects must not fill it); a request
   * aborted before it gets one is not started.
   */
  private async takeStageSlot(req: ObjectLoadRequest): Promise<void> {
    const {signal} = req
    for (;;) {
      if (signal?.aborted) throw new LoadNotStartedError(req.object.uri)
      if (this.staging < this.stageSlots && this.queuedRows() < this.maxQueuedRows) {
        this.staging++
        return
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal?.removeEventListener('abort', done)
          this.slotWaiters.delete(done)
          resolve()
        }
        this.slotWaiters.add(done)
        signal?.addEventListener('abort', done, {once: true})
      })
    }
  }

  /** What staging waits on right now: objects being staged, loads waiting for a slot, staged rows queued. */
  backlog(): {staging: number; waitingForSlot: number; queuedRows: number} {
    return {staging: this.staging, waitingForSlot: this.slotWaiters.size, queuedRows: this.queuedRows()}
  }

  private wakeSlotWaiters(): void {
    for (const wake of [...this.slotWaiters]) wake()
  }

  private async ledgerEntry(c: DuckDBConnection, req: ObjectLoadRequest): Promise<LedgerEntry | undefined> {
    return (await this.ledgerEntries(c, [req])).get(ledgerKey(req.table, req.object.uri))
  }

  /** The ledger entries of a group's objects (by ledgerKey), in one SELECT: one per object cost the writer as much as its INSERTs. */
  private async ledgerEntries(c: DuckDBConnection, reqs: ObjectLoadRequest[]): Promise<Map<string, LedgerEntry>> {
    const byTable = new Map<string, Set<string>>()
    for (const {table, object} of reqs) byTable.set(table, (byTable.get(table) ?? new Set()).add(object.uri))
    const params: QueryParams = {}
    const where = [...byTable].map(([table, uris], t) => {
      params[`t${t}`] = table
      const names = [...uris].map((uri, u) => {
        params[`u${t}_${u}`] = uri
        return `$u${t}_${u}`
      })
      return `(target_table = $t${t} AND object_uri IN (${names.join(', ')}))`
    })
    const entries = new Map<string, LedgerEntry>()
    for (const row of await runQuery(c, `SELECT * FROM ${LEDGER_TABLE} WHERE ${where.join(' OR ')}`, params)) {
      const entry = ledgerFromRow(row)
      const key = ledgerKey(entry.table, entry.objectUri)
      // the first row of an object counts
      if (!entries.has(key)) entries.set(key, entry)
    }
    return entries
  }

  /** A group's new ledger rows in one INSERT: one per object took 1.25 s of a 200-object backfill's writer. */
  private async insertLedger(c: DuckDBConnection, pending: PendingLedgerRow[], now: DuckDBTimestampValue): Promise<void> {
    if (pending.length === 0) return
    const params: Record<string, DuckDBValue> = {now}
    const values = pending.map(({req, rows, rejected}, n) => {
      const {object} = req
      Object.assign(params, {
        [`t${n}`]: req.table,
        [`u${n}`]: object.uri,
        [`e${n}`]: object.etag,
        [`s${n}`]: object.size,
        [`m${n}`]: micros(object.lastModified),
        [`r${n}`]: rows,
        [`j${n}`]: rejected,
        [`l${n}`]: req.loadId,
        [`p${n}`]: req.path,
        [`q${n}`]: req.sequencer ?? null,
      })
      return `($t${n}, $u${n}, $e${n}, $s${n}, $m${n}, $r${n}, $j${n}, $l${n}, $p${n}, $now, $q${n})`
    })
    await c.run(`INSERT INTO ${LEDGER_TABLE} VALUES ${values.join(', ')}`, params)
  }

  /**
   * Waits (at most until `deadline`) while fewer than `rows` rows are queued and other objects are still staging
   * (a backfill, before each group): a transaction appending at least a row group is written straight to the
   * database file instead of through the WAL, so big backfills write their data once, and fewer, larger INSERTs
   * cost DuckDB less. The file is not held meanwhile.
   */
  private async linger(rows: number, deadline: number): Promise<void> {
    while (this.staging > 0 && Date.now() < deadline && this.queuedRows() < rows) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()))
        this.arrived = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.arrived = undefined
    }
  }

  private queuedRows(): number {
    return this.queue.reduce((n, q) => n + q.staged.rows, 0)
  }

  /** The next group: as many queued objects as one commit takes (GROUP_OBJECTS, GROUP_ROWS). */
  private take(): StagedObject[] {
    const group: StagedObject[] = []
    let rows = 0
    while (this.queue.length > 0 && group.length < GROUP_OBJECTS && (group.length === 0 || rows + this.queue[0].staged.rows <= GROUP_ROWS)) {
      const item = this.queue.shift()!
      rows += item.staged.rows
      group.push(item)
    }
    return group
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      // a stream load commits what is queued at once: its latency matters more than its throughput
      if (this.queue.every((q) => q.req.path === 'backfill')) await this.linger(GROUP_TARGET_ROWS, Date.now() + LINGER_MS)
      const group = this.take()
      this.wakeSlotWaiters()
      try {
        const outcomes = await this.commit(group)
        group.forEach((item, i) => item.resolve(outcomes[i]))
        await this.checkpointAfter(group)
      } catch (err) {
        if (group.length === 1) group[0].reject(err)
        // one bad object must not fail the others: commit them one by one
        else for (const item of group) await this.commit([item]).then(([o]) => item.resolve(o), item.reject)
      } finally {
        await Promise.all(group.flatMap((item) => [item.file, item.staged.fast?.file, item.staged.raw?.file, item.staged.rejectsFile].filter((f) => f !== undefined).map((f) => fs.rm(f, {force: true}))))
      }
    }
  }

  /** A stream loader checkpoints, off the event loop, once it committed checkpointEvery rows since the last time. */
  private async checkpointAfter(group: StagedObject[]): Promise<void> {
    this.uncheckpointed += group.reduce((n, q) => n + q.staged.rows, 0)
    if (this.uncheckpointed < this.checkpointEvery) return
    this.uncheckpointed = 0
    this.checkpoints++
    // a failed checkpoint costs nothing: the next one (or the close) does the work
    await this.lease.use(({conn}) => conn.run('CHECKPOINT')).catch(() => {})
  }

  /**
   * One transaction for the group, with the file held from its ledger checks to its COMMIT: whatever another
   * process committed while the file was not held (the same object, by a backfill) is seen by those checks.
   */
  private commit(group: StagedObject[]): Promise<ObjectLoadOutcome[]> {
    return this.lease.use(async (h) => this.commitOn(await h.connection('writer'), group))
  }

  private async commitOn(c: DuckDBConnection, group: StagedObject[]): Promise<ObjectLoadOutcome[]> {
    const outcomes: ObjectLoadOutcome[] = []
    await c.run('BEGIN TRANSACTION')
    try {
      const now = micros(new Date())
      const inserts: PendingInsert[] = []
      const entries = await this.ledgerEntries(c, group.map((g) => g.req))
      const ledger: PendingLedgerRow[] = []
      // objects this group already wrote a ledger row for: `entries` holds what was there before
      const written = new Set<string>()
      for (const {req, file, staged} of group) {
        const {object, table} = req
        const key = ledgerKey(table, object.uri)
        let entry = entries.get(key)
        if (written.has(key)) {
          // the same object twice in a group (a new version): the first one's ledger row and rows go in before the second's check
          await this.insertLedger(c, ledger.splice(0), now)
          await this.insertRows(c, inserts.splice(0), now)
          entry = await this.ledgerEntry(c, req)
        }
        if (entry && isCurrentEntry(req, entry)) {
          outcomes.push({status: 'skipped', entry})
          continue
        }
        const t = this.dialect.table(table)
        if (entry) {
          // a new version of the object replaces the old one's rows, never adds to them
          await c.run(`DELETE FROM ${t} WHERE _source_uri = $uri`, {uri: object.uri})
          await c.run(`DELETE FROM ${REJECTS_TABLE} WHERE target_table = $table AND object_uri = $uri`, {table, uri: object.uri})
          await c.run(`DELETE FROM ${LEDGER_TABLE} WHERE target_table = $table AND object_uri = $uri`, {table, uri: object.uri})
        }
        // rows are inserted after the loop, many objects per INSERT (one read_csv over their staging files)
        const prov = {uri: object.uri, lm: micros(object.lastModified), gcs: object.gcsCreatedAt ? micros(object.gcsCreatedAt) : null, path: req.path, loadId: req.loadId}
        const outcome: ObjectLoadOutcome = {status: entry ? 'replaced' : 'loaded', rows: staged.rows, rejected: staged.rejected}
        if (staged.raw) {
          const settle = async (rows: number, rejected: number): Promise<void> => {
            Object.assign(outcome, {rows, rejected})
            await c.run(`UPDATE ${LEDGER_TABLE} SET rows = $rows, rejected = $rejected WHERE target_table = $table AND object_uri = $uri`, {rows, rejected, table, uri: object.uri})
          }
          inserts.push({t, columns: req.format.columns, kind: 'raw', file: staged.raw.file, maxLine: staged.raw.maxLine, ...prov, raw: {req, lines: staged.raw.lines, csv: staged.raw.csv, base: file, settle}})
        } else if (staged.rows - (staged.fast?.rows ?? 0) > 0) inserts.push({t, columns: req.format.columns, kind: 'parsed', file, maxLine: staged.maxLine, ...prov})
        if (staged.fast && staged.fast.rows > 0) inserts.push({t, columns: req.format.columns, kind: 'fast', file: staged.fast.file, maxLine: staged.fast.maxLine, ...prov})
        // every rejected line, from the object's rejects file (memory held only the first few)
        if (staged.rejectsFile) {
          await c.run(
            `INSERT INTO ${REJECTS_TABLE} (target_table, object_uri, line, reason, raw, load_id, rejected_at) SELECT $table, $uri, line, reason, raw, $load_id, $now FROM ${stagedRejectsRead()}`,
            {table, uri: object.uri, load_id: req.loadId, now, file: staged.rejectsFile},
          )
        }
        ledger.push({req, rows: staged.rows, rejected: staged.rejected})
        written.add(key)
        outcomes.push(outcome)
      }
      await this.insertLedger(c, ledger, now)
      await this.insertRows(c, inserts, now)
      await c.run('COMMIT')
      return outcomes
    } catch (err) {
      await c.run('ROLLBACK').catch(() => {})
      throw err
    }
  }

  /**
   * Inserts staged rows: one INSERT per (table, staging kind) for all of the group's objects, reading their
   * staging files in one read_csv and taking each row's provenance from its file.
   */
  /** The column list of an INSERT of a format's rows and their provenance. */
  private insertColumns(columns: readonly {name: string}[]): string {
    return [...columns, ...PROVENANCE_COLUMNS].map((col) => this.dialect.quoteIdent(col.name)).join(', ')
  }

  private async insertRows(c: DuckDBConnection, inserts: PendingInsert[], now: DuckDBTimestampValue): Promise<void> {
    const byKey = new Map<string, PendingInsert[]>()
    for (const i of inserts) {
      // a raw object's SQL also depends on its format's options (the JSON lines' time field)
      const key = `${i.t}\0${i.kind}\0${i.columns.map((c) => `${c.name}:${c.type}`).join(',')}\0${i.raw ? JSON.stringify(i.raw.req.format.options ?? {}) : ''}`
      const list = byKey.get(key)
      if (list) list.push(i)
      else byKey.set(key, [i])
    }
    for (const list of byKey.values()) {
      const {t, columns, kind} = list[0]
      if (kind === 'raw') {
        await this.insertRaw(c, list, now)
        continue
      }
      const maxLine = Math.max(...list.map((i) => i.maxLine ?? 0))
      const {select, read} = kind === 'fast' ? albFastSelect(columns, this.dialect.quoteIdent, lineSizeOptions(maxLine)) : stagedSelect(columns, this.dialect.quoteIdent, maxLine)
      const files = `[${list.map((i) => lit(i.file)).join(', ')}]`
      const params: Record<string, DuckDBValue> = {now}
      const values = list.map((i, n) => {
        const p = provenanceParams(params, i, n)
        return `(${lit(i.file)}, ${p.uri}, ${p.modified}, ${p.path}, ${p.loadId}, ${p.gcs})`
      })
      const source = read.replace('read_csv($file,', `read_csv(${files}, filename = true,`)
      // columns named: a table that gained columns later (ALTER TABLE ADD COLUMN) has them in another order
      const names = this.insertColumns(columns)
      await c.run(
        `INSERT INTO ${t} (${names}) SELECT ${select}, seneka_f.uri, line, seneka_f.load_id, $now, seneka_f.lm, seneka_f.path, seneka_f.gcs FROM ${source} AS seneka_r JOIN (VALUES ${values.join(', ')}) AS seneka_f(file, uri, lm, path, load_id, gcs) ON seneka_r.filename = seneka_f.file`,
        params,
      )
    }
  }

  /**
   * Inserts raw objects (raw.ts): DuckDB reads each object's lines in one INSERT (each row's line number is the one
   * Node wrote before the line, so DuckDB reads and inserts on all its threads in any order) and types the
   * ordinary ones in SQL; the others are stored for the moment with their text and a mark, then taken out and
   * given to the format's parser (rows and rejects through the staging files), all in the commit's transaction.
   * Settles each object's rows and rejects, and runs the reject rule (a failure rolls the transaction back).
   */
  private async insertRaw(c: DuckDBConnection, list: PendingInsert[], now: DuckDBTimestampValue): Promise<void> {
    const csv = list.filter((i) => i.raw!.csv)
    const rest = [...list.filter((i) => !i.raw!.csv), ...(csv.length > 0 ? await this.insertCsv(c, csv, now) : [])]
    if (rest.length === 0) return
    // JSON lines are numbered by position (rawRead): in order
    await c.run(`SET threads = ${lineThreads()}`)
    await c.run('SET preserve_insertion_order = true')
    try {
      await this.insertLines(c, rest, now)
    } finally {
      await c.run(`SET threads = ${Number(this.settings.threadsLoad)}`)
      await c.run('SET preserve_insertion_order = false')
    }
  }

  /**
   * The raw objects without blank lines first go through DuckDB's CSV reader (csvSelect, csvRead): one INSERT of
   * their ordinary lines, one read_csv of all their files, each row's provenance from its file. An object whose
   * rows do not add up to its lines (a line skipped by the reader, joined to the next at an unterminated quote, or
   * not ordinary) has its rows taken out again and is returned, to be loaded line by line.
   */
  private async insertCsv(c: DuckDBConnection, list: PendingInsert[], now: DuckDBTimestampValue): Promise<PendingInsert[]> {
    const {t, columns} = list[0]
    const format = list[0].raw!.req.format.name
    const {select, ordinary} = csvSelect(format, columns, this.dialect.quoteIdent)
    const params: Record<string, DuckDBValue> = {now}
    const values = list.map((i, n) => {
      const p = provenanceParams(params, i, n)
      return `(${lit(i.file)}, ${p.uri}, ${p.modified}, ${p.path}, ${p.loadId}, ${p.gcs})`
    })
    const files = `[${list.map((i) => lit(i.file)).join(', ')}]`
    const read = csvRead(format, files, Math.max(...list.map((i) => i.maxLine ?? 0)))
    const names = this.insertColumns(columns)
    const inserted = (
      await c.run(
        `INSERT INTO ${t} (${names}) SELECT ${select}, seneka_f.uri, line, seneka_f.load_id, $now, seneka_f.lm, seneka_f.path, seneka_f.gcs FROM ${read} AS seneka_r JOIN (VALUES ${values.join(', ')}) AS seneka_f(file, uri, lm, path, load_id, gcs) ON seneka_r.filename = seneka_f.file WHERE ${ordinary}`,
        params,
      )
    ).rowsChanged
    const ok = (i: PendingInsert): void => {
      rawPathCounts.csv++
      i.raw!.req.report.parsed(i.raw!.lines, 0)
    }
    if (inserted === list.reduce((n, i) => n + i.raw!.lines, 0)) {
      list.forEach(ok)
      return []
    }
    const uris: Record<string, string> = {}
    list.forEach((i, n) => (uris[`u${n}`] = i.uri))
    const counts = await runQuery(c, `SELECT _source_uri AS uri, count(*) AS n FROM ${t} WHERE _source_uri IN (${list.map((_, n) => `$u${n}`).join(', ')}) GROUP BY _source_uri`, uris)
    const rows = new Map(counts.map((r) => [String(r.uri), Number(r.n)]))
    const again: PendingInsert[] = []
    for (const i of list) {
      if (rows.get(i.uri) === i.raw!.lines) {
        ok(i)
        continue
      }
      if (rows.has(i.uri)) await c.run(`DELETE FROM ${t} WHERE _source_uri = $uri`, {uri: i.uri})
      again.push(i)
    }
    return again
  }

  /**
   * Raw objects line by line (rawRead, rawSelect): each line one VARCHAR, checked against the ordinary shape by a
   * regular expression, split and typed in SQL; the lines it cannot prove ordinary go to the format's parser.
   */
  private async insertLines(c: DuckDBConnection, list: PendingInsert[], now: DuckDBTimestampValue): Promise<void> {
    rawPathCounts.lines += list.length
    const {t, columns} = list[0]
    const {select, from, holder} = lineSelect(list[0].raw!.req.format, columns, this.dialect.quoteIdent)
    const params: Record<string, DuckDBValue> = {now, mark: FALLBACK_MARK}
    const branches = list.map((i, n) => {
      const p = provenanceParams(params, i, n)
      return `SELECT ${select}, ${p.uri}, line, ${p.loadId}, $now, ${p.modified}, CASE WHEN seneka_ord THEN ${p.path} ELSE $mark END, ${p.gcs} FROM ${from(rawRead(lit(i.file), i.maxLine ?? 0, csvFormat(i.raw!.req.format.name)))}`
    })
    const names = this.insertColumns(columns)
    await c.run(`INSERT INTO ${t} (${names}) ${branches.join(' UNION ALL ')}`, params)
    // the lines SQL could not prove ordinary, for the parser, a page at a time (a wrong format holds every line)
    const fallback = new Map(list.map((i) => [i.uri, new LineStager(i.raw!.req.format, `${i.raw!.base}.fallback`)]))
    const held = {n: 0}
    try {
      await streamPages(c, `SELECT _source_uri AS uri, _line AS line, ${this.dialect.quoteIdent(holder)} AS raw FROM ${t} WHERE _load_path = $mark ORDER BY _source_uri, _line`, {mark: FALLBACK_MARK}, 2048, async (page) => {
        for (const h of page) await fallback.get(String(h.uri))!.add(String(h.raw), Number(h.line))
        held.n += page.length
      })
      rawPathCounts.held += held.n
    if (held.n > 0) await c.run(`DELETE FROM ${t} WHERE _load_path = $mark`, {mark: FALLBACK_MARK})
      const parsed: PendingInsert[] = []
      for (const i of list) {
        const {req, lines, settle} = i.raw!
        const stager = fallback.get(i.uri)!
        const staged = await stager.close()
        // every non-blank line is a row or a reject
        const rows = lines - staged.rejected
        req.report.rejects(staged.rejects)
        req.report.parsed(rows, staged.rejected)
        if (stager.hasRows) parsed.push({...i, kind: 'parsed', file: stager.file, maxLine: staged.maxLine, raw: undefined})
        if (staged.rejectsFile) {
          await c.run(
            `INSERT INTO ${REJECTS_TABLE} (target_table, object_uri, line, reason, raw, load_id, rejected_at) SELECT $table, $uri, line, reason, raw, $load_id, $now FROM ${stagedRejectsRead()}`,
            {table: req.table, uri: i.uri, load_id: req.loadId, now, file: staged.rejectsFile},
          )
        }
        await settle(rows, staged.rejected)
      }
      await this.insertRows(c, parsed, now)
    } finally {
      await Promise.all([...fallback.values()].flatMap((f) => [f.file, `${f.file}.rejects`]).map((f) => fs.rm(f, {force: true})))
    }
  }

  async close(): Promise<void> {
    await this.writing
    // the load's checkpoint while vacuuming is still off (the file's close would otherwise run it with it on)
    const {threadsBefore, vacuumBefore} = this.settings
    if (vacuumBefore !== undefined) await this.lease.use(({conn}) => conn.run('CHECKPOINT')).catch(() => {})
    await this.lease
      .configure({preserve_insertion_order: 'true', threads: threadsBefore, ...(vacuumBefore === undefined ? {} : {max_vacuum_tasks: vacuumBefore})})
      .catch(() => {})
    await fs.rm(this.stageDir, {recursive: true, force: true})
  }
}
