import {newLoadId, openLoadSession} from '../load/session.js'
import {UsageError} from '../errors.js'
import {openWarehouse} from '../warehouse/index.js'
import {startMetricsServer} from './metrics-server.js'
import {StreamLoader} from './object-loader.js'
import {MAX_SAMPLES, type Source, type WorkerContext} from './sources/types.js'
import {emptyCounters, LatencyRecorder, renderPrometheus, StatusTracker} from './stats.js'
import type {StreamHooks, StreamOptions, StreamResult} from './types.js'

export type {InvalidMessage, PushSettings, StopReason, StreamHooks, StreamMode, StreamOptions, StreamResult} from './types.js'
export type {Source, WorkerContext} from './sources/types.js'

/**
 * The event-driven loader: consumes S3 event notifications from SQS, GCS notifications from Pub/Sub (pulled,
 * or pushed to --listen), or watches a local folder, and loads each new object exactly once through the
 * ledger, until signalled or idle.
 */
export async function runStream(opts: StreamOptions, hooks: StreamHooks = {}): Promise<StreamResult> {
  if ([opts.queue, opts.subscription, opts.listen, opts.watch].filter(Boolean).length !== 1) throw new UsageError('Give exactly one of --queue, --subscription, --listen or --watch.', 'For example: seneka stream --queue https://sqs.eu-west-1.amazonaws.com/123456789012/logs --format alb')
  const started = performance.now()
  const loadId = opts.loadId ?? newLoadId('st')
  const counters = emptyCounters()
  const latency = new LatencyRecorder()
  const result: StreamResult = {
    type: 'summary',
    loadId,
    mode: opts.queue ? 'sqs' : opts.subscription ? 'pubsub' : opts.listen ? 'push' : 'watch',
    source: opts.queue ?? opts.subscription ?? opts.listen ?? opts.watch ?? '',
    warehouse: '',
    table: opts.table,
    format: opts.format.name,
    stoppedBy: 'signal',
    durationMs: 0,
    ...counters,
    latency: latency.summary(),
    failures: [],
    invalidMessages: [],
    poisonObjects: [],
  }
  const warehouse = await openWarehouse(opts.warehouse, {bigquery: opts.bigquery})
  for (const line of warehouse.describeStreaming?.() ?? []) hooks.onInfo?.(line)
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
    const session = await openLoadSession(warehouse, opts)
    const objectLoader = session.loader
    const loader = new StreamLoader({
      loader: objectLoader,
      table: opts.table,
      format: opts.format,
      loadId,
      concurrency: session.inFlight,
      counters,
      latency,
      storeOptions: opts.storeOptions,
      storeFactories: opts.storeFactories,
      retries: opts.retries,
      onLoaded: hooks.onLoaded,
      onStart: hooks.onStart,
      scope: opts.scope,
      onWarning: hooks.onWarning,
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
      inFlight: session.inFlight,
      backlog: {messages: null, inFlight: null, oldestAgeSeconds: null},
    }
    const tracker = new StatusTracker(counters)
    if (opts.metricsPort !== undefined) {
      metrics = await startMetricsServer(opts.metricsPort, () => renderPrometheus(counters, loader.loading, ctx.backlog, latency.summary(), loader.queued))
      hooks.onMetrics?.(metrics.url)
    }
    // each source module (and its SDK) is imported only when it is the one in use
    const source: Source = opts.queue
      ? (await import('./sources/sqs.js')).sqsSource(ctx, opts.queue)
      : opts.subscription
        ? (await import('./sources/pubsub.js')).pubsubSource(ctx, opts.subscription)
        : opts.listen
          ? (await import('./sources/push.js')).pushSource(ctx, opts.listen)
          : (await import('./sources/folder.js')).folderSource(ctx, opts.watch!)
    if ((opts.statusIntervalMs ?? 0) > 0) {
      statusTimer = setInterval(() => {
        source
          .refreshBacklog()
          .catch(() => {})
          .finally(() => hooks.onStatus?.(tracker.snapshot(loader.loading, loader.queued, ctx.backlog)))
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

