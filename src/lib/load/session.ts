import {randomBytes} from 'node:crypto'
import type {LogFormat} from '../formats/types.js'
import type {LoaderOptions, ObjectLoader, Warehouse} from '../warehouse/types.js'

/** A load id: the prefix (bf: backfill, st: stream), the UTC start time and a random suffix. */
export function newLoadId(prefix: string): string {
  const ts = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, 'Z')
  return `${prefix}-${ts}-${randomBytes(3).toString('hex')}`
}

export interface LoadSession {
  loader: ObjectLoader
  /**
   * Objects in flight at once, for backfill and stream alike: at least --concurrency, and as many as the
   * engine's loader wants waiting for its next commit (DuckDB groups several objects per commit; BigQuery's
   * batches hold up to a thousand objects, flushed when full or at --max-latency, so a stream worker that held
   * only --concurrency messages would commit a handful of objects per interval).
   */
  inFlight: number
}

/** What every load starts with: the table (created, or brought up to the format) and the engine's loader. */
export async function openLoadSession(warehouse: Warehouse, opts: {table: string; format: LogFormat} & LoaderOptions): Promise<LoadSession> {
  await warehouse.ensureTable(opts.table, opts.format)
  const loader = await warehouse.openLoader({concurrency: opts.concurrency, bulk: opts.bulk})
  return {loader, inFlight: Math.max(opts.concurrency, loader.maxInFlight ?? 0)}
}
