import {setMaxListeners} from 'node:events'
import pLimit from 'p-limit'
import {type LoadMethodComparison, runTraffic} from '../cost/load-methods.js'
import {errorMessage, UserError} from '../errors.js'
import type {LogFormat} from '../formats/types.js'
import {loadObject} from '../load/object.js'
import {newLoadId, openLoadSession} from '../load/session.js'
import {newCounters, type ReadCounters} from '../loader/read-object.js'
import {RejectedObjectError} from '../loader/reject-rule.js'
import {isTransient, retriesExhausted} from '../retry.js'
import type {StoreFactories, StoreOptions} from '../store/index.js'
import {checkRange, type TimeRange} from '../time.js'
import {type BigQuerySettings, openWarehouse} from '../warehouse/index.js'
import {type LedgerEntry, type LoadEstimate, LoadNotStartedError, type ObjectLoadOutcome, REJECTS_TABLE, type Warehouse} from '../warehouse/types.js'
import {type BackfillPlan, planBackfill, type PlannedSource} from './plan.js'
import type {Shard} from './shard.js'

export interface BackfillOptions {
  sources: string[]
  format: LogFormat
  warehouse: string
  table: string
  range: TimeRange
  include?: string[]
  exclude?: string[]
  shard?: Shard
  concurrency: number
  dryRun: boolean
  retries?: number
  storeOptions?: StoreOptions
  storeFactories?: StoreFactories
  /** BigQuery warehouse settings (staging, location, byte cap ...) */
  bigquery?: BigQuerySettings
  /** id recorded on every row and ledger entry; generated when absent */
  loadId?: string
  /** load the objects in range again even when the ledger has them, replacing their rows (exactly once) */
  reload?: boolean
  /** --max-rejects: more rejected lines than this set `rejectsExceeded` (exit 4) */
  maxRejects?: number
  /**
   * aborting it (Ctrl-C, SIGTERM) stops the run: no object is started after it, the loads running finish and
   * commit (each is atomic), and the result says what was committed (`interrupted`)
   */
  signal?: AbortSignal
}

export interface ObjectFailure {
  uri: string
  error: string
  /**
   * whether re-running the same command may load it (a transient error: throttling, a dropped connection, a
   * full disk once freed); false when the same bytes would fail again (wrong --format, not a log, corrupt gzip)
   */
  retryable: boolean
  /** rejected as the wrong format: the format tried and the one its lines look like (for one summary line) */
  rejected?: {format: string; likelyFormat?: string; lines: number; rejectedLines: number}
}

export interface RejectSample {
  uri: string
  line: number
  reason: string
}

export interface BackfillProgress {
  objectsDone: number
  objectsTotal: number
  bytesDone: number
  bytesTotal: number
  rows: number
}

export interface BackfillResult {
  loadId: string
  dryRun: boolean
  warehouse: string
  table: string
  format: string
  sources: string[]
  since: string | null
  until: string | null
  shard: string | null
  /** where the shard came from: "--shard", "CLOUD_RUN_TASK_INDEX/CLOUD_RUN_TASK_COUNT", "JOB_COMPLETION_INDEX/SENEKA_SHARD_COUNT" ...; null without one */
  shardSource: string | null
  plan: BackfillPlan
  objects: {loaded: number; replaced: number; skipped: number; failed: number}
  rows: number
  rejected: number
  /** bytes read from the store as stored (compressed) */
  bytesRead: number
  /** bytes after decompression */
  bytesUncompressed: number
  durationMs: number
  rowsPerSecond: number
  mbPerSecond: number
  failures: ObjectFailure[]
  /** why the run stopped before loading every object (a full disk), or absent */
  stopped?: string
  /** the run was interrupted (opts.signal): one sentence saying what was committed and that a re-run continues */
  interrupted?: string
  /** --max-rejects was exceeded: one sentence saying by how much, where the rejects are and what was committed */
  rejectsExceeded?: string
  rejectSamples: RejectSample[]
  /** warehouse jobs the load needs (BigQuery: load jobs and merges), when the warehouse reports them */
  loadEstimate?: LoadEstimate
  /** --dry-run on BigQuery: what each load method (load jobs, Storage Write API) would use for this run */
  loadMethods?: LoadMethodComparison
}

export interface BackfillHooks {
  onPlan?: (plan: BackfillPlan) => void
  onProgress?: (p: BackfillProgress) => void
  onRetry?: (uri: string, err: unknown, attempt: number) => void
}


const MAX_REJECT_SAMPLES = 20

/**
 * Replays source prefixes into a warehouse table exactly once: plans (listing only what the range needs),
 * skips what the ledger says is loaded, loads the rest with bounded concurrency, each object atomically.
 */
export async function runBackfill(opts: BackfillOptions, hooks: BackfillHooks = {}): Promise<BackfillResult> {
  const started = performance.now()
  checkRange(opts.range)
  const loadId = opts.loadId ?? newLoadId('bf')
  const warehouse = await openWarehouse(opts.warehouse, {readOnly: opts.dryRun, bigquery: opts.bigquery})
  let sources: PlannedSource[] = []
  try {
    // a ledger outlives its table when the table is dropped: then its entries do not count, and the objects
    // are loaded again (each replacing whatever a stale entry says, so nothing is counted twice)
    const tableExists = await warehouse.tableExists(opts.table)
    const ledger = tableExists ? await warehouse.readLedger(opts.table) : new Map<string, LedgerEntry>()
    const planned = await planBackfill(
      {
        sources: opts.sources,
        range: opts.range,
        include: opts.include,
        exclude: opts.exclude,
        shard: opts.shard,
        storeOptions: opts.storeOptions,
        storeFactories: opts.storeFactories,
        listConcurrency: Math.max(4, opts.concurrency),
        reload: opts.reload,
      },
      ledger,
    )
    sources = planned.sources
    const {plan} = planned
    hooks.onPlan?.(plan)
    // a shard that holds none of the objects in range is done, not an error (a job's other tasks load them)
    if (plan.totals.objects === 0 && !plan.otherShards) throw noObjects(opts, plan)
    const result: BackfillResult = {
      loadId,
      dryRun: opts.dryRun,
      warehouse: warehouse.description,
      table: opts.table,
      format: opts.format.name,
      sources: opts.sources,
      since: opts.range.since?.toISOString() ?? null,
      until: opts.range.until?.toISOString() ?? null,
      shard: opts.shard ? `${opts.shard.index}/${opts.shard.count}` : null,
      shardSource: opts.shard ? (opts.shard.source ?? '--shard') : null,
      plan,
      objects: {loaded: 0, replaced: 0, skipped: plan.totals.skip, failed: 0},
      rows: 0,
      rejected: 0,
      bytesRead: 0,
      bytesUncompressed: 0,
      durationMs: 0,
      rowsPerSecond: 0,
      mbPerSecond: 0,
      failures: [],
      ...(warehouse.estimateLoad ? {loadEstimate: warehouse.estimateLoad({objects: plan.totals.load + plan.totals.replace, bytes: plan.totals.bytesToRead})} : {}),
      ...(opts.dryRun && warehouse.compareLoadMethods ? {loadMethods: warehouse.compareLoadMethods(runTraffic(plan.totals.load + plan.totals.replace, plan.totals.bytesToRead))} : {}),
      rejectSamples: [],
    }
    if (!opts.dryRun && !opts.signal?.aborted && plan.totals.objects > 0) await load(warehouse, opts, loadId, sources, plan, result, hooks, {fresh: !tableExists})
    if (!opts.dryRun && opts.signal?.aborted) result.interrupted = describeInterrupted(result)
    if (!opts.dryRun && opts.maxRejects !== undefined && result.rejected > opts.maxRejects) result.rejectsExceeded = describeRejectsExceeded(result, opts.maxRejects)
    result.durationMs = Math.round(performance.now() - started)
    const secs = Math.max(result.durationMs, 1) / 1000
    result.rowsPerSecond = Math.round(result.rows / secs)
    result.mbPerSecond = Number((result.bytesUncompressed / 1e6 / secs).toFixed(2))
    return result
  } finally {
    for (const s of sources) await s.store.close()
    await warehouse.close()
  }
}

async function load(
  warehouse: Warehouse,
  opts: BackfillOptions,
  loadId: string,
  sources: PlannedSource[],
  plan: BackfillPlan,
  result: BackfillResult,
  hooks: BackfillHooks,
  ctx: {fresh: boolean},
): Promise<void> {
  const {loader, inFlight} = await openLoadSession(warehouse, {...opts, bulk: true})
  // a full disk or an interruption: loads that have not begun (waiting for the loader) are not begun
  const stopping = new AbortController()
  const signal = opts.signal ? AbortSignal.any([opts.signal, stopping.signal]) : stopping.signal
  // every load waiting for the loader listens to it
  setMaxListeners(inFlight + 16, signal)
  // --reload, or a table created now over a stale ledger: only this run's own entries make a load unnecessary
  // (a retry after a lost commit reply), every older entry is replaced
  const isCurrent = opts.reload || ctx.fresh ? (e: LedgerEntry): boolean => e.loadId === loadId : undefined
  const limit = pLimit(inFlight)
  const progress: BackfillProgress = {objectsDone: 0, objectsTotal: plan.totals.load + plan.totals.replace, bytesDone: 0, bytesTotal: plan.totals.bytesToRead, rows: 0}
  hooks.onProgress?.(progress)
  const tasks: Array<Promise<void>> = []
  for (const {store, objects} of sources) {
    for (const obj of objects) {
      if (obj.action === 'skip') continue
      tasks.push(
        limit(async () => {
          // a full disk fails every object after it: stop starting new ones, say it once; so does an interruption
          if (result.stopped || opts.signal?.aborted) return
          const counters: ReadCounters = newCounters()
          try {
            const {outcome, rejectSamples} = await loadObject({
              loader,
              store,
              table: opts.table,
              format: opts.format,
              object: obj,
              loadId,
              path: 'backfill',
              isCurrent,
              signal,
              counters,
              retries: opts.retries ?? 4,
              maxRejectSamples: MAX_REJECT_SAMPLES,
              onRetry: (err, n) => hooks.onRetry?.(obj.uri, err, n),
            })
            const samples: RejectSample[] = rejectSamples.map((r) => ({uri: obj.uri, line: r.line, reason: r.reason}))
            // a stale entry of a dropped table is replaced, but for the user the object is loaded
            record(result, ctx.fresh && obj.action === 'load' && outcome.status === 'replaced' ? {...outcome, status: 'loaded'} : outcome, samples)
            result.bytesRead += counters.storedBytes
            result.bytesUncompressed += counters.bytes
          } catch (err) {
            // not begun because the run is stopping: neither loaded nor failed, left for the next run
            if (err instanceof LoadNotStartedError) return
            result.objects.failed++
            // bytes read by the last attempt, failed or not, are still bytes read
            result.bytesRead += counters.storedBytes
            result.bytesUncompressed += counters.bytes
            if (isDiskFull(err)) {
              stopping.abort()
              if (result.stopped) return
              result.stopped = `no space left on the device (ENOSPC) while loading ${obj.uri}: the run stopped; objects not loaded are left for the next run (free some space, or put the DuckDB file and its staging folder on a larger disk)`
              result.failures.push({uri: obj.uri, error: `no space left on the device (ENOSPC); nothing from this object was loaded`, retryable: true})
              return
            }
            result.failures.push(describeLoadFailure(obj.uri, err, counters))
          }
          progress.objectsDone++
          progress.bytesDone += obj.size
          progress.rows = result.rows
          hooks.onProgress?.(progress)
        }),
      )
    }
  }
  try {
    await Promise.all(tasks)
  } finally {
    await loader.close()
  }
}

function record(result: BackfillResult, outcome: ObjectLoadOutcome, samples: RejectSample[]): void {
  if (outcome.status === 'skipped') {
    // loaded meanwhile by another run (e.g. the stream worker): nothing to do
    result.objects.skipped++
    return
  }
  result.objects[outcome.status]++
  result.rows += outcome.rows
  result.rejected += outcome.rejected
  for (const s of samples) if (result.rejectSamples.length < MAX_REJECT_SAMPLES) result.rejectSamples.push(s)
}

function describeInterrupted(r: BackfillResult): string {
  const n = (x: number): string => x.toLocaleString('en-US')
  const committed = r.objects.loaded + r.objects.replaced
  const total = r.plan.totals.load + r.plan.totals.replace
  const left = total - committed - r.objects.failed - (r.objects.skipped - r.plan.totals.skip)
  const objects = (x: number): string => `${n(x)} object${x === 1 ? '' : 's'}`
  return (
    `Interrupted: ${objects(committed)} of ${n(total)} (${n(r.rows)} row${r.rows === 1 ? '' : 's'}) were committed, ${objects(left)} were not loaded; ` +
    `run the same command again to continue (the ledger skips what is committed, nothing is loaded twice).`
  )
}

function describeRejectsExceeded(r: BackfillResult, max: number): string {
  const n = (x: number): string => x.toLocaleString('en-US')
  const committed = r.objects.loaded + r.objects.replaced
  return `${n(r.rejected)} lines were rejected, more than --max-rejects ${n(max)}; they are listed in the table ${REJECTS_TABLE} (load_id = '${r.loadId}'), and the ${n(r.rows)} rows of the ${n(committed)} objects loaded were committed.`
}

/** Nothing to load or skip: say so instead of "0 loaded" (a typo in the prefix, the range or a glob). */
function noObjects(opts: BackfillOptions, plan: BackfillPlan): UserError {
  const where = opts.sources.join(', ')
  const range = opts.range.since || opts.range.until ? ` in [${opts.range.since?.toISOString() ?? '-inf'}, ${opts.range.until?.toISOString() ?? '+inf'})` : ''
  const filters = [opts.include?.length ? '--include' : '', opts.exclude?.length ? '--exclude' : '', opts.shard ? '--shard' : ''].filter(Boolean)
  const m = plan.markers.objects
  const markers = m > 0 ? ` (only ${m} marker object${m === 1 ? '' : 's'} such as ${plan.markers.samples[0]}, which are never loaded)` : ''
  return new UserError(`No log objects were found under ${where}${range}${filters.length ? ` that pass ${filters.join(', ')}` : ''}${markers}, so nothing was ${opts.dryRun ? 'planned' : 'loaded'}.`, {
    suggestion: `Check the prefix (keys are case-sensitive)${range ? ' and --since/--until' : ''}${filters.length ? ` and ${filters.join(', ')}` : ''}; --dry-run --json lists the prefixes that were read (plan.requests.listedPrefixes).`,
  })
}

/** A full disk: staging file writes (ENOSPC) or DuckDB's own writes ("No space left on device"). */
export function isDiskFull(err: unknown): boolean {
  const e = err as {code?: string; cause?: {code?: string}}
  return e?.code === 'ENOSPC' || e?.cause?.code === 'ENOSPC' || /ENOSPC|No space left on device/i.test(errorMessage(err))
}

function describeLoadFailure(uri: string, err: unknown, counters: ReadCounters): ObjectFailure {
  if (err instanceof RejectedObjectError) return {uri, error: err.message, retryable: false, rejected: {format: err.format, ...(err.likelyFormat ? {likelyFormat: err.likelyFormat} : {}), lines: err.rows + err.rejected, rejectedLines: err.rejected}}
  const code = (err as {code?: string}).code
  if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || /unexpected end of file|incorrect header check/i.test(errorMessage(err))) {
    return {uri, error: `cannot decompress (corrupt or truncated gzip after ${counters.storedBytes} bytes): ${errorMessage(err)}; nothing from this object was loaded; replace the object with a complete copy, or leave it out with --exclude`, retryable: false}
  }
  // an error a retrying layer gave up on was transient: a later run may well succeed
  return {uri, error: `${errorMessage(err)} (after ${counters.storedBytes} bytes read); nothing from this object was loaded`, retryable: isTransient(err) || retriesExhausted(err)}
}
