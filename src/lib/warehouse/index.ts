import path from 'node:path'
import {UsageError} from '../errors.js'
import {DuckDBWarehouse} from './duckdb.js'
import type {Warehouse} from './types.js'

export * from './types.js'
export {checkColumnName, checkTableName} from './identifiers.js'

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
  const bq = /^bigquery:\/\/([a-z][a-z0-9-]{4,28}[a-z0-9])\/([A-Za-z0-9_]{1,1024})$/.exec(uri)
  if (bq) return {kind: 'bigquery', target: bq[1], dataset: bq[2]}
  throw new UsageError(`"${uri}" is not a warehouse URI.`, 'Use duckdb:PATH (e.g. duckdb:./seneka.duckdb) or bigquery://PROJECT/DATASET.')
}

export interface OpenWarehouseOptions {
  /** open without writing anything (dry-runs): a missing DuckDB file reads as empty and is not created */
  readOnly?: boolean
}

/** The one place warehouses are built. */
export async function openWarehouse(uri: string, opts: OpenWarehouseOptions = {}): Promise<Warehouse> {
  const loc = parseWarehouse(uri)
  if (loc.kind === 'duckdb') return DuckDBWarehouse.open(loc.target, opts)
  throw new UsageError('BigQuery warehouses are not supported yet.', `Use ${DEFAULT_WAREHOUSE} for now.`)
}
