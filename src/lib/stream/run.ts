import type {Message} from '@aws-sdk/client-sqs'
import type {SQSClient} from '@aws-sdk/client-sqs'
import {newLoadId} from '../backfill/run.js'
import {errorMessage, UsageError} from '../errors.js'
import type {LogFormat} from '../formats/types.js'
import type {StoreFactories, StoreOptions} from '../store/index.js'
import {openWarehouse} from '../warehouse/index.js'
import type {Warehouse} from '../warehouse/types.js'
import {parseMessage} from './events.js'
import {startMetricsServer} from './metrics-server.js'
import {type LoadedObject, type LoadFailure, StreamLoader} from './object-loader.js'
import {createSqsClient, DeleteBatcher, SqsQueue} from './sqs.js'
import {
  type Backlog,
  emptyCounters,
  LatencyRecorder,
  type LatencySummary,
  renderPrometheus,
  type StreamCounters,
  type StreamStatus,
  StatusTracker,
} from './stats.js'
import {watchFolder} from './watch.js'

export interface StreamOptions {
  /** SQS queue URL (exactly one of queue / watch) */
  queue?: string
  /** local folder to watch (embedded mode) */
  watch?: string
  format: LogFormat
  warehouse: string
  table: string
  concurrency: number
  /** visibility timeout asked for on receive, and renewed while loading (seconds) */
  visibilityTimeoutSeconds?: number
  /** long-poll wait (seconds, 0-20) */
  waitSeconds?: number
  /** exit once nothing arrived and nothing was in flight this long (ms) */
  stopWhenIdleMs?: number
  /** status every this many ms (0: none) */
  statusIntervalMs?: number
  /** serve Prometheus metrics on 127.0.0.1:port */
  metricsPort?: number
  /** --watch: how often the folder is listed (ms) */
  pollIntervalMs?: number
  /** --watch: a file is loaded once its size and mtime have not changed for this long (ms) */
  settleMs?: number
  sqs?: {endpoint?: string; region?: string}
  /** replace the SQS client (tests) */
  sqsClient?: SQSClient
  storeOptions?: StoreOptions
  storeFactories?: StoreFactories
  retries?: number
  loadId?: string
  /** aborting it stops the worker gracefully: no more receives, in-flight loads finish */
  signal?: AbortSignal
}

export interface StreamHooks {
  onStatus?: (s: StreamStatus) => void
  onLoaded?: (o: LoadedObject) => void
  onFailure?: (f: LoadFailure) => void
  onInvalid?: (m: InvalidMessage) => void
  onWarning?: (message: string) => void
  onStart?: (uri: string) => void
  onRetry?: (uri: string, err: unknown, attempt: number) => void
  onMetrics?: (url: string) => void
  /** once the worker is receiving (or watching) */
  onReady?: () => void
}

export interface InvalidMessage {
  messageId: string
  reason: string
  receiveCount: number | null
}

export interface StreamResult extends StreamCounters {
  type: 'summary'
  loadId: string
  mode: 'sqs' | 'watch'
  source: string
  warehouse: string
  table: string
  format: string
  stoppedBy: 'signal' | 'idle'
  durationMs: number
  /** event time (file mtime for --watch) to commit */
  latency: LatencySummary
  failures: LoadFailure[]
  invalidMessages: InvalidMessage[]
}

const MAX_SAMPLES = 20

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
  /** the latest backlog figures (refreshed by the source) */
  backlog: Backlog
}

export function sleep(ms: number, stop?: Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms)
    stop?.then(() => {
      clearTimeout(t)
      resolve()
    })
  })
}

/**
 * The event-driven loader: consumes S3 event notifications from SQS (or watches a local folder) and loads
 * each new object exactly once through the ledger, until signalled or idle.
 */
export async function runStream(opts: StreamOptions, hooks: StreamHooks = {}): Promise<StreamResult> {
  if (Boolean(opts.queue) === Boolean(opts.watch)) throw new UsageError('Give exactly one of --queue or --watch.', 'For example: seneka stream --queue https://sqs.eu-west-1.amazonaws.com/123456789012/logs --format alb')
  const started = performance.now()
  const loadId = opts.loadId ?? newLoadId('st')
  const counters = emptyCounters()
  const latency = new LatencyRecorder()
  const result: StreamResult = {
    type: 'summary',
    loadId,
    mode: opts.queue ? 'sqs' : 'watch',
    source: opts.queue ?? opts.watch ?? '',
    warehouse: '',
    table: opts.table,
    format: opts.format.name,
    stoppedBy: 'signal',
    durationMs: 0,
    ...counters,
    latency: latency.summary(),
    failures: [],
    invalidMessages: [],
  }
  const warehouse = await openWarehouse(opts.warehouse)
  result.warehouse = warehouse.description
  let stopping = false
  let stop!: () => void
  const stopped = new Promise<void>((r) => (stop = r))
  const onAbort = (): void => {
    stopping = true
    stop()
  }
  if (opts.signal?.aborted) onAbort()
  opts.signal?.addEventListener('abort', onAbort, {once: true})
  let metrics: Awaited<ReturnType<typeof startMetricsServer>> | undefined
  let statusTimer: NodeJS.Timeout | undefined
  try {
    await warehouse.ensureTable(opts.table, opts.format)
    const objectLoader = await warehouse.openLoader({concurrency: opts.concurrency})
    const loader = new StreamLoader({
      loader: objectLoader,
      table: opts.table,
      format: opts.format,
      loadId,
      concurrency: opts.concurrency,
      counters,
      latency,
      storeOptions: opts.storeOptions,
      storeFactories: opts.storeFactories,
      retries: opts.retries,
      onLoaded: hooks.onLoaded,
      onStart: hooks.onStart,
      onRetry: hooks.onRetry,
      onFailure: (f) => {
        if (result.failures.length < MAX_SAMPLES) result.failures.push(f)
        hooks.onFailure?.(f)
      },
    })
    const ctx: WorkerContext = {
      opts,
      hooks,
      counters,
      latency,
      loader,
      warehouse,
      result,
      stopped,
      isStopping: () => stopping,
      backlog: {messages: null, inFlight: null, oldestAgeSeconds: null},
    }
    const tracker = new StatusTracker(counters)
    if (opts.metricsPort !== undefined) {
      metrics = await startMetricsServer(opts.metricsPort, () => renderPrometheus(counters, loader.loading, ctx.backlog, latency.summary()))
      hooks.onMetrics?.(metrics.url)
    }
    const source = opts.queue ? sqsSource(ctx, opts.queue) : watchFolder(ctx, opts.watch!)
    if ((opts.statusIntervalMs ?? 0) > 0) {
      statusTimer = setInterval(() => {
        source
          .refreshBacklog()
          .catch(() => {})
          .finally(() => hooks.onStatus?.(tracker.snapshot(loader.loading, ctx.backlog)))
      }, opts.statusIntervalMs)
      statusTimer.unref()
    } else if (metrics) {
      statusTimer = setInterval(() => void source.refreshBacklog().catch(() => {}), 10_000)
      statusTimer.unref()
    }
    try {
      result.stoppedBy = await source.run()
    } finally {
      if (statusTimer) clearInterval(statusTimer)
      await loader.close()
      await objectLoader.close()
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort)
    if (statusTimer) clearInterval(statusTimer)
    await metrics?.close()
    await warehouse.close()
  }
  Object.assign(result, structuredClone(counters))
  result.latency = latency.summary()
  result.durationMs = Math.round(performance.now() - started)
  return result
}

export interface Source {
  run(): Promise<'signal' | 'idle'>
  refreshBacklog(): Promise<void>
}

function sqsSource(ctx: WorkerContext, queueUrl: string): Source {
  const {opts, hooks, counters, loader} = ctx
  const queue = new SqsQueue(opts.sqsClient ?? createSqsClient(queueUrl, opts.sqs), queueUrl)
  const visibility = opts.visibilityTimeoutSeconds ?? 60
  const maxWait = Math.min(20, Math.max(0, opts.waitSeconds ?? 20))
  const cap = Math.max(10, opts.concurrency * 2)
  const deleter = new DeleteBatcher(queue)
  /** SentTimestamp of messages held now */
  const held = new Map<string, number>()
  let intervalOldest: number | null = null

  const handle = async (m: Message): Promise<void> => {
    const id = m.MessageId ?? '?'
    const sent = Number(m.Attributes?.SentTimestamp)
    if (Number.isFinite(sent)) {
      held.set(id, sent)
      intervalOldest = intervalOldest === null ? sent : Math.min(intervalOldest, sent)
    }
    counters.messages.received++
    try {
      const parsed = parseMessage(m.Body ?? '')
      if (parsed.kind === 'invalid') {
        counters.messages.invalid++
        const inv = {messageId: id, reason: parsed.reason, receiveCount: m.Attributes?.ApproximateReceiveCount ? Number(m.Attributes.ApproximateReceiveCount) : null}
        if (ctx.result.invalidMessages.length < MAX_SAMPLES) ctx.result.invalidMessages.push(inv)
        hooks.onInvalid?.(inv)
        return // left on the queue: its redrive policy moves it to the DLQ after maxReceiveCount
      }
      if (parsed.kind === 'test') {
        counters.messages.testEvents++
      } else {
        counters.events.ignored += parsed.ignored.length
        counters.events.objectCreated += parsed.events.length
        if (parsed.events.length > 0) {
          // keep the message invisible while its objects load, however long that takes
          const every = Math.max(1000, (visibility * 1000) / 3)
          const timer = setInterval(() => {
            queue
              .extend(m.ReceiptHandle!, visibility)
              .then(() => counters.visibilityExtensions++)
              .catch((err) => {
                counters.errors++
                hooks.onWarning?.(`cannot extend the visibility of message ${id}: ${errorMessage(err)}`)
              })
          }, every)
          let outcomes
          try {
            outcomes = await Promise.all(parsed.events.map((ev) => loader.loadEvent(ev)))
          } finally {
            clearInterval(timer)
          }
          if (outcomes.includes('failed')) {
            counters.messages.retained++
            return // redelivered after the visibility timeout; what did load is skipped then
          }
        }
      }
      const err = await deleter.delete(m.ReceiptHandle!)
      if (err === null) counters.messages.deleted++
      else {
        counters.errors++
        hooks.onWarning?.(`cannot delete message ${id} (it will be redelivered and skipped): ${err}`)
      }
    } finally {
      held.delete(id)
    }
  }

  return {
    async refreshBacklog() {
      const now = Date.now()
      let oldest = intervalOldest
      for (const t of held.values()) oldest = oldest === null ? t : Math.min(oldest, t)
      intervalOldest = null
      try {
        const a = await queue.attributes()
        ctx.backlog = {messages: a.messages, inFlight: a.inFlight, oldestAgeSeconds: oldest === null ? (a.messages === 0 ? 0 : null) : Math.max(0, Math.round((now - oldest) / 1000))}
      } catch (err) {
        counters.errors++
        hooks.onWarning?.(`cannot read the queue attributes: ${errorMessage(err)}`)
        ctx.backlog = {messages: null, inFlight: null, oldestAgeSeconds: oldest === null ? null : Math.round((now - oldest) / 1000)}
      }
    },

    async run() {
      const attrs = await queue.attributes() // fails fast on a wrong URL, endpoint or credentials
      if (!attrs.hasRedrivePolicy) hooks.onWarning?.(`the queue has no redrive policy: a message that cannot be loaded is redelivered forever (attach a dead-letter queue)`)
      if (attrs.visibilityTimeoutSeconds !== null) ctx.backlog = {messages: attrs.messages, inFlight: attrs.inFlight, oldestAgeSeconds: null}
      const inflight = new Set<Promise<void>>()
      const receiveAbort = new AbortController()
      void ctx.stopped.then(() => receiveAbort.abort())
      const idleMs = opts.stopWhenIdleMs
      let lastActivity = performance.now()
      let failures = 0
      let stoppedBy: 'signal' | 'idle' = 'signal'
      hooks.onReady?.()
      try {
        while (!ctx.isStopping()) {
          if (inflight.size >= cap) {
            await Promise.race([...inflight, ctx.stopped])
            continue
          }
          let wait = maxWait
          if (idleMs !== undefined) {
            const remaining = idleMs - (performance.now() - lastActivity)
            if (inflight.size === 0 && remaining <= 0) {
              stoppedBy = 'idle'
              break
            }
            wait = Math.min(maxWait, Math.max(1, Math.ceil(remaining / 1000)))
          }
          let msgs: Message[]
          try {
            msgs = await queue.receive(cap - inflight.size, wait, visibility, receiveAbort.signal)
            failures = 0
          } catch (err) {
            if (ctx.isStopping()) break
            counters.errors++
            failures++
            hooks.onWarning?.(`receive failed (retrying): ${errorMessage(err)}`)
            await sleep(Math.min(30_000, 250 * 2 ** Math.min(failures, 7)), ctx.stopped)
            continue
          }
          if (msgs.length > 0) lastActivity = performance.now()
          for (const m of msgs) {
            const p: Promise<void> = handle(m)
              .catch((err) => {
                counters.errors++
                hooks.onWarning?.(`message ${m.MessageId}: ${errorMessage(err)}`)
              })
              .finally(() => {
                inflight.delete(p)
                lastActivity = performance.now()
              })
            inflight.add(p)
          }
        }
      } finally {
        // graceful stop: what was received is finished (loads commit, messages are deleted)
        await Promise.all(inflight)
        await deleter.close()
        if (!opts.sqsClient) queue.close()
      }
      return stoppedBy
    },
  }
}
