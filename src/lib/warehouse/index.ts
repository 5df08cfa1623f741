import path from 'node:path'
import {UsageError} from '../errors.js'
import {parseBytes} from '../cost/bigquery.js'
import type {BigQueryWarehouseOptions} from './bigquery/warehouse.js'
import type {LoadMethod, Warehouse} from './types.js'

export * from './types.js'
export {setWarehouseNotice} from './notices.js'
export {checkColumnName, checkTableName} from '../identifiers.js'

export const DEFAULT_WAREHOUSE = 'duckdb:./seneka.duckdb'

export interface WarehouseLocation {
  kind: 'duckdb' | 'bigquery'
  /** duckdb: file path; bigquery: project */
  target: string
  dataset?: string
}

export function parseWarehouse(uri: string): WarehouseLocation {
  const duck = /^duckdb:(?:\/\/)?(.+)$/.exec(uri)
  if (duck) return {kind: 'duckdb', target: duck[1] === ':memory:' ? ':memory:' : path.resolve(duck[1])}
  // project ids: 6-30 of [a-z0-9-]; legacy domain-scoped ones carry their domain (example.com:my-project)
  const bq = /^bigquery:\/\/((?:[a-z0-9][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9])\/([A-Za-z0-9_]{1,1024})$/.exec(uri)
  if (bq) return {kind: 'bigquery', target: bq[1], dataset: bq[2]}
  throw new UsageError(`"${uri}" is not a warehouse URI.`, 'Use duckdb:PATH (e.g. duckdb:./seneka.duckdb) or bigquery://PROJECT/DATASET.')
}

export interface OpenWarehouseOptions {
  /** open without writing anything (dry-runs): a missing DuckDB file reads as empty and is not created */
  readOnly?: boolean
  /**
   * DuckDB: told once when the file is locked by another process and this open waits for it (default: the
   * process-wide notice, see notices.ts); how long it waits is SENEKA_DUCKDB_LOCK_WAIT (default 30s)
   */
  onLockWait?: (message: string) => void
  /** BigQuery settings; each falls back to an environment variable (see docs/bigquery.md) */
  bigquery?: BigQuerySettings
}

export interface BigQuerySettings {
  /** dataset location [env SENEKA_BQ_LOCATION] */
  location?: string
  /** gs://bucket/prefix for load files [env SENEKA_STAGING] */
  staging?: string
  /** maximumBytesBilled of every query [env SENEKA_MAX_BYTES_BILLED, default 100 GiB] */
  maxBytesBilled?: number
  /** custom GCS endpoint for staging [else SENEKA_GCS_ENDPOINT, else STORAGE_EMULATOR_HOST: store/gcs.ts gcsEndpoint] */
  gcsEndpoint?: string
  /** custom BigQuery API endpoint [BIGQUERY_EMULATOR_HOST also honoured] */
  apiEndpoint?: string
  /** how objects are loaded (--load-method) [env SENEKA_LOAD_METHOD; default write-api] */
  loadMethod?: LoadMethod
  /** HOST:PORT of a plaintext Storage Write API endpoint [env BIGQUERY_STORAGE_EMULATOR_HOST] */
  storageEmulatorHost?: string
  /** stream: commit a batch at the latest this long after its first object arrived (--max-latency) */
  maxLatencyMs?: number
  /** --dry-run: every query is dry-run (estimate recorded) and nothing is run; reads return no rows */
  estimateOnly?: boolean
  onEstimate?: BigQueryWarehouseOptions['onEstimate']
  onWarning?: BigQueryWarehouseOptions['onWarning']
  /** extra options (tests: clients, retry delays, batching) */
  overrides?: Partial<BigQueryWarehouseOptions>
}

function bigQueryOptions(project: string, dataset: string, opts: OpenWarehouseOptions): BigQueryWarehouseOptions {
  const b = opts.bigquery ?? {}
  const env = process.env
  return {
    project,
    dataset,
    readOnly: opts.readOnly,
    location: b.location ?? env.SENEKA_BQ_LOCATION,
    staging: b.staging ?? env.SENEKA_STAGING,
    maxBytesBilled: b.maxBytesBilled ?? (env.SENEKA_MAX_BYTES_BILLED ? parseBytes(env.SENEKA_MAX_BYTES_BILLED, 'SENEKA_MAX_BYTES_BILLED') : undefined),
    gcsEndpoint: b.gcsEndpoint,
    loadMethod: b.loadMethod,
    storageEmulatorHost: b.storageEmulatorHost ?? env.BIGQUERY_STORAGE_EMULATOR_HOST,
    apiEndpoint: b.apiEndpoint,
    estimateOnly: b.estimateOnly,
    onEstimate: b.onEstimate,
    onWarning: b.onWarning,
    ...b.overrides,
    loader: {...(b.maxLatencyMs !== undefined ? {maxLatencyMs: b.maxLatencyMs} : {}), ...b.overrides?.loader},
  }
}

/** The one place warehouses are built. */
export async function openWarehouse(uri: string, opts: OpenWarehouseOptions = {}): Promise<Warehouse> {
  const loc = parseWarehouse(uri)
  // each engine's client is imported when it is used: a DuckDB run never loads the Google SDKs, and the reverse
  if (loc.kind === 'duckdb') return (await import('./duckdb/warehouse.js')).DuckDBWarehouse.open(loc.target, {readOnly: opts.readOnly, onLockWait: opts.onLockWait})
  return new (await import('./bigquery/warehouse.js')).BigQueryWarehouse(bigQueryOptions(loc.target, loc.dataset!, opts))
}
