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
import {type ObjectStore} from '../store/index.js'
import {classifyMissing, type Coverage, coverageOf, type MissingObjects} from './coverage.js'
import {type PlanFrom, planListed, writePlanFile} from './listed-plan.js'
import {type BackfillPlan, planBackfill, type PlannedObject} from './plan.js'
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
  /** plan from an S3 Inventory, a file list or a saved plan (in bounded memory) instead of listing the sources */
  from?: PlanFrom
  /** write the plan (keys, sizes, ETags, shard) to this CSV file, for a later run with --plan */
  planOut?: string
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
  /** (not in dry runs) every planned object accounted for: loaded, replaced, skipped, failed, gone or changed since planned, not started */
  coverage?: Coverage
  /** planned from an inventory, a list or a plan: objects gone or changed since (not failures of the run) */
  missing?: MissingObjects
  /** --plan-out: where the plan was written */
  planFile?: string
}

export interface BackfillHooks {
  onPlan?: (plan: BackfillPlan) => void
  onProgress?: (p: BackfillProgress) => void
  onRetry?: (uri: string, err: unknown, attempt: number) => void
  /** a progress line while planning from an inventory, a file list or a plan */
  onPlanning?: (line: string) => void
}

type PlannedItems = () => AsyncIterable<{store: ObjectStore; obj: PlannedObject}>


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
  let close = async (): Promise<void> => {}
  try {
    // a ledger outlives its table when the table is dropped: then its entries do not count, and the objects
    // are loaded again (each replacing whatever a stale entry says, so nothing is counted twice)
    const tableExists = await warehouse.tableExists(opts.table)
    const planned = await makePlan(opts, warehouse, tableExists, hooks)
    close = planned.close
    const {plan, items} = planned
    if (opts.planOut) await planned.write(opts.planOut)
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
      ...(opts.from ? {missing: {gone: 0, changed: 0, samples: []}} : {}),
      ...(opts.planOut ? {planFile: opts.planOut} : {}),
      ...(warehouse.estimateLoad ? {loadEstimate: warehouse.estimateLoad({objects: plan.totals.load + plan.totals.replace, bytes: plan.totals.bytesToRead})} : {}),
      ...(opts.dryRun && warehouse.compareLoadMethods ? {loadMethods: warehouse.compareLoadMethods(runTraffic(plan.totals.load + plan.totals.replace, plan.totals.bytesToRead))} : {}),
      rejectSamples: [],
    }
    // objects not started (an interruption, a full disk) are counted, so the coverage adds up to the plan
    const counts = {notStarted: 0}
    if (!opts.dryRun && !opts.signal?.aborted && plan.totals.objects > 0) await load(warehouse, opts, loadId, items, plan, result, hooks, {fresh: !tableExists, notStarted: counts})
    else if (!opts.dryRun) counts.notStarted = plan.totals.load + plan.totals.replace
    if (!opts.dryRun) result.coverage = coverageOf(plan.totals.objects, result.objects, result.missing, counts.notStarted)
    if (!opts.dryRun && opts.signal?.aborted) result.interrupted = describeInterrupted(result)
    if (!opts.dryRun && opts.maxRejects !== undefined && result.rejected > opts.maxRejects) result.rejectsExceeded = describeRejectsExceeded(result, opts.maxRejects)
    result.durationMs = Math.round(performance.now() - started)
    const secs = Math.max(result.durationMs, 1) / 1000
    result.rowsPerSecond = Math.round(result.rows / secs)
    result.mbPerSecond = Number((result.bytesUncompressed / 1e6 / secs).toFixed(2))
    return result
  } finally {
    await close()
    await warehouse.close()
  }
}

interface RunPlan {
  plan: BackfillPlan
  items: PlannedItems
  write: (file: string) => Promise<void>
  close: () => Promise<void>
}

/** The plan: by listing the sources (plan.ts), or from an inventory, a file list or a saved plan (listed-plan.ts). */
async function makePlan(opts: BackfillOptions, warehouse: Warehouse, tableExists: boolean, hooks: BackfillHooks): Promise<RunPlan> {
  if (opts.from) {
    const l = await planListed({
      ...opts,
      from: opts.from,
      source: opts.sources[0],
      ledger: (uriPrefix, onPage) => (tableExists ? warehouse.pageLedger(opts.table, uriPrefix, 10_000, onPage) : Promise.resolve()),
      onProgress: hooks.onPlanning,
    })
    return {
      plan: l.plan,
      items: async function* () {
        for await (const obj of l.objects()) yield {store: l.store, obj}
      },
      write: (file) => l.write(file),
      close: () => l.close(),
    }
  }
  const ledger = tableExists ? await warehouse.readLedger(opts.table) : new Map<string, LedgerEntry>()
  const {sources, plan} = await planBackfill(
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
  const items: PlannedItems = async function* () {
    for (const {store, objects} of sources) for (const obj of objects) yield {store, obj}
  }
  return {
    plan,
    items,
    write: (file) => writePlanFile(file, items(), opts.shard),
    close: async () => {
      for (const s of sources) await s.store.close()
    },
  }
}

async function load(
  warehouse: Warehouse,
  opts: BackfillOptions,
  loadId: string,
  items: PlannedItems,
  plan: BackfillPlan,
  result: BackfillResult,
  hooks: BackfillHooks,
  ctx: {fresh: boolean; notStarted: {notStarted: number}},
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
  // the plan is streamed (a huge one is never held whole): a bounded number of loads wait for a slot
  const active = new Set<Promise<void>>()
  const maxWaiting = inFlight * 4
  for await (const {store, obj} of items()) {
    if (obj.action === 'skip') continue
    const task: Promise<void> = (
      limit(async () => {
        // a full disk fails every object after it: stop starting new ones, say it once; so does an interruption
        if (result.stopped || opts.signal?.aborted) {
          ctx.notStarted.notStarted++
          return
        }
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
          if (err instanceof LoadNotStartedError) {
            ctx.notStarted.notStarted++
            return
          }
          // planned from an inventory, a list or a plan: an object gone or changed since is reported, not failed
          if (result.missing && (await classifyMissing(store, obj, err, result.missing))) return
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
      })
    ).finally(() => active.delete(task))
    active.add(task)
    if (active.size >= maxWaiting) await Promise.race(active)
  }
  try {
    await Promise.all(active)
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
