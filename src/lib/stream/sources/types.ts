import type {Warehouse} from '../../warehouse/types.js'
import type {StreamLoader} from '../object-loader.js'
import type {Backlog, LatencyRecorder, StreamCounters} from '../stats.js'
import type {StopReason, StreamHooks, StreamOptions, StreamResult} from '../types.js'

/** Shared state of one worker run, whatever the source. */
export interface WorkerContext {
  opts: StreamOptions
  hooks: StreamHooks
  counters: StreamCounters
  latency: LatencyRecorder
  loader: StreamLoader
  warehouse: Warehouse
  result: StreamResult
  /** resolves when the run is asked to stop */
  stopped: Promise<void>
  isStopping: () => boolean
  /** objects the loader takes in flight at once (load/session.ts): a source receives at least this many */
  inFlight: number
  /** the latest backlog figures (refreshed by the source) */
  backlog: Backlog
}

/**
 * One source of object events (SQS, Pub/Sub pull, a watched folder ...): it receives events, loads their
 * objects through `ctx.loader` (exactly once through the ledger) and acknowledges them after the commit.
 */
export interface Source {
  /** Runs until the worker is asked to stop (ctx.stopped) or, with stopWhenIdleMs, until idle. */
  run(): Promise<StopReason>
  /** Refreshes ctx.backlog (called for status lines and metrics). */
  refreshBacklog(): Promise<void>
}

/** Builds a source for one worker run. */
export type SourceFactory = (ctx: WorkerContext) => Source

/**
 * --stop-when-idle for sources that are pushed to: checks a few times per idle period whether the source is idle
 * (nothing fresh in flight) and has been for idleMs, then calls onIdle. Returns the timer to clear, or undefined
 * without idleMs.
 */
export function watchIdle(idleMs: number | undefined, idleSince: () => number | undefined, onIdle: () => void): NodeJS.Timeout | undefined {
  if (idleMs === undefined) return undefined
  return setInterval(() => {
    const since = idleSince()
    if (since !== undefined && performance.now() - since >= idleMs) onIdle()
  }, Math.min(250, Math.max(20, idleMs / 4)))
}

/** The most samples (failures, invalid messages, poison objects) kept in the summary. */
export const MAX_SAMPLES = 20

/**
 * The end of a pushed-to source's run: `finished` resolves when the worker is asked to stop (ctx.stopped) or
 * when the source calls finish() itself (idle, a fatal error).
 */
export function runLatch(stopped: Promise<void>): {finished: Promise<void>; finish: () => void} {
  let finish!: () => void
  const finished = new Promise<void>((r) => (finish = r))
  void stopped.then(() => finish())
  return {finished, finish}
}
