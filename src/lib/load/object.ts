import type {Readable} from 'node:stream'
import type {LogFormat} from '../formats/types.js'
import {isTransient, withRetry} from '../retry.js'
import type {ObjectInfo, ObjectStore} from '../store/types.js'
import type {LedgerEntry, LoadPath, ObjectLoader, ObjectLoadOutcome} from '../warehouse/types.js'
import {ParsePool} from '../warehouse/duckdb/parse-pool.js'
import {newCounters, type ReadCounters, type Reject, readBatches, readObject} from '../loader/read-object.js'
import {checkRejectRule} from '../loader/reject-rule.js'

export interface LoadObjectOptions {
  loader: ObjectLoader
  store: ObjectStore
  table: string
  format: LogFormat
  object: ObjectInfo
  loadId: string
  path: LoadPath
  sequencer?: string
  isCurrent?: (entry: LedgerEntry) => boolean
  /** caller-owned counters, so they can be read when the load throws */
  counters?: ReadCounters
  /** transient failures retried this many times (default 4) */
  retries?: number
  maxRejectSamples?: number
  /**
   * Fail an object whose lines are (nearly) all rejected instead of loading it (see reject-rule.ts); the check
   * runs after parsing, before anything is committed. Default true.
   */
  rejectRule?: boolean
  onRetry?: (err: unknown, attempt: number) => void
}

export interface LoadObjectResult {
  outcome: ObjectLoadOutcome
  counters: ReadCounters
  /** the first rejected lines (up to maxRejectSamples) */
  rejectSamples: Reject[]
}


/**
 * Loads one object from a store into a table as one warehouse transaction (rows + rejects + ledger entry),
 * retrying transient failures. Used by backfill and stream.
 */
export async function loadObject(opts: LoadObjectOptions): Promise<LoadObjectResult> {
  const counters = opts.counters ?? newCounters()
  const samples: Reject[] = []
  const max = opts.maxRejectSamples ?? 20
  const {store, object, format} = opts
  const rule = opts.rejectRule ?? true
  const pool = ParsePool.get()
  // the bytes of the object as LIST/HEAD described it: a short or corrupted read is retried, never loaded
  const read = (): Promise<Readable> => readObject(() => store.read(object.key, {version: object.etag || undefined}), object, {allowLonger: store.scheme === 'gs'})
  const outcome = await withRetry(
    () => {
      counters.storedBytes = 0
      counters.bytes = 0
      samples.length = 0
      return opts.loader.load({
        table: opts.table,
        format,
        object,
        loadId: opts.loadId,
        path: opts.path,
        sequencer: opts.sequencer,
        isCurrent: opts.isCurrent,
        stage: pool
          ? async (file: string) => {
              const r = await pool.stage(await read(), format, file, counters)
              for (const rej of r.rejects) if (samples.length < max) samples.push(rej)
              if (rule) checkRejectRule(object.uri, format, r.rows, r.rejected, r.rejects)
              return r
            }
          : undefined,
        batches: async function* () {
          let rows = 0
          let rejected = 0
          for await (const b of readBatches(await read(), format, counters)) {
            for (const r of b.rejects) if (samples.length < max) samples.push(r)
            rows += b.count
            rejected += b.rejects.length
            yield b
          }
          // thrown before the loader commits (it consumes every batch first)
          if (rule) checkRejectRule(object.uri, format, rows, rejected, samples)
        },
      })
    },
    {retries: opts.retries ?? 4, baseDelayMs: 200, isRetryable: isTransient, onRetry: (err, n) => opts.onRetry?.(err, n)},
  )
  return {outcome, counters, rejectSamples: samples}
}
