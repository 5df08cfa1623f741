import pLimit, {type LimitFunction} from 'p-limit'
import {errorMessage} from '../errors.js'
import type {LogFormat} from '../formats/types.js'
import {loadObject} from '../load/object.js'
import {isTransient, withRetry} from '../retry.js'
import {isMarkerKey} from '../store/markers.js'
import {openStore, type ObjectInfo, type ObjectStore, type StoreFactories, type StoreOptions} from '../store/index.js'
import {type LedgerEntry, LoadNotStartedError, type ObjectLoader} from '../warehouse/types.js'
import {compareSequencers, type ObjectEvent} from './events.js'
import {compareGenerations, type GcsObjectEvent} from './gcs-events.js'
import {KeyLock} from './key-lock.js'
import {PinnedGcsStores} from './pinned-gcs.js'
import {describeScope, inScope, type ObjectScope} from './scope.js'
import type {LatencyRecorder, StreamCounters} from './stats.js'

export type LoadOutcome = 'loaded' | 'replaced' | 'skipped' | 'missing' | 'failed' | 'marker'
/**
 * What became of an event's object: a load outcome, 'not-started' (its request was aborted before the load began:
 * nothing was read or written) or 'out-of-scope' (not a bucket / prefix this worker loads: acknowledged, not loaded).
 */
export type EventOutcome = LoadOutcome | 'not-started' | 'out-of-scope'

export interface LoadFailure {
  uri: string
  error: string
}

export interface LoadedObject {
  uri: string
  outcome: LoadOutcome
  rows: number
  /** when the commit returned (rows are queryable from then on) */
  committedAt: Date
}

export interface StreamLoaderOptions {
  loader: ObjectLoader
  table: string
  format: LogFormat
  loadId: string
  concurrency: number
  counters: StreamCounters
  latency: LatencyRecorder
  storeOptions?: StoreOptions
  storeFactories?: StoreFactories
  retries?: number
  onLoaded?: (o: LoadedObject) => void
  onFailure?: (f: LoadFailure) => void
  onRetry?: (uri: string, err: unknown, attempt: number) => void
  onStart?: (uri: string) => void
  /** the buckets and prefixes loaded; events of other objects are counted (events.outOfScope) and not loaded */
  scope?: ObjectScope
  /** the first out-of-scope event of each bucket */
  onWarning?: (message: string) => void
}

/** buckets whose out-of-scope events are logged (the rest are counted only) */
const SCOPE_LOGGED_BUCKETS = 20

const RECENT_MAX = 100_000

/**
 * Loads objects named by events: one load per object at a time (a per-key lock), at most `concurrency`
 * at once, each through the shared loader (one transaction with its ledger entry). For two events on the
 * same key the S3 sequencer decides which is newer.
 */
export class StreamLoader {
  private readonly limit: LimitFunction
  private readonly lock = new KeyLock()
  private readonly stores = new Map<string, ObjectStore>()
  /** sequencer of the newest version this worker committed (or saw committed), per object URI */
  private readonly recent = new Map<string, string>()
  private active = 0
  /** objects handed to the loader that wait for a load slot (or for a load of the same key) */
  private waiting = 0
  private readonly pinned: PinnedGcsStores
  /** why the last load of an object failed (until it loads) */
  private readonly failures = new Map<string, string>()
  /** buckets whose out-of-scope events were logged */
  private readonly scopeLogged = new Set<string>()

  constructor(private readonly opts: StreamLoaderOptions) {
    this.limit = pLimit(opts.concurrency)
    this.pinned = new PinnedGcsStores(opts.storeOptions)
  }

  /** why the last load of this object failed, if it did */
  failureReason(uri: string): string | undefined {
    return this.failures.get(uri)
  }

  /** objects being loaded now */
  get loading(): number {
    return this.active
  }

  /** objects waiting for a load slot: not started, nothing read yet */
  get queued(): number {
    return this.waiting
  }

  /**
   * Runs fn under the key's lock and the concurrency limit, counted as queued until it starts. A request cancelled by
   * the time its turn comes is not started at all; one whose `signal` is aborted while it waits (for a slot, or
   * behind a load of the same key) is 'not-started' at once and never starts.
   */
  private enqueue<T>(uri: string, fn: () => Promise<T>, opts: {cancelled?: () => boolean; signal?: AbortSignal} = {}): Promise<T | 'not-started'> {
    const {cancelled, signal} = opts
    this.waiting++
    let queued = true
    const leaveQueue = (): boolean => {
      if (!queued) return false
      queued = false
      this.waiting--
      return true
    }
    const run = this.lock.run(uri, () =>
      this.limit((): Promise<T | 'not-started'> => (leaveQueue() && !signal?.aborted && !cancelled?.() ? fn() : Promise.resolve('not-started' as const))),
    )
    return new Promise<T | 'not-started'>((resolve, reject) => {
      const onAbort = (): void => {
        if (leaveQueue()) resolve('not-started')
      }
      signal?.addEventListener('abort', onAbort, {once: true})
      if (signal?.aborted) onAbort()
      run
        .then(resolve, reject)
        .finally(() => {
          signal?.removeEventListener('abort', onAbort)
          leaveQueue()
        })
    })
  }

  private store(bucket: string): ObjectStore {
    let s = this.stores.get(bucket)
    if (!s) {
      s = openStore({scheme: 's3', bucket, prefix: ''}, this.opts.storeOptions, this.opts.storeFactories)
      this.stores.set(bucket, s)
    }
    return s
  }

  private remember(uri: string, sequencer: string | null): void {
    if (!sequencer) return
    const had = this.recent.get(uri)
    if (had !== undefined && compareSequencers(had, sequencer) >= 0) return
    this.recent.delete(uri)
    this.recent.set(uri, sequencer)
    if (this.recent.size > RECENT_MAX) this.recent.delete(this.recent.keys().next().value as string)
  }

  /**
   * An event of an object outside the scope: counted, the first of each bucket logged with the reason, not loaded.
   */
  private outOfScope(scheme: 's3' | 'gs', bucket: string, key: string): boolean {
    const {scope} = this.opts
    if (!scope || inScope(scope, bucket, key)) return false
    this.opts.counters.events.outOfScope++
    if (!this.scopeLogged.has(bucket) && this.scopeLogged.size < SCOPE_LOGGED_BUCKETS) {
      this.scopeLogged.add(bucket)
      this.opts.onWarning?.(`not loading ${scheme}://${bucket}/${key}: this worker loads ${describeScope(scope)} (--bucket, --prefix); events outside it are acknowledged and counted as out of scope (logged once per bucket)`)
    }
    return true
  }

  /** Loads the object an S3 ObjectCreated event names. Never throws: a failure is an outcome. */
  async loadEvent(ev: ObjectEvent): Promise<EventOutcome> {
    const store = this.store(ev.bucket)
    const uri = store.uri(ev.key)
    if (this.outOfScope('s3', ev.bucket, ev.key)) return 'out-of-scope'
    if (isMarkerKey(ev.key)) return this.marker()
    return this.enqueue(uri, async () => {
      // a duplicate of an event this worker already handled (same or older sequencer): nothing to ask anyone
      const seen = this.recent.get(uri)
      if (seen !== undefined && ev.sequencer && compareSequencers(seen, ev.sequencer) >= 0) {
        this.opts.counters.objects.skipped++
        return 'skipped'
      }
      return this.guard(uri, async () => {
        const head = await withRetry(() => store.head(ev.key), {retries: this.opts.retries ?? 4, baseDelayMs: 200, isRetryable: isTransient})
        if (!head) return {outcome: 'missing' as const}
        // the object may have been overwritten since the event: then we load what is there now (its own
        // event will find it current), and record the event's sequencer only for the event's own version
        const sameVersion = ev.etag === null || ev.etag === head.etag
        const sequencer = sameVersion ? (ev.sequencer ?? undefined) : undefined
        const isCurrent = (e: LedgerEntry): boolean =>
          e.etag === head.etag || (ev.sequencer !== null && e.sequencer !== null && compareSequencers(e.sequencer, ev.sequencer) >= 0)
        const res = await this.load(store, head, sequencer, isCurrent)
        if (res.outcome !== 'failed') this.remember(uri, res.sequencer ?? sequencer ?? null)
        return res
      }, ev.eventTime)
    })
  }

  /**
   * Loads the generation a GCS OBJECT_FINALIZE names, read at that generation. The generation is the
   * version: a ledger entry of the same or a newer generation makes the load unnecessary, so an older
   * generation never replaces a newer one. Never throws: a failure is an outcome. Once `signal` is aborted, a load
   * that has not begun is not begun ('not-started'): nothing is read or written; one under way finishes.
   */
  async loadGeneration(ev: GcsObjectEvent, signal?: AbortSignal): Promise<EventOutcome> {
    if (this.outOfScope('gs', ev.bucket, ev.key)) return 'out-of-scope'
    const store = this.pinned.at(ev.bucket, ev.generation)
    const uri = store.uri(ev.key)
    return this.enqueue(uri, async () => {
      const seen = this.recent.get(uri)
      if (seen !== undefined && compareGenerations(seen, ev.generation) >= 0) {
        this.opts.counters.objects.skipped++
        return 'skipped'
      }
      return this.guard(uri, async () => {
        const head = await store.head(ev.key)
        if (!head) return {outcome: 'missing' as const}
        const newer = (v: string | null): boolean => v !== null && /^\d+$/.test(v) && compareGenerations(v, ev.generation) >= 0
        const isCurrent = (e: LedgerEntry): boolean => e.etag === ev.generation || newer(e.sequencer) || newer(e.etag)
        const res = await this.load(store, head, ev.generation, isCurrent, signal)
        const version = res.outcome === 'skipped' && newer(res.sequencer ?? null) ? res.sequencer! : ev.generation
        if (res.outcome !== 'failed') this.rememberGeneration(uri, version)
        return res
      }, ev.eventTime)
    }, {signal})
  }

  private rememberGeneration(uri: string, generation: string): void {
    const had = this.recent.get(uri)
    if (had !== undefined && /^\d+$/.test(had) && compareGenerations(had, generation) >= 0) return
    this.recent.delete(uri)
    this.recent.set(uri, generation)
    if (this.recent.size > RECENT_MAX) this.recent.delete(this.recent.keys().next().value as string)
  }

  /**
   * Loads a local file (--watch). Never throws. When `cancelled()` is true by the time a load slot is free, the
   * file is not loaded at all ('not-started'): a stopping worker finishes only the loads already running, the
   * ledger makes the next run load the rest.
   */
  async loadFile(store: ObjectStore, info: ObjectInfo, cancelled?: () => boolean): Promise<LoadOutcome | 'not-started'> {
    if (isMarkerKey(info.key)) return this.marker()
    return this.enqueue(info.uri, () => this.guard(info.uri, () => this.load(store, info, undefined, undefined), info.lastModified), {cancelled})
  }

  /** A marker object (_SUCCESS, ELBAccessLogTestFile ...): not a log, never loaded, counted apart. */
  private marker(): LoadOutcome {
    this.opts.counters.objects.markers++
    return 'marker'
  }

  private async load(
    store: ObjectStore,
    object: ObjectInfo,
    sequencer: string | undefined,
    isCurrent: ((e: LedgerEntry) => boolean) | undefined,
    signal?: AbortSignal,
  ): Promise<{outcome: LoadOutcome; rows?: number; sequencer?: string | null}> {
    const {outcome, counters} = await loadObject({
      loader: this.opts.loader,
      store,
      table: this.opts.table,
      format: this.opts.format,
      object,
      loadId: this.opts.loadId,
      path: 'stream',
      sequencer,
      isCurrent,
      signal,
      retries: this.opts.retries,
      onRetry: (err, n) => this.opts.onRetry?.(object.uri, err, n),
    })
    const c = this.opts.counters
    if (outcome.status === 'skipped') return {outcome: 'skipped', sequencer: outcome.entry.sequencer}
    c.rows += outcome.rows
    c.rejected += outcome.rejected
    c.bytesRead += counters.storedBytes
    return {outcome: outcome.status, rows: outcome.rows}
  }

  private async guard(
    uri: string,
    fn: () => Promise<{outcome: LoadOutcome; rows?: number}>,
    since: Date | null,
  ): Promise<LoadOutcome | 'not-started'> {
    const c = this.opts.counters
    this.active++
    this.opts.onStart?.(uri)
    try {
      const {outcome, rows} = await fn()
      this.failures.delete(uri)
      c.objects[outcome as Exclude<LoadOutcome, 'marker'>]++
      const committedAt = new Date()
      if ((outcome === 'loaded' || outcome === 'replaced') && since) this.opts.latency.record(committedAt.getTime() - since.getTime())
      this.opts.onLoaded?.({uri, outcome, rows: rows ?? 0, committedAt})
      return outcome
    } catch (err) {
      // aborted while waiting for the engine (a staging slot): nothing was read or written, not a failure
      if (err instanceof LoadNotStartedError) return 'not-started'
      c.objects.failed++
      c.errors++
      this.failures.set(uri, errorMessage(err))
      if (this.failures.size > RECENT_MAX) this.failures.delete(this.failures.keys().next().value as string)
      this.opts.onFailure?.({uri, error: `${errorMessage(err)}; nothing from this object was loaded`})
      return 'failed'
    } finally {
      this.active--
    }
  }

  async close(): Promise<void> {
    for (const s of this.stores.values()) await s.close()
    this.stores.clear()
  }
}
