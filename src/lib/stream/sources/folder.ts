import {UserError} from '../../errors.js'
import {plural} from '../../output/words.js'
import {formatDuration} from '../../time.js'
import {openStore} from '../../store/index.js'
import {isSameVersion, type ObjectInfo} from '../../store/types.js'
import {sleep} from '../sleep.js'
import type {StopReason} from '../types.js'
import {DEFAULT_MAX_DELIVERIES, DeliveryTracker} from './poison.js'
import type {Source, WorkerContext} from './types.js'

/** Names that are still being written by convention: hidden files, temp and partial downloads. */
export function isTemporaryName(key: string): boolean {
  const name = key.slice(key.lastIndexOf('/') + 1)
  return name.startsWith('.') || /\.(tmp|part|partial|crdownload|swp)$/i.test(name) || /\.tmp-/.test(name) || name.endsWith('~')
}

/** A failed file is tried again (while it stays unchanged) after 2 s, then twice as long each time, up to 5 min. */
const RETRY_FIRST_MS = 2000
const RETRY_MAX_MS = 300_000
const retryDelayMs = (attempts: number) => Math.min(RETRY_MAX_MS, (RETRY_FIRST_MS / 2) * 2 ** attempts)

/** What --watch does with a file whose load failed, in one sentence's words (`maxDeliveries`: when it turns poison). */
export function folderRetryRule(maxDeliveries: number): string {
  return `retried while the file stays unchanged (after ${formatDuration(RETRY_FIRST_MS)}, then twice as long each time up to ${formatDuration(RETRY_MAX_MS)}; after ${plural(maxDeliveries, 'failure')} it is poison and waits for the file to change)`
}

/**
 * --watch: the embedded event-driven mode. Lists the folder every poll interval and loads each file once
 * its size and modification time have stayed the same for the settle delay (so half-written files are
 * never read). What was loaded is known from the ledger, so restarts load nothing twice.
 */
export function folderSource(ctx: WorkerContext, dir: string): Source {
  const {opts, hooks, loader} = ctx
  const store = openStore(dir)
  if (store.scheme !== 'file') throw new UserError(`--watch takes a local folder, not ${dir}.`, {suggestion: 'For S3 buckets use --queue with the bucket\'s event notifications.'})
  const pollMs = opts.pollIntervalMs ?? 1000
  const settleMs = opts.settleMs ?? 2000
  /** uri -> etag committed (or found in the ledger) */
  const loaded = new Map<string, string>()
  /** files the ledger held when the worker started, not yet listed */
  const fromLedger = new Set<string>()
  /** key -> etag at the previous listing */
  let previous = new Map<string, string>()
  /** uri -> {etag, not before} after a failed load */
  const retryAt = new Map<string, {etag: string; at: number; attempts: number}>()
  const running = new Map<string, Promise<void>>()
  let pending: ObjectInfo[] = []
  /** a file whose load failed maxDeliveries times is poison: recorded, and not retried until it changes */
  const tracker = new DeliveryTracker(ctx, opts.maxDeliveries ?? DEFAULT_MAX_DELIVERIES, null)

  const refresh = (): void => {
    const now = Date.now()
    const oldest = pending.reduce<number | null>((m, o) => (m === null ? o.lastModified.getTime() : Math.min(m, o.lastModified.getTime())), null)
    // files handed to the loader are its loading / queued figures, not a queue's "in flight" messages
    ctx.backlog = {messages: pending.filter((o) => !running.has(o.uri)).length, inFlight: null, oldestAgeSeconds: oldest === null ? 0 : Math.max(0, Math.round((now - oldest) / 1000))}
  }

  return {
    async refreshBacklog() {
      refresh()
    },

    async run() {
      for (const [uri, e] of await ctx.warehouse.readLedger(opts.table, store.uri(''))) {
        loaded.set(uri, e.etag)
        fromLedger.add(uri)
      }
      let lastActivity = performance.now()
      let stoppedBy: StopReason = 'signal'
      hooks.onReady?.()
      try {
        while (!ctx.isStopping()) {
          const seen = new Map<string, string>()
          const waiting: ObjectInfo[] = []
          const now = Date.now()
          let blocked = 0
          for await (const info of store.list('')) {
            if (isTemporaryName(info.key)) continue
            seen.set(info.key, info.etag)
            // loaded before this worker started (a restart) and unchanged: "already loaded", counted once
            const known = fromLedger.delete(info.uri)
            if (isSameVersion(loaded.get(info.uri), info)) {
              if (known) ctx.counters.objects.skipped++
              continue
            }
            waiting.push(info)
            if (running.has(info.uri)) continue
            const settled = previous.get(info.key) === info.etag && now - info.lastModified.getTime() >= settleMs
            const retry = retryAt.get(info.uri)
            if (retry && retry.etag === info.etag) blocked++
            if (!settled || (retry && retry.etag === info.etag && retry.at > now)) continue
            // retries of a file that keeps failing are not new work: they never keep the worker from idling
            const isRetry = retry !== undefined && retry.etag === info.etag
            if (!isRetry) lastActivity = performance.now()
            // stopping: only the loads already running finish, the queued files are left for the next run
            const p = loader.loadFile(store, info, ctx.isStopping).then((outcome) => {
              running.delete(info.uri)
              if (outcome === 'not-started') return
              if (outcome === 'failed') {
                const attempts = (retry && retry.etag === info.etag ? retry.attempts : 0) + 1
                const version = `${info.uri}#${info.etag}`
                const poison = tracker.failed(version, attempts, info.uri, loader.failureReason(info.uri) ?? 'the load failed')
                retryAt.set(info.uri, {etag: info.etag, at: poison ? Infinity : Date.now() + retryDelayMs(attempts), attempts})
              } else {
                lastActivity = performance.now()
                retryAt.delete(info.uri)
                loaded.set(info.uri, info.etag)
              }
            })
            running.set(info.uri, p)
          }
          previous = seen
          pending = waiting
          refresh()
          if (opts.stopWhenIdleMs !== undefined && running.size === 0 && waiting.length - blocked === 0 && performance.now() - lastActivity >= opts.stopWhenIdleMs) {
            stoppedBy = 'idle'
            break
          }
          await sleep(pollMs, ctx.stopped)
        }
      } finally {
        await Promise.all(running.values())
      }
      return stoppedBy
    },
  }
}
