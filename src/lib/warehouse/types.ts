import type {QueryEstimate} from '../cost/bigquery.js'
import type {LoadMethod, LoadMethodComparison, Traffic} from '../cost/load-methods.js'
import type {Column, LogFormat} from '../formats/types.js'
import type {Readable} from 'node:stream'
import type {ParseReport} from '../loader/parse-report.js'
import {isSameVersion, type ObjectInfo} from '../store/types.js'

export type LoadPath = 'backfill' | 'stream'

/** One row of the load ledger: what was loaded, from which version of which object, by which run. */
export interface LedgerEntry {
  table: string
  objectUri: string
  etag: string
  size: number
  lastModified: Date
  rows: number
  rejected: number
  loadId: string
  path: LoadPath
  loadedAt: Date
  /** S3 event sequencer of the version loaded (stream), when known */
  sequencer: string | null
  /** event-time range of the object's rows, when the engine records it (BigQuery: bounds replace DELETEs) */
  eventRange?: {min: Date; max: Date} | null
}

export interface ObjectLoadRequest {
  table: string
  format: LogFormat
  object: ObjectInfo
  loadId: string
  path: LoadPath
  sequencer?: string
  /**
   * Called only when the object must be loaded, once per attempt: a fresh read of its bytes as stored (gzip or
   * plain), checked against the size LIST/HEAD gave. The engine decides how the bytes become rows (DuckDB: its
   * parse workers and CSV reader; BigQuery: the format's parser, then gzip NDJSON) and reports to `report`.
   */
  open: () => Promise<Readable>
  /** Where the engine reports counters and rejected lines, and the check it runs before it commits. */
  report: ParseReport
  /**
   * Decides whether an existing ledger entry makes this load unnecessary. Default: same ETag means
   * already loaded.
   */
  isCurrent?: (entry: LedgerEntry) => boolean
  /**
   * Aborted: a load that has not begun its work (waiting for the engine's staging slot) does not begin it and
   * rejects with LoadNotStartedError; nothing was read or written. A load under way finishes.
   */
  signal?: AbortSignal
}

/** A load whose request was aborted before its work began: nothing was read or written (not a failure). */
export class LoadNotStartedError extends Error {
  override readonly name = 'LoadNotStartedError'
  constructor(uri: string) {
    super(`the load of ${uri} was not started (the run is stopping)`)
  }
}

/** What a loader is opened for. */
export interface LoaderOptions {
  /** objects read and parsed at once */
  concurrency: number
  /**
   * A bulk load (backfill): throughput over latency, so staged objects may wait for a larger commit (DuckDB
   * then takes more loads in flight). Stream loads commit as soon as they are staged.
   */
  bulk?: boolean
}

export type ObjectLoadOutcome =
  | {status: 'loaded' | 'replaced'; rows: number; rejected: number}
  | {status: 'skipped'; entry: LedgerEntry}

/** A load waiting for its commit: how a loader answers the load() call once the commit decided its outcome. */
export interface AwaitingOutcome {
  req: ObjectLoadRequest
  resolve: (o: ObjectLoadOutcome) => void
  reject: (err: unknown) => void
}

/**
 * Loads objects into one table, each object atomically: its rows, its rejected lines and its ledger entry
 * are committed together or not at all.
 */
export interface ObjectLoader {
  load(req: ObjectLoadRequest): Promise<ObjectLoadOutcome>
  close(): Promise<void>
  /**
   * How many load() calls may usefully wait at once. Batching loaders (BigQuery: one load job per batch of
   * objects) resolve each call when its batch commits and bound their own parsing concurrency, so callers
   * should keep this many calls in flight. Optional: default is the caller's concurrency.
   */
  readonly maxInFlight?: number
}

/** What a load of many objects will cost in warehouse jobs (BigQuery; shown by backfill --dry-run). */
export interface LoadEstimate {
  /** load jobs (free; limited per table per day) */
  loadJobs: number
  /** merge transactions (billed queries) */
  mergeQueries: number
  /** ledger checks (billed queries) */
  ledgerQueries: number
  objectsPerJob: number
  /** the per-table daily load-job limit respected */
  dailyLoadJobLimit: number
  /** staging URI the files go to */
  staging: string | null
  /** bytes the merges and ledger checks will bill at least (10 MB minimum per statement + the staged rows) */
  bytesBilledEstimate: number
  /** estimated on-demand cost of those bytes in USD */
  usd: number
  notes: string[]
}

/** Bytes a statement would process and its estimated on-demand cost (BigQuery dry run). */
export type StatementEstimate = QueryEstimate

export type QueryParams = Record<string, string | number | boolean | Date | null>
export type Row = Record<string, string | number | boolean | Date | null>

/** Engine-specific SQL fragments, so libraries above can build portable queries. */
export interface Dialect {
  quoteIdent(name: string): string
  /** a fully qualified, quoted table reference */
  table(name: string): string
  /** named parameter placeholder */
  param(name: string): string
  /** truncates a timestamp expression to minute|hour|day */
  timeBucket(expr: string, unit: 'minute' | 'hour' | 'day'): string
  /** seconds since the epoch (double) of a timestamp expression */
  epochSeconds(expr: string): string
  /** a timestamp literal parameter cast */
  timestampParam(name: string): string
  /**
   * An aggregate expression for the q-quantile (0..1) of a numeric expression, ignoring NULLs (latency-report).
   * `approximate` asks for the engine's sketch-based function; engines without an exact one always approximate
   * and say so in `quantilesExact`. Optional: without it the quantiles are computed client-side.
   */
  quantile?(expr: string, q: number, opts?: {approximate?: boolean}): string
  /**
   * One DML statement that keeps, in each group of rows of `table` matching `where` that share the values of
   * `partitionBy`, only the first row by `orderBy` (a complete, deterministic ORDER BY list) and removes the others
   * (dedupe --apply), byte-identical copies included. `where` is a boolean SQL expression over unqualified
   * columns; callers exclude rows with NULL key parts in it. `columns` are all the table's columns, in order.
   * Optional: engines without it cannot run dedupe --apply.
   */
  deleteRanked?(table: string, opts: {partitionBy: string[]; orderBy: string; where: string; columns: readonly string[]}): string
}

/**
 * What an engine can do, in one record (after dlt's destination capabilities): callers branch on these, never
 * on `kind` (which only names the engine in messages).
 */
export interface WarehouseCapabilities {
  /** multi-statement transactions (Warehouse.transaction): dedupe --apply needs them */
  transactions: boolean
  /** large DML runs as one transaction per day of the time column, one after the other (BigQuery: DML on a table is serialized and limited) */
  dmlPartitioned: boolean
  /** quantiles in SQL: exact, approximate only (then --compute client is exact to 3 digits), or none */
  quantiles: 'exact' | 'approximate' | 'none'
  /** how statements bill: nothing, or by bytes scanned (dry-run estimates, --max-bytes-billed, --dry-run) */
  billing: 'none' | 'bytes-scanned'
  /** load jobs allowed per table per day (BigQuery: 1,500), null without such a quota */
  dailyLoadJobsPerTable: number | null
  /**
   * The ways the engine can load objects, the default first (BigQuery: the Storage Write API or load jobs;
   * `--load-method` picks one); empty when the engine has one way only (DuckDB).
   */
  loadMethods: readonly LoadMethod[]
}

/** How BigQuery loads objects: Storage Write API pending streams, or GCS staging files and load jobs. */
export type {LoadMethod}
export const LOAD_METHODS: readonly LoadMethod[] = ['write-api', 'load-jobs']

/** What the reading commands need (reconcile, latency-report, dedupe): tables, queries, transactions. */
export interface QueryWarehouse {
  readonly kind: 'duckdb' | 'bigquery'
  /** what to print for the user: never contains secrets */
  readonly description: string
  readonly dialect: Dialect
  readonly readOnly: boolean
  readonly capabilities: WarehouseCapabilities
  tableExists(table: string): Promise<boolean>
  /** column names and logical types of a table, undefined when it does not exist */
  tableColumns(table: string): Promise<Column[] | undefined>
  /** ledger entries of a table (optionally only URIs starting with a prefix): reconcile --by object reads them too */
  readLedger(table: string, uriPrefix?: string): Promise<Map<string, LedgerEntry>>
  query(sql: string, params?: QueryParams): Promise<Row[]>
  /**
   * Runs the statement ONCE and hands its result to onPage a page at a time (at most about pageSize rows each),
   * so a large result is never held whole: DuckDB streams its chunks, BigQuery pages through the job's result
   * (reading results is free; the statement is billed once).
   */
  queryPages(sql: string, params: QueryParams | undefined, pageSize: number, onPage: (rows: Row[]) => void | Promise<void>): Promise<void>
  /**
   * Runs fn in one transaction on a dedicated connection: committed when fn resolves, rolled back when it throws
   * (or when the process dies before the commit). Optional: engines without multi-statement transactions omit it.
   */
  transaction?<T>(fn: (tx: WarehouseTransaction) => Promise<T>): Promise<T>
  /**
   * Bytes the statement would process and its estimated cost, without running it (BigQuery dry run: nothing
   * billed). Optional: engines that bill nothing per query omit it. Commands print it under --dry-run.
   */
  estimate?(sql: string, params?: QueryParams): Promise<StatementEstimate>
  /**
   * Ends what an interrupted command leaves open on the engine's side (BigQuery: the session of an open
   * transaction, which would hold the table's DML until it times out). Optional: DuckDB rolls back on exit.
   */
  abortOpenWork?(): Promise<void>
  close(): Promise<void>
}

/** What the loading commands need on top (backfill, stream): their tables and the engine's loader. */
export interface Warehouse extends QueryWarehouse {
  /** creates the table for a format if missing; adds columns a newer format version has */
  ensureTable(table: string, format: LogFormat): Promise<void>
  openLoader(opts: LoaderOptions): Promise<ObjectLoader>
  /**
   * What a loader running for days will use per day (printed when `stream` starts). Optional: engines
   * without per-day quotas or per-statement billing omit it.
   */
  describeStreaming?(): string[]
  /** BigQuery: what each load method (load jobs, Storage Write API) would use for these objects, side by side. */
  compareLoadMethods?(traffic: Traffic): LoadMethodComparison
  /** Jobs a load of this many objects / bytes will use. Optional: engines without job quotas omit it. */
  estimateLoad?(plan: {objects: number; bytes: number}): LoadEstimate
  /**
   * The version the table holds of every object under a URI prefix (what readLedger gives: committed entries
   * only, the latest per object), a page at a time, filtered and reduced by the engine: a ledger of millions of
   * objects is never held whole (backfill planned from an inventory, a file list or a plan).
   */
  pageLedger(table: string, uriPrefix: string, pageSize: number, onPage: (versions: LedgerVersion[]) => Promise<void>): Promise<void>
}

/** What pageLedger gives per object: its URI and the ETag of the version loaded. */
export interface LedgerVersion {
  uri: string
  etag: string
}

/** The statements of one open transaction (Warehouse.transaction). */
export interface WarehouseTransaction {
  query(sql: string, params?: QueryParams): Promise<Row[]>
}

/** Whether a ledger entry makes a load unnecessary: the request's own rule, else the same ETag. */
export function isCurrentEntry(req: ObjectLoadRequest, entry: LedgerEntry): boolean {
  return req.isCurrent ? req.isCurrent(entry) : isSameVersion(entry.etag, req.object)
}

export const LEDGER_TABLE = '_seneka_ledger'
export const REJECTS_TABLE = '_seneka_rejects'
