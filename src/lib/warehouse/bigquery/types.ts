import type {Job, JobMetadata, TableMetadata} from '@google-cloud/bigquery'
import type {Storage} from '@google-cloud/storage'
import type {QueryEstimate} from '../../cost/bigquery.js'
import type {BqField} from './sql.js'
import type {Dialect, QueryParams, Row} from '../types.js'

/**
 * The pieces the BigQuery warehouse and its loader share. The loader sees the warehouse only through
 * BigQueryLoadHost, so warehouse.ts imports loader.ts and never the other way round.
 */

export type ParamValue = QueryParams[string] | string[] | Array<Record<string, string>>
export type BqParams = Record<string, ParamValue>

export interface JobResult {
  job: Job
  metadata: JobMetadata
}

/** What the loader needs from the warehouse: its dialect, tables, and the job runner with the cost guard. */
export interface BigQueryLoadHost {
  readonly dialect: Dialect
  readonly project: string
  /** dataset location jobs run in (undefined: the client's default) */
  readonly location: string | undefined
  readonly maxBytesBilled: number
  readonly opts: {storage?: Storage; gcsEndpoint?: string; retries?: number; retryBaseDelayMs?: number}
  ref(name: string): {datasetId: string; tableId: string}
  createTable(name: string, fields: BqField[], extra?: Partial<TableMetadata>): Promise<void>
  dropTable(name: string): Promise<void>
  /** dry run (estimate reported), refused above the cap, run with maximumBytesBilled; the rows */
  runQuery(sql: string, params: BqParams | undefined, label: string): Promise<Row[]>
  dryRun(sql: string, params: BqParams | undefined, label: string): Promise<QueryEstimate>
  runJob(configuration: Record<string, unknown>, kind: string): Promise<JobResult>
}
