import {BigQuery, type JobMetadata, type Table, type TableMetadata} from '@google-cloud/bigquery'
import type {Storage} from '@google-cloud/storage'
import {compareLoadMethods, type LoadMethodComparison, type Traffic, writeApiModel} from '../../cost/load-methods.js'
import {DEFAULT_MAX_BYTES_BILLED, describeEstimate, formatUsd, makeEstimate, ON_DEMAND_USD_PER_TIB, type QueryEstimate} from '../../cost/bigquery.js'
import {UserError} from '../../errors.js'
import {type Column, type LogFormat, tableColumns} from '../../formats/types.js'
import {emulatorAuthClient} from '../../gcp/auth.js'
import {explainGcpError, httpStatus, isGcpTransient} from '../../gcp/errors.js'
import {withRetry} from '../../retry.js'
import {formatBytes, formatCount} from '../../output/units.js'
import {formatDuration} from '../../time.js'
import {BigQueryLoader, type LoaderSettings} from './loader.js'
import {currentEntries} from './write-api/ledger.js'
import type {WriteApiLoaderSettings} from './write-api/loader.js'
import {writeApiStreamingDay} from './write-api/plan.js'
import {BULK_GROUPS, type GroupPolicy, groupPolicy, STREAM_GROUPS} from './write-api/groups.js'
import type {BigQueryLoadHost, BqParams, JobResult} from './types.js'
import {bigQueryDialect, type BqField, bqSchema, DAILY_LOAD_JOBS_PER_TABLE, fromBqType, LEDGER_SCHEMA, ledgerSelectSql, ledgerVersionsSql, REJECTS_SCHEMA} from './sql.js'
import {checkTableName} from '../../identifiers.js'

import {
  LEDGER_TABLE,
  type LedgerEntry,
  type LedgerVersion,
  type LoadEstimate,
  LOAD_METHODS,
  type LoadMethod,
  type LoaderOptions,
  type ObjectLoader,
  type QueryParams,
  REJECTS_TABLE,
  type Row,
  type Warehouse,
  type WarehouseCapabilities,
  type WarehouseTransaction,
} from '../types.js'

/** Ledgers up to this many rows are read with tabledata.list (free) instead of a query. */
const FREE_LEDGER_READ_ROWS = 500_000

export interface BigQueryWarehouseOptions {
  project: string
  dataset: string
  /** dataset location (US, EU, europe-west1 ...): jobs run there */
  location?: string
  /** gs://bucket/prefix where load files are staged (required to load) */
  staging?: string
  /** dry-run every query and run none (--dry-run of reading commands): reads return no rows */
  estimateOnly?: boolean
  /** maximumBytesBilled sent with every query; statements estimated above it are not run */
  maxBytesBilled?: number
  /** custom GCS endpoint for the staging bucket */
  gcsEndpoint?: string
  /** custom BigQuery endpoint (test doubles); BIGQUERY_EMULATOR_HOST is honoured by the library */
  apiEndpoint?: string
  readOnly?: boolean
  /** replace the clients (tests) */
  client?: BigQuery
  storage?: Storage
  retries?: number
  retryBaseDelayMs?: number
  /** give up waiting for a job after this long (the job itself is also given this jobTimeoutMs) */
  jobTimeoutMs?: number
  pollIntervalMs?: number
  /** loader batching */
  loader?: Partial<LoaderSettings>
  /** how objects are loaded (--load-method): the Storage Write API (default) or staging files and load jobs */
  loadMethod?: LoadMethod
  /** HOST:PORT of a plaintext Storage Write API endpoint [env BIGQUERY_STORAGE_EMULATOR_HOST] */
  storageEmulatorHost?: string
  /** Write API loader settings (tests: lease, look-up interval, injected steps) */
  writeApi?: Partial<Omit<WriteApiLoaderSettings, 'groups'>> & {groups?: Partial<GroupPolicy>}
  /** called with every dry-run estimate (commands print them on stderr) */
  onEstimate?: (e: QueryEstimate) => void
  /** called with warnings worth showing (e.g. a time range without a partition filter) */
  onWarning?: (message: string) => void
}

export type {BqParams, JobResult} from './types.js'

interface QueryParameter {
  name: string
  parameterType: {type: string; arrayType?: {type: string; structTypes?: Array<{name: string; type: {type: string}}>}}
  parameterValue: {value?: string | null; arrayValues?: Array<{value?: string; structValues?: Record<string, {value: string}>}>}
}

/** Whether the SQL is a multi-statement script (statements seneka generates end with ";" on their own line). */
export function isScript(sql: string): boolean {
  return /;\s*\n\s*\S/.test(sql)
}

export function timestampValue(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '+00:00')
}

/** Named query parameters with explicit types (a null is sent as a typed STRING NULL). */
export function toQueryParameters(params: BqParams = {}): QueryParameter[] {
  return Object.entries(params).map(([name, v]) => {
    if (Array.isArray(v)) {
      if (v.length > 0 && typeof v[0] === 'object') {
        const keys = Object.keys(v[0] as Record<string, string>)
        return {
          name,
          parameterType: {type: 'ARRAY', arrayType: {type: 'STRUCT', structTypes: keys.map((k) => ({name: k, type: {type: 'STRING'}}))}},
          parameterValue: {arrayValues: (v as Array<Record<string, string>>).map((o) => ({structValues: Object.fromEntries(keys.map((k) => [k, {value: o[k]}]))}))},
        }
      }
      return {name, parameterType: {type: 'ARRAY', arrayType: {type: 'STRING'}}, parameterValue: {arrayValues: (v as string[]).map((s) => ({value: s}))}}
    }
    if (v === null) return {name, parameterType: {type: 'STRING'}, parameterValue: {value: null}}
    if (v instanceof Date) return {name, parameterType: {type: 'TIMESTAMP'}, parameterValue: {value: timestampValue(v)}}
    if (typeof v === 'boolean') return {name, parameterType: {type: 'BOOL'}, parameterValue: {value: String(v)}}
    if (typeof v === 'number') return {name, parameterType: {type: Number.isInteger(v) ? 'INT64' : 'FLOAT64'}, parameterValue: {value: String(v)}}
    return {name, parameterType: {type: 'STRING'}, parameterValue: {value: v}}
  })
}

/** Values as the client library returns them -> plain row values (timestamps as Date). */
export function fromBq(v: unknown): Row[string] {
  if (v === null || v === undefined) return null
  if (typeof v === 'object') {
    const o = v as {value?: unknown; constructor?: {name?: string}}
    if (o instanceof Date) return o
    if (o.constructor?.name === 'BigQueryTimestamp') return new Date(String(o.value))
    if ('value' in o) return String(o.value)
    if (Buffer.isBuffer(v)) return v.toString('base64')
    return JSON.stringify(v)
  }
  return v as Row[string]
}


export function parseGsUri(uri: string, flag = '--staging'): {bucket: string; prefix: string} {
  const m = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])(?:\/(.*))?$/.exec(uri)
  if (!m) throw new UserError(`${flag} "${uri}" is not a gs://bucket/prefix URI.`, {suggestion: 'For example --staging gs://my-bucket/seneka-staging'})
  return {bucket: m[1], prefix: (m[2] ?? '').replace(/\/+$/, '')}
}

/**
 * BigQuery as the warehouse. Every statement is dry-run first (bytes and estimated cost reported, refused
 * above the cap) and then sent with maximumBytesBilled. Table metadata comes from the tables API, which is
 * free; loads go through GCS staging files and load jobs (free), merged by one transaction per batch.
 */
export class BigQueryWarehouse implements Warehouse, BigQueryLoadHost {
  readonly kind = 'bigquery' as const
  readonly capabilities: WarehouseCapabilities = {
    transactions: true,
    // DML on one table is serialized and limited: dedupe --apply works day by day
    dmlPartitioned: true,
    // APPROX_QUANTILES only (PERCENTILE_CONT is analytic, not an aggregate)
    quantiles: 'approximate',
    billing: 'bytes-scanned',
    dailyLoadJobsPerTable: DAILY_LOAD_JOBS_PER_TABLE,
    loadMethods: LOAD_METHODS,
  }
  readonly dialect
  readonly readOnly: boolean
  readonly maxBytesBilled: number
  /** every dry-run estimate made so far, in order */
  readonly estimates: QueryEstimate[] = []
  readonly client: BigQuery
  private readonly retries: number
  private readonly baseDelayMs: number
  private readonly jobTimeoutMs: number
  private readonly pollIntervalMs: number
  private readonly metaReady = new Set<string>()
  private jobSeq = 0
  private readonly openSessions = new Set<string>()

  constructor(readonly opts: BigQueryWarehouseOptions) {
    this.dialect = bigQueryDialect(opts.project, opts.dataset)
    this.readOnly = opts.readOnly ?? false
    this.maxBytesBilled = opts.maxBytesBilled ?? DEFAULT_MAX_BYTES_BILLED
    this.retries = opts.retries ?? 6
    this.baseDelayMs = opts.retryBaseDelayMs ?? 500
    this.jobTimeoutMs = opts.jobTimeoutMs ?? 30 * 60_000
    this.pollIntervalMs = opts.pollIntervalMs ?? 1000
    this.client =
      opts.client ??
      new BigQuery({
        projectId: opts.project,
        location: opts.location,
        autoRetry: false,
        ...(opts.apiEndpoint ? {apiEndpoint: opts.apiEndpoint} : {}),
        // an emulator or test double: no ADC lookup, no metadata-server probe
        ...(opts.apiEndpoint || process.env.BIGQUERY_EMULATOR_HOST ? {authClient: emulatorAuthClient() as never} : {}),
      })
  }

  get description(): string {
    return `bigquery://${this.opts.project}/${this.opts.dataset}${this.opts.location ? ` (${this.opts.location})` : ''}`
  }

  get project(): string {
    return this.opts.project
  }

  get location(): string | undefined {
    return this.opts.location ?? this.datasetLocation
  }

  private datasetLocation: string | undefined
  private locationRead: Promise<string | undefined> | undefined

  /**
   * The location every job runs in: the configured one, else the dataset's own (datasets.get, free; read
   * once). Without it a job goes to the client's default, US: a session there cannot touch an EU dataset.
   */
  async jobLocation(): Promise<string | undefined> {
    if (this.opts.location) return this.opts.location
    this.locationRead ??= this.call(`read the location of dataset ${this.opts.dataset}`, 'bigquery.datasets.get', async () => {
      const [meta] = await this.client.dataset(this.opts.dataset).getMetadata()
      return (meta as {location?: string}).location
    }).then(
      (loc) => (this.datasetLocation = loc),
      (err) => {
        this.locationRead = undefined
        throw err
      },
    )
    return this.locationRead
  }

  /** Drops a table (staging cleanup); a missing table is not an error. */
  async dropTable(name: string): Promise<void> {
    try {
      await this.table(name).delete()
    } catch (err) {
      if (httpStatus(err) !== 404) throw err
    }
  }

  /** dataset and table id of a (possibly dataset-qualified) table name */
  ref(name: string): {datasetId: string; tableId: string} {
    const parts = checkTableName(name).split('.')
    return parts.length === 2 ? {datasetId: parts[0], tableId: parts[1]} : {datasetId: this.opts.dataset, tableId: parts[0]}
  }

  table(name: string): Table {
    const r = this.ref(name)
    return this.client.dataset(r.datasetId, {location: this.opts.location}).table(r.tableId)
  }

  /** One API call with retries on 429/5xx/rate limits, and Google errors turned into clear sentences. */
  async call<T>(what: string, needs: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, {retries: this.retries, baseDelayMs: this.baseDelayMs, isRetryable: isGcpTransient}).catch((err) => {
      throw explainGcpError(err, {what, needs, service: 'bigquery'})
    })
  }

  private async metadata(name: string): Promise<TableMetadata | undefined> {
    try {
      const [m] = await withRetry(() => this.table(name).getMetadata(), {retries: this.retries, baseDelayMs: this.baseDelayMs, isRetryable: isGcpTransient})
      return m
    } catch (err) {
      if (httpStatus(err) === 404) return undefined
      throw explainGcpError(err, {what: `read the metadata of table ${name}`, needs: 'bigquery.tables.get', service: 'bigquery'})
    }
  }

  async tableExists(table: string): Promise<boolean> {
    return (await this.metadata(table)) !== undefined
  }

  async tableColumns(table: string): Promise<Column[] | undefined> {
    const m = await this.metadata(table)
    if (!m) return undefined
    return (m.schema?.fields ?? []).map((f) => ({name: String(f.name), type: fromBqType(String(f.type))}))
  }

  /** Creates a table through the tables API (free: no query). */
  async createTable(name: string, fields: BqField[], extra: Partial<TableMetadata> = {}): Promise<void> {
    const r = this.ref(name)
    try {
      await withRetry(
        () => this.client.dataset(r.datasetId, {location: this.opts.location}).createTable(r.tableId, {schema: {fields}, ...extra} as TableMetadata),
        {retries: this.retries, baseDelayMs: this.baseDelayMs, isRetryable: isGcpTransient},
      )
    } catch (err) {
      if (httpStatus(err) === 409) return // created meanwhile (another shard)
      throw explainGcpError(err, {what: `create table ${r.datasetId}.${r.tableId}`, needs: 'bigquery.tables.create', service: 'bigquery'})
    }
  }

  private async ensureMeta(): Promise<void> {
    if (this.readOnly) throw new Error('cannot write to a read-only warehouse')
    for (const [name, schema, extra] of [
      [LEDGER_TABLE, LEDGER_SCHEMA, {clustering: {fields: ['target_table', 'object_uri']}}],
      [REJECTS_TABLE, REJECTS_SCHEMA, {timePartitioning: {type: 'DAY', field: 'rejected_at'}, clustering: {fields: ['target_table', 'object_uri']}}],
    ] as const) {
      if (this.metaReady.has(name)) continue
      const m = await this.metadata(name)
      if (!m) await this.createTable(name, [...schema], extra as unknown as Partial<TableMetadata>)
      else {
        // a ledger written by an older version: add the columns it lacks (NULLABLE: a metadata change, free)
        const fields = m.schema?.fields ?? []
        const have = new Set(fields.map((f) => f.name))
        const missing = schema.filter((f) => !have.has(f.name))
        if (missing.length > 0) {
          await this.call(`add columns to ${name}`, 'bigquery.tables.update', () =>
            this.table(name).setMetadata({schema: {fields: [...fields, ...missing.map((f) => ({...f, mode: 'NULLABLE'}))]}, etag: m.etag} as TableMetadata),
          )
        }
      }
      this.metaReady.add(name)
    }
  }

  /**
   * Target tables are partitioned by day on event_time (queries with a time range scan only those days)
   * and clustered by _source_uri (replacing an object's rows and per-object reconciliation read few blocks).
   */
  async ensureTable(table: string, format: LogFormat): Promise<void> {
    await this.ensureMeta()
    const want = tableColumns(format)
    const m = await this.metadata(table)
    if (!m) {
      await this.createTable(table, bqSchema(want), {
        timePartitioning: {type: 'DAY', field: 'event_time'},
        clustering: {fields: ['_source_uri']},
        description: `seneka: ${format.name} logs`,
      })
      return
    }
    const fields = m.schema?.fields ?? []
    const names = new Set(fields.map((f) => f.name))
    const missing = want.filter((c) => !names.has(c.name))
    if (missing.length === want.length || !names.has('_source_uri')) {
      throw new UserError(`The table ${table} exists but does not have the ${format.name} layout.`, {
        suggestion: 'Load into a new table (--table) or drop the existing one.',
      })
    }
    if (missing.length > 0) {
      // adding NULLABLE columns is a metadata change; the etag makes a concurrent change fail instead of being lost
      await this.call(`add columns to ${table}`, 'bigquery.tables.update', () =>
        this.table(table).setMetadata({schema: {fields: [...fields, ...bqSchema(missing)]}, etag: m.etag} as TableMetadata),
      )
    }
  }

  async readLedger(table: string, uriPrefix = ''): Promise<Map<string, LedgerEntry>> {
    const out = new Map<string, LedgerEntry>()
    const m = await this.metadata(LEDGER_TABLE)
    if (!m) return out
    const rows =
      this.readOnly || Number(m.numRows ?? 0) <= FREE_LEDGER_READ_ROWS
        ? await this.readRowsFree(LEDGER_TABLE)
        : await this.runQuery(ledgerSelectSql(this.dialect), {table, prefix: uriPrefix}, 'ledger read')
    // several rows per object on the Write API path (intent, committed ...): the committed one recorded last counts
    return currentEntries(
      rows.filter((r) => r.target_table === table && String(r.object_uri).startsWith(uriPrefix)),
      table,
    )
  }

  async pageLedger(table: string, uriPrefix: string, pageSize: number, onPage: (versions: LedgerVersion[]) => Promise<void>): Promise<void> {
    if (!(await this.metadata(LEDGER_TABLE))) return
    await this.runQueryPages(ledgerVersionsSql(this.dialect), {table, prefix: uriPrefix}, 'ledger read', pageSize, (rows) => onPage(rows.map((r) => ({uri: String(r.object_uri), etag: String(r.etag)}))))
  }

  /** Reads a table's rows with tabledata.list: no query, nothing billed. */
  async readRowsFree(name: string): Promise<Row[]> {
    const t = this.table(name)
    const out: Row[] = []
    let pageToken: string | undefined
    do {
      const [rows, next] = await this.call(`read table ${name}`, 'bigquery.tables.getData', () =>
        t.getRows({autoPaginate: false, maxResults: 10_000, pageToken}),
      )
      for (const r of rows) out.push(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, fromBq(v)])))
      pageToken = (next as {pageToken?: string} | null)?.pageToken
    } while (pageToken)
    return out
  }

  /**
   * The load method in use: the one asked for; else load jobs when a staging prefix is configured (a setup made
   * for them), else the engine's default, the first of its capabilities (the Write API).
   */
  get loadMethod(): LoadMethod {
    return this.opts.loadMethod ?? (this.opts.staging ? 'load-jobs' : this.capabilities.loadMethods[0])
  }

  async openLoader(opts: LoaderOptions): Promise<ObjectLoader> {
    if (this.readOnly) throw new Error('cannot load into a read-only warehouse')
    if (this.loadMethod === 'write-api') {
      if (this.opts.staging) this.opts.onWarning?.('The Write API loads without a staging prefix: --staging is used by --load-method load-jobs only.')
      await this.ensureMeta()
      const {WriteApiLoader} = await import('./write-api/loader.js')
      const {groups: _g, ...writeApi} = this.opts.writeApi ?? {}
      const policy = this.writeApiPolicy(opts.bulk === true)
      return WriteApiLoader.open(this, {
        concurrency: opts.concurrency,
        emulatorHost: this.opts.storageEmulatorHost ?? process.env.BIGQUERY_STORAGE_EMULATOR_HOST,
        ...writeApi,
        minLookupIntervalMs: policy.lookupIntervalMs,
        groups: policy,
      })
    }
    if (!this.opts.staging) {
      throw new UserError('Loading into BigQuery needs a GCS staging prefix.', {suggestion: 'Add --staging gs://BUCKET/PREFIX (a bucket in the dataset location).'})
    }
    await this.ensureMeta()
    return BigQueryLoader.open(this, {concurrency: opts.concurrency, staging: parseGsUri(this.opts.staging), onWarning: this.opts.onWarning, ...this.opts.loader})
  }

  describeStreaming(): string[] {
    const maxLatencyMs = this.opts.loader?.maxLatencyMs
    if (maxLatencyMs === undefined) return []
    if (this.loadMethod === 'write-api') return writeApiStreamingDay(this.writeApiPolicy(false))
    const p = BigQueryLoader.streamDay({...this.opts.loader, maxLatencyMs})
    const every = formatDuration(maxLatencyMs)
    return [
      `BigQuery: a batch commits when full (${formatCount(p.objectsPerBatch)} objects) or ${every} after its first object (--max-latency): at most ${formatCount(p.batchesPerDay)} load jobs and ${formatCount(p.batchesPerDay)} merge transactions a day per table below ${formatCount(p.objectsPerBatch)} objects per ${every}.`,
      `BigQuery: at least ${formatBytes(p.minBytesBilledPerDay)} billed a day (${formatCount(p.statementsPerDay)} statements of at least 10 MB; about ${formatUsd(p.minUsdPerDay)} at $${ON_DEMAND_USD_PER_TIB}/TiB), plus the staged rows read once. Quota: ${formatCount(p.dailyLoadJobLimit)} load jobs per table per day; staging tables rotate before it (${formatCount(p.stagingTablesPerDay)} a day).`,
    ]
  }

  compareLoadMethods(traffic: Traffic): LoadMethodComparison {
    return compareLoadMethods(traffic, BigQueryLoader.model(this.opts.loader ?? {}), writeApiModel(this.writeApiPolicy(traffic.window === 'run')))
  }

  /**
   * How the Write API loader groups objects and paces its look-ups: a backfill's (bulk: larger groups) or a stream
   * worker's, with the environment's settings and this warehouse's overrides; the loader, the start line and the
   * dry run's model all use it.
   */
  private writeApiPolicy(bulk: boolean): GroupPolicy {
    const {groups, minLookupIntervalMs} = this.opts.writeApi ?? {}
    return {...groupPolicy(bulk ? BULK_GROUPS : STREAM_GROUPS), ...groups, ...(minLookupIntervalMs === undefined ? {} : {lookupIntervalMs: minLookupIntervalMs})}
  }

  estimateLoad(plan: {objects: number; bytes: number}): LoadEstimate {
    return BigQueryLoader.estimate(plan, {...this.opts.loader, staging: this.opts.staging})
  }

  async query(sql: string, params?: QueryParams): Promise<Row[]> {
    return this.runQuery(sql, params, 'query')
  }

  async estimate(sql: string, params?: QueryParams): Promise<QueryEstimate> {
    return this.dryRun(sql, params, 'query')
  }

  private warnIfUnpartitioned(sql: string, params?: BqParams): void {
    const hasRange = Object.values(params ?? {}).some((v) => v instanceof Date)
    if (hasRange && /\bFROM\b/i.test(sql) && !/\bevent_time\b/i.test(sql) && !sql.includes(LEDGER_TABLE) && !sql.includes(REJECTS_TABLE)) {
      this.opts.onWarning?.('A query with a time range has no event_time filter: it reads every partition of the table.')
    }
  }

  private nextJobId(kind: string): string {
    const rand = Math.random().toString(36).slice(2, 10)
    return `seneka_${kind}_${Date.now().toString(36)}_${++this.jobSeq}_${rand}`
  }

  /** Dry run: what the statement would process, without running or billing anything. */
  async dryRun(sql: string, params: BqParams | undefined, label: string): Promise<QueryEstimate> {
    const location = await this.jobLocation()
    const [, resp] = await this.call(`estimate a query (dry run)`, 'bigquery.jobs.create', () =>
      this.client.createJob({
        configuration: {dryRun: true, query: {query: sql, useLegacySql: false, parameterMode: 'NAMED', queryParameters: toQueryParameters(params)}},
        location,
      } as never),
    )
    const bytes = Number((resp as JobMetadata)?.statistics?.totalBytesProcessed ?? 0)
    const e = makeEstimate(label, bytes, this.maxBytesBilled)
    this.estimates.push(e)
    this.opts.onEstimate?.(e)
    return e
  }

  /**
   * Runs fn in one multi-statement transaction of a BigQuery session: a first job with createSession runs
   * BEGIN TRANSACTION, every statement of fn runs in that session (connectionProperties session_id), then
   * COMMIT TRANSACTION, or ROLLBACK TRANSACTION when fn or a statement fails; the session is aborted at the end
   * either way. Each statement keeps the cost guard: dry run first (outside the session: a dry run does not need
   * it and runs nothing), refused above the cap, then sent with maximumBytesBilled. A process killed before the
   * commit leaves the transaction uncommitted: BigQuery rolls it back when the session ends or times out.
   */
  async transaction<T>(fn: (tx: WarehouseTransaction) => Promise<T>): Promise<T> {
    if (this.readOnly) throw new Error('cannot write to a read-only warehouse')
    const begin = await this.runJob({query: {query: 'BEGIN TRANSACTION', useLegacySql: false, createSession: true, maximumBytesBilled: String(this.maxBytesBilled)}}, 'transaction')
    const session = begin.metadata.statistics?.sessionInfo?.sessionId
    if (!session) throw new Error(`BigQuery did not return a session id for job ${begin.job.id ?? ''}: cannot run a transaction`)
    const inSession = (sql: string, kind: string) => this.runInSession(session, sql, kind)
    this.openSessions.add(session)
    try {
      let result: T
      try {
        result = await fn({query: (sql, params) => this.runQuery(sql, params, 'query', session)})
        await inSession('COMMIT TRANSACTION', 'commit')
      } catch (err) {
        // best effort: an open transaction is rolled back anyway when the session ends
        await inSession('ROLLBACK TRANSACTION', 'rollback').catch(() => {})
        throw err
      }
      return result
    } finally {
      if (this.openSessions.delete(session)) await this.endSession(session)
    }
  }

  private runInSession(session: string, sql: string, kind: string): Promise<JobResult> {
    return this.runJob({query: {query: sql, useLegacySql: false, connectionProperties: [{key: 'session_id', value: session}], maximumBytesBilled: String(this.maxBytesBilled)}}, kind)
  }

  /** Ends a session: its open transaction, if any, is rolled back by BigQuery and the table's DML is free again. */
  private async endSession(session: string): Promise<void> {
    await this.runInSession(session, 'CALL BQ.ABORT_SESSION()', 'session_end').catch((err) =>
      this.opts.onWarning?.(`Could not end BigQuery session ${session} (it expires on its own): ${(err as Error).message}`),
    )
  }

  /**
   * Ends every session a transaction still holds (an interrupted dedupe --apply): an open transaction would
   * otherwise keep the table's DML waiting until BigQuery times the session out. Also called by close().
   */
  async abortOpenWork(): Promise<void> {
    const open = [...this.openSessions]
    this.openSessions.clear()
    await Promise.all(open.map((s) => this.endSession(s)))
  }

  /**
   * Dry run, refuse above the cap, run with maximumBytesBilled, wait, fetch the rows. With `session`, the
   * statement runs in that BigQuery session (the dry run does not: it needs no session and runs nothing).
   */
  async runQuery(sql: string, params: BqParams | undefined, label: string, session?: string): Promise<Row[]> {
    const out: Row[] = []
    await this.runQueryPages(sql, params, label, 10_000, (rows) => void out.push(...rows), session)
    return out
  }

  async queryPages(sql: string, params: QueryParams | undefined, pageSize: number, onPage: (rows: Row[]) => void | Promise<void>): Promise<void> {
    return this.runQueryPages(sql, params, 'query', pageSize, onPage)
  }

  /**
   * Dry run, refuse above the cap, run with maximumBytesBilled, wait, then hand the result to onPage one page
   * (getQueryResults, free) at a time. With `session`, the statement runs in that BigQuery session (the dry run
   * does not: it needs no session and runs nothing).
   */
  private async runQueryPages(sql: string, params: BqParams | undefined, label: string, pageSize: number, onPage: (rows: Row[]) => void | Promise<void>, session?: string): Promise<void> {
    this.warnIfUnpartitioned(sql, params)
    const e = await this.dryRun(sql, params, label)
    if (this.opts.estimateOnly) return
    if (e.bytesProcessed > this.maxBytesBilled) {
      throw new UserError(`The ${label} would process ${formatBytes(e.bytesProcessed)}, over the --max-bytes-billed cap of ${formatBytes(this.maxBytesBilled)}; nothing was run or billed.`, {
        suggestion: `${describeEstimate(e)}. Narrow --since/--until, or raise --max-bytes-billed if this is expected.`,
      })
    }
    const {job} = await this.runJob(
      {query: {query: sql, useLegacySql: false, parameterMode: 'NAMED', queryParameters: toQueryParameters(params), maximumBytesBilled: String(this.maxBytesBilled),
        ...(session ? {connectionProperties: [{key: 'session_id', value: session}]} : {}),
        // a script: every statement is capped too, and the result is its last statement's
        ...(isScript(sql) ? {scriptOptions: {statementByteBudget: String(this.maxBytesBilled), keyResultStatement: 'LAST'}} : {})}},
      'query',
    )
    let pageToken: string | undefined
    do {
      const [rows, next] = await this.call('read query results', 'bigquery.jobs.get', () =>
        job.getQueryResults({autoPaginate: false, maxResults: Math.max(1, Math.floor(pageSize)), pageToken, timeoutMs: 10_000}),
      )
      await onPage(rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, fromBq(v)]))))
      pageToken = (next as {pageToken?: string} | null)?.pageToken
    } while (pageToken)
  }

  /**
   * Inserts a job with a client-chosen id (a retried insert whose reply was lost finds its job instead of
   * starting a second one), polls it with backoff until DONE, and gives up after jobTimeoutMs.
   */
  async runJob(configuration: Record<string, unknown>, kind: string): Promise<JobResult> {
    const jobId = this.nextJobId(kind)
    const needs = 'bigquery.jobs.create'
    const location = await this.jobLocation()
    let [job, metadata] = await this.call(`start a BigQuery ${kind} job`, needs, async () => {
      try {
        const [j, m] = await this.client.createJob({configuration: {...configuration, jobTimeoutMs: String(this.jobTimeoutMs)}, jobId, location} as never)
        return [j, m as JobMetadata] as const
      } catch (err) {
        if (httpStatus(err) !== 409) throw err
        const j = this.client.job(jobId, {location})
        const [m] = await j.getMetadata()
        return [j, m as JobMetadata] as const
      }
    })
    const started = Date.now()
    let delay = this.pollIntervalMs
    while (metadata.status?.state !== 'DONE') {
      if (Date.now() - started > this.jobTimeoutMs) {
        throw new UserError(`The BigQuery ${kind} job ${jobId} did not finish within ${Math.round(this.jobTimeoutMs / 1000)} s.`, {
          suggestion: `Look at it with: bq show -j ${this.opts.project}:${location ?? 'US'}.${jobId}`,
        })
      }
      await new Promise((r) => setTimeout(r, delay))
      delay = Math.min(delay * 1.5, 10_000)
      ;[metadata] = await this.call(`check BigQuery job ${jobId}`, 'bigquery.jobs.get', () => job.getMetadata() as unknown as Promise<[JobMetadata]>)
    }
    const errorResult = metadata.status?.errorResult
    if (errorResult) {
      const err = Object.assign(new Error(`BigQuery ${kind} job ${jobId} failed: ${errorResult.message ?? errorResult.reason}`), {
        errors: metadata.status?.errors ?? [errorResult],
        reason: errorResult.reason,
      })
      if (errorResult.reason === 'bytesBilledLimitExceeded') {
        throw new UserError(`A BigQuery ${kind} job stopped at the --max-bytes-billed cap of ${formatBytes(this.maxBytesBilled)}; it was not billed.`, {
          suggestion: 'Raise --max-bytes-billed if the amount is expected.',
          cause: err,
        })
      }
      if (errorResult.reason === 'accessDenied') {
        throw explainGcpError(Object.assign(err, {code: 403}), {what: `run a BigQuery ${kind} job`, needs: 'bigquery.tables.updateData', service: 'bigquery'})
      }
      // concurrent transactions on the same table abort one of them: safe to run again (keyed by the ledger)
      if (/concurrent update|could not serialize|rateLimitExceeded|backendError|internalError/i.test(`${errorResult.reason} ${errorResult.message}`)) {
        ;(err as {$retryable?: unknown}).$retryable = {throttling: false}
      }
      throw err
    }
    return {job, metadata}
  }

  async close(): Promise<void> {
    await this.abortOpenWork()
  }
}
