import type {Readable} from 'node:stream'
import {isTransient, withRetry} from '../retry.js'
import type {ObjectStore} from '../store/types.js'
import type {ObjectLoader, ObjectLoadOutcome, ObjectLoadRequest} from '../warehouse/types.js'
import {ObjectParseReport} from '../loader/parse-report.js'
import {newCounters, type ReadCounters, type Reject, readObject} from '../loader/read-object.js'

/** rejected lines kept for the reject rule's format guess */
const KEPT_FOR_RULE = 50

/** What the load request says of the object (warehouse/types.ts); the bytes and the report are added here. */
export interface LoadObjectOptions extends Pick<ObjectLoadRequest, 'table' | 'format' | 'object' | 'loadId' | 'path' | 'sequencer' | 'isCurrent' | 'signal'> {
  loader: ObjectLoader
  store: ObjectStore
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
  const {loader, store, counters: given, retries, maxRejectSamples, rejectRule, onRetry, ...request} = opts
  const counters = given ?? newCounters()
  const max = maxRejectSamples ?? 20
  const {object, format} = request
  // the first rejected lines: the reject rule names the format they look like from them
  const report = new ObjectParseReport(object.uri, format, counters, {keep: Math.max(max, KEPT_FOR_RULE), rule: rejectRule ?? true})
  // the bytes of the object as LIST/HEAD described it: a short or corrupted read is retried, never loaded
  const open = (): Promise<Readable> => readObject(() => store.read(object.key, {version: object.etag || undefined}), object, {allowLonger: store.scheme === 'gs'})
  const outcome = await withRetry(
    () => {
      report.reset()
      return loader.load({...request, open, report})
    },
    {retries: retries ?? 4, baseDelayMs: 200, isRetryable: isTransient, onRetry: (err, n) => onRetry?.(err, n)},
  )
  return {outcome, counters, rejectSamples: report.kept.slice(0, max)}
}
