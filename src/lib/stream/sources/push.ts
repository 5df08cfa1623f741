import http, {type IncomingHttpHeaders, type IncomingMessage, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {errorMessage, UserError, UsageError} from '../../errors.js'
import {type CloudEventContext, type ParsedGcsNotification, parseGcsNotification, parseStorageCloudEvent} from '../gcs-events.js'
import type {EventOutcome} from '../object-loader.js'
import {formatDuration} from '../../time.js'
import {PushAuth} from '../push-auth.js'
import {renderPrometheus} from '../stats.js'
import type {StopReason} from '../types.js'
import {DEFAULT_MAX_DELIVERIES, DeliveryTracker} from './poison.js'
import {MAX_SAMPLES, runLatch, type Source, watchIdle, type WorkerContext} from './types.js'

/** The Eventarc type of a Pub/Sub message (a trigger on the notification topic): data is the push envelope. */
export const PUBSUB_PUBLISHED = 'google.cloud.pubsub.topic.v1.messagePublished'
/** The largest request body accepted (a GCS notification is a few kB). */
export const MAX_BODY_BYTES = 1024 * 1024
/**
 * How long a stopping worker lets the loads under way commit before answering their requests 503; requests whose
 * load has not begun are answered 503 at once. Inside the stop budget, with room for the last commits and the close.
 */
export const DEFAULT_SHUTDOWN_GRACE_MS = 6000
/**
 * The stop budget: from SIGTERM to exit (Cloud Run and Kubernetes' default kill the process 10 s after SIGTERM).
 * A worker still busy then exits anyway: nothing partial is committed, and every push not answered 2xx is redelivered.
 */
export const DEFAULT_STOP_TIMEOUT_MS = 9000

/**
 * A worker's stop budget and (push mode) its shutdown grace: the flags' values, else the defaults push mode needs
 * (a budget inside the platform's 10 s; a grace two thirds of the budget at most); other modes have no budget unless
 * one is given. The grace must leave part of the budget for the last commits and the close.
 */
export function stopBudget(o: {stopTimeoutMs?: number; shutdownGraceMs?: number; push: boolean}): {stopTimeoutMs?: number; shutdownGraceMs?: number} {
  const stopTimeoutMs = o.stopTimeoutMs ?? (o.push ? DEFAULT_STOP_TIMEOUT_MS : undefined)
  const shutdownGraceMs = o.shutdownGraceMs ?? (o.push ? Math.min(DEFAULT_SHUTDOWN_GRACE_MS, stopTimeoutMs !== undefined ? Math.floor((stopTimeoutMs * 2) / 3) : DEFAULT_SHUTDOWN_GRACE_MS) : undefined)
  if (shutdownGraceMs !== undefined && stopTimeoutMs !== undefined && shutdownGraceMs >= stopTimeoutMs) {
    throw new UsageError(`--shutdown-grace (${formatDuration(shutdownGraceMs)}) must be shorter than the stop budget --stop-timeout (${formatDuration(stopTimeoutMs)}): the last commits and the close need the rest.`, 'For example: --stop-timeout 9s --shutdown-grace 6s (Cloud Run kills the process 10 s after SIGTERM).')
  }
  return {stopTimeoutMs, shutdownGraceMs}
}
/** A request's body must be complete this long after its headers arrived (a notification is a few kB), else 408. */
const DEFAULT_BODY_TIMEOUT_MS = 5000
/** Requests admitted per object the loader takes in flight: the rest of them wait (queued) for a load slot. */
const REQUESTS_PER_LOAD_IN_FLIGHT = 5
/** Cloud Run's default and largest per-instance concurrency: the default cap stays between them. */
const MIN_DEFAULT_MAX_REQUESTS = 80
const MAX_DEFAULT_MAX_REQUESTS = 1000

/**
 * Push requests a worker admits at once (--max-requests' default): 5 x what the loader takes in flight, so a burst
 * queues a few commits deep and no more, within Cloud Run's 80..1000 (80 on DuckDB at --concurrency 4, 1,000 on
 * BigQuery). Beyond it a request is answered 429; behind Cloud Run with --concurrency set to the same number, none is.
 */
export function defaultMaxRequests(loadsInFlight: number): number {
  return Math.min(MAX_DEFAULT_MAX_REQUESTS, Math.max(MIN_DEFAULT_MAX_REQUESTS, loadsInFlight * REQUESTS_PER_LOAD_IN_FLIGHT))
}
/** Refused requests and other per-request problems logged as warnings before they are only counted. */
const LOGGED_PROBLEMS = 10

/** Parses --listen HOST:PORT (":PORT" listens on every interface). */
export function parseListenAddress(v: string): {host: string; port: number} {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(v.trim())
  const port = m ? Number(m[3]) : Number.NaN
  if (!m || !Number.isInteger(port) || port > 65_535) throw new UsageError(`--listen "${v}" is not HOST:PORT.`, 'For example: --listen 127.0.0.1:8080, or --listen 0.0.0.0:$PORT on Cloud Run.')
  return {host: m[1] ?? (m[2] || '0.0.0.0'), port}
}

/** One push delivery as understood from its HTTP request. */
export type PushDelivery =
  | {kind: 'bad'; reason: string}
  | {
      kind: 'delivery'
      via: 'pubsub' | 'cloudevent'
      /** the Pub/Sub message id, or the CloudEvent id (for Eventarc, the same) */
      id: string
      /** deliveryAttempt: only sent when the subscription has a dead-letter policy */
      attempt: number | null
      subscription: string | null
      /** publish time (ms since the epoch) */
      published: number | null
      parsed: ParsedGcsNotification
    }

function header(h: IncomingHttpHeaders, name: string): string | null {
  const v = h[name]
  const s = Array.isArray(v) ? v[0] : v
  return typeof s === 'string' && s.length > 0 ? s : null
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function fromPubsubEnvelope(doc: Record<string, unknown>, fallbackId: string | null): PushDelivery {
  const message = doc.message
  if (!isObject(message)) return {kind: 'bad', reason: 'not a Pub/Sub push request (no message object)'}
  const id = typeof message.messageId === 'string' ? message.messageId : typeof message.message_id === 'string' ? message.message_id : fallbackId
  if (!id) return {kind: 'bad', reason: 'a Pub/Sub push request without messageId'}
  const attributes: Record<string, string> = {}
  if (isObject(message.attributes)) for (const [k, v] of Object.entries(message.attributes)) if (typeof v === 'string') attributes[k] = v
  const data = typeof message.data === 'string' ? Buffer.from(message.data, 'base64') : undefined
  const publishTime = typeof message.publishTime === 'string' ? message.publishTime : typeof message.publish_time === 'string' ? message.publish_time : null
  const published = publishTime ? Date.parse(publishTime) : Number.NaN
  const attempt = typeof doc.deliveryAttempt === 'number' && doc.deliveryAttempt > 0 ? doc.deliveryAttempt : null
  return {
    kind: 'delivery',
    via: 'pubsub',
    id,
    attempt,
    subscription: typeof doc.subscription === 'string' ? doc.subscription : null,
    published: Number.isFinite(published) ? published : null,
    parsed: parseGcsNotification(attributes, data),
  }
}

function fromCloudEvent(ce: CloudEventContext, data: unknown): PushDelivery {
  if (ce.type === PUBSUB_PUBLISHED) {
    if (!isObject(data)) return {kind: 'bad', reason: `a ${PUBSUB_PUBLISHED} CloudEvent without the message as data`}
    const d = fromPubsubEnvelope(data, ce.id)
    return d.kind === 'delivery' ? {...d, via: 'cloudevent'} : d
  }
  const published = ce.time ? Date.parse(ce.time) : Number.NaN
  return {kind: 'delivery', via: 'cloudevent', id: ce.id, attempt: null, subscription: null, published: Number.isFinite(published) ? published : null, parsed: parseStorageCloudEvent(ce, data)}
}

/**
 * Understands one push request: a Pub/Sub push envelope ({message: {data, attributes, messageId,
 * publishTime}, subscription, deliveryAttempt?}) carrying a GCS notification, or an Eventarc CloudEvent
 * in binary mode (ce-* headers, StorageObjectData body) or structured mode (application/cloudevents+json).
 */
export function parsePushRequest(headers: IncomingHttpHeaders, body: Buffer): PushDelivery {
  const json = (): {ok: true; value: unknown} | {ok: false} => {
    if (body.length === 0) return {ok: true, value: undefined}
    try {
      return {ok: true, value: JSON.parse(body.toString('utf8'))}
    } catch {
      return {ok: false}
    }
  }
  const ceType = header(headers, 'ce-type')
  if (ceType && header(headers, 'ce-specversion')) {
    const id = header(headers, 'ce-id')
    if (!id) return {kind: 'bad', reason: 'a CloudEvent without ce-id'}
    const doc = json()
    return fromCloudEvent({id, type: ceType, source: header(headers, 'ce-source'), subject: header(headers, 'ce-subject'), time: header(headers, 'ce-time')}, doc.ok ? doc.value : null)
  }
  const doc = json()
  if (!doc.ok || !isObject(doc.value)) return {kind: 'bad', reason: 'the body is not a JSON object (expected a Pub/Sub push request or a CloudEvent)'}
  const v = doc.value
  if (/application\/cloudevents\+json/i.test(header(headers, 'content-type') ?? '') || (typeof v.specversion === 'string' && typeof v.type === 'string')) {
    if (typeof v.id !== 'string' || typeof v.type !== 'string') return {kind: 'bad', reason: 'a structured CloudEvent without id / type'}
    let data: unknown = v.data
    if (data === undefined && typeof v.data_base64 === 'string') {
      try {
        data = JSON.parse(Buffer.from(v.data_base64, 'base64').toString('utf8'))
      } catch {
        data = null
      }
    }
    const s = (x: unknown): string | null => (typeof x === 'string' ? x : null)
    return fromCloudEvent({id: v.id, type: v.type, source: s(v.source), subject: s(v.subject), time: s(v.time)}, data)
  }
  return fromPubsubEnvelope(v, null)
}

/** How a request body read ended. */
type BodyRead = {kind: 'body'; body: Buffer} | {kind: 'too-large' | 'timed-out' | 'truncated' | 'stopped'}

/**
 * Reads a request body up to `limit` bytes, until `deadline` (performance.now() ms) at the latest, or until `stop`
 * is aborted. A client that closes the connection before the end of its body is 'truncated'.
 */
function readBody(req: IncomingMessage, limit: number, deadline: number, stop: AbortSignal): Promise<BodyRead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    const settle = (r: BodyRead): void => {
      clearTimeout(timer)
      stop.removeEventListener('abort', onStop)
      req.off('data', onData).off('end', onEnd).off('error', onGone).off('close', onGone)
      // a request not read to its end leaves the connection unusable: it is closed once answered
      if (r.kind !== 'body') req.resume()
      resolve(r)
    }
    const onData = (c: Buffer): void => {
      size += c.length
      if (size > limit) settle({kind: 'too-large'})
      else chunks.push(c)
    }
    const onEnd = (): void => settle({kind: 'body', body: Buffer.concat(chunks)})
    const onGone = (): void => settle({kind: 'truncated'})
    const onStop = (): void => settle({kind: 'stopped'})
    const timer = setTimeout(() => settle({kind: 'timed-out'}), Math.max(0, deadline - performance.now()))
    if (req.readableEnded) return onEnd()
    if (stop.aborted) return onStop()
    req.on('data', onData).on('end', onEnd).on('error', onGone).on('close', onGone)
    stop.addEventListener('abort', onStop, {once: true})
  })
}

/** One push request being handled. */
interface Job {
  res: ServerResponse
  answered: boolean
  /** aborted on stop (or when the client gives up): a load that has not begun is not begun */
  abort: AbortController
  done: Promise<void>
}

/** Answers a request once; `close` ends the connection after the answer (a body not read to its end). */
function send(job: Pick<Job, 'res' | 'answered'>, status: number, body: unknown, headers: Record<string, string> = {}, close = false): boolean {
  if (job.answered) return false
  job.answered = true
  const res = job.res
  if (res.writableEnded || res.destroyed) return true
  const text = `${JSON.stringify(body)}\n`
  res.writeHead(status, {'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers, ...(close ? {connection: 'close'} : {})})
  res.end(text, close ? () => res.socket?.destroy() : undefined)
  return true
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.')
}

/**
 * --listen HOST:PORT: push mode, for Cloud Run (where the Cloud Function ran) or any HTTP front. Accepts
 * Pub/Sub push requests of a GCS bucket's notifications and Eventarc CloudEvents
 * (google.cloud.storage.object.v1.finalized) by POST on any path, and answers 2xx only once the object
 * is committed (or the event is ignored, a duplicate, or an older generation). A failed load answers 503,
 * so Pub/Sub redelivers with backoff; after maxDeliveries deliveries the message is recorded as poison and
 * left to the subscription's dead-letter topic. With an audience configured, each request's OIDC token is
 * verified (401 / 403 otherwise). A body must be complete within the body deadline (408 otherwise) and only a
 * complete, well-formed delivery takes one of the maxRequests slots (429 beyond them), so slow or stalled
 * clients never starve real pushes. GET /healthz answers 200 (503 once stopping); GET /metrics serves the
 * Prometheus counters. On stop it answers new pushes and /healthz 503, cuts off bodies still arriving, answers
 * 503 at once to the requests whose load has not begun (and never begins it), lets the loads under way commit
 * within the grace and answers 503 to those that cannot (so they are redelivered), then closes.
 */
export function pushSource(ctx: WorkerContext, listen: string): Source {
  const {opts, hooks, counters, loader, latency} = ctx
  const {host, port} = parseListenAddress(listen)
  const push = opts.push ?? {}
  if (push.serviceAccounts?.length && !push.audience) throw new UsageError('--push-service-account needs --push-audience: a token is only checked against the audience it was minted for.', 'Add --push-audience with the push endpoint URL (or the audience set on the push subscription).')
  const auth = push.audience ? new PushAuth({audience: push.audience, serviceAccounts: push.serviceAccounts, jwksUrl: push.jwksUrl, clockToleranceSeconds: push.clockToleranceSeconds}) : null
  const graceMs = push.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS
  const bodyTimeoutMs = push.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS
  const cap = push.maxRequests ?? defaultMaxRequests(ctx.inFlight)
  /** admitted requests: a complete, well-formed delivery, loading or waiting for a load slot */
  const jobs = new Set<Job>()
  /** publish time of the deliveries being handled */
  const held = new Map<Job, number>()
  /** aborted when the worker stops: body reads end at once */
  const stopping = new AbortController()
  const started = performance.now()
  let draining = false
  let problems = 0

  const problem = (message: string): void => {
    problems++
    if (problems <= LOGGED_PROBLEMS) hooks.onWarning?.(message)
    if (problems === LOGGED_PROBLEMS) hooks.onWarning?.('further refused or malformed push requests are counted, not logged')
  }

  const refreshBacklog = (): void => {
    const now = Date.now()
    let oldest: number | null = null
    for (const t of held.values()) oldest = oldest === null ? t : Math.min(oldest, t)
    ctx.backlog = {messages: null, inFlight: jobs.size, oldestAgeSeconds: oldest === null ? null : Math.max(0, Math.round((now - oldest) / 1000))}
  }

  return {
    async refreshBacklog() {
      refreshBacklog()
    },

    async run() {
      const tracker = new DeliveryTracker(ctx, opts.maxDeliveries ?? DEFAULT_MAX_DELIVERIES, null)
      let freshInflight = 0
      let lastActivity = performance.now()
      let stoppedBy: StopReason = 'signal'
      let fatal: unknown
      const {finished, finish} = runLatch(ctx.stopped)
      const shuttingDown = (job: Pick<Job, 'res' | 'answered'>): boolean => send(job, 503, {error: 'shutting down; redeliver to another instance'}, {'retry-after': '1'}, true)

      /**
       * Handles one POST up to its admission: the token, then the body (by its deadline), then the parse; only a
       * complete, well-formed delivery takes one of the `cap` slots. Never throws.
       */
      const receive = async (req: IncomingMessage, res: ServerResponse, arrived: number): Promise<void> => {
        const from = header(req.headers, 'x-forwarded-for')?.split(',')[0]?.trim() ?? req.socket.remoteAddress ?? '?'
        const early = {res, answered: false}
        if (auth) {
          const a = await auth.check(header(req.headers, 'authorization') ?? undefined)
          if (!a.ok) {
            if (a.status === 401) counters.refused.unauthenticated++
            if (a.status === 403) counters.refused.forbidden++
            problem(a.status === 503 ? `push request not checked: ${a.reason}; answered 503 so it is redelivered` : `refused a push request from ${from} (${a.status}): ${a.reason}`)
            req.resume()
            send(early, a.status, {error: a.reason}, a.status === 401 ? {'www-authenticate': 'Bearer'} : a.status === 403 ? {} : {'retry-after': '5'}, a.status !== 503)
            return
          }
        }
        const read = await readBody(req, MAX_BODY_BYTES, arrived + bodyTimeoutMs, stopping.signal)
        switch (read.kind) {
          case 'truncated': {
            // the client closed the connection mid-body: nothing to answer, nothing the worker did wrong
            counters.requests.truncated++
            problem(`a push request from ${from} was cut off before the end of its body`)
            return
          }
          case 'timed-out': {
            counters.requests.timedOut++
            problem(`refused a push request from ${from} (408): its body was not complete within ${formatDuration(bodyTimeoutMs)}`)
            send(early, 408, {error: `the request body was not complete within ${formatDuration(bodyTimeoutMs)}`}, {}, true)
            return
          }
          case 'too-large': {
            counters.requests.tooLarge++
            problem(`refused a push request from ${from}: the body is larger than ${MAX_BODY_BYTES} bytes`)
            send(early, 413, {error: `the body is larger than ${MAX_BODY_BYTES} bytes`}, {}, true)
            return
          }
          case 'stopped': {
            shuttingDown(early)
            return
          }
        }
        const d = parsePushRequest(req.headers, read.body)
        if (d.kind === 'bad') {
          counters.requests.malformed++
          problem(`refused a request from ${from} (400): ${d.reason}`)
          send(early, 400, {error: d.reason})
          return
        }
        if (draining || fatal !== undefined) {
          shuttingDown(early)
          return
        }
        if (jobs.size >= cap) {
          counters.requests.busy++
          send(early, 429, {error: `${cap} push requests are being handled (--max-requests); retry later`}, {'retry-after': '1'})
          return
        }
        let resolveDone!: () => void
        const job: Job = {res, answered: false, abort: new AbortController(), done: new Promise<void>((r) => (resolveDone = r))}
        jobs.add(job)
        res.on('close', () => {
          // the client gave up (Pub/Sub's push deadline): a load under way goes on and commits (the redelivery is a
          // duplicate); one not begun is not begun
          if (!res.writableEnded) {
            job.answered = true
            job.abort.abort()
          }
        })
        try {
          await deliver(d, job)
        } catch (err) {
          counters.errors++
          hooks.onWarning?.(`push request: ${errorMessage(err)}`)
          send(job, 503, {error: 'internal error; redeliver'})
        } finally {
          jobs.delete(job)
          resolveDone()
        }
      }

      /** handles one admitted delivery */
      const deliver = async (d: Extract<PushDelivery, {kind: 'delivery'}>, job: Job): Promise<void> => {
        const fresh = !tracker.isRedeliveryOfFailure(d.id)
        if (fresh) {
          lastActivity = performance.now()
          freshInflight++
        }
        held.set(job, d.published ?? Date.now())
        counters.messages.received++
        const deadLetter = d.attempt !== null ? (d.subscription ? `the dead-letter topic of ${d.subscription}` : 'the subscription\'s dead-letter topic') : null
        /** a delivery that failed: non-2xx, so it is redelivered (and, with a dead-letter policy, forwarded once the attempts are used up) */
        const failed = (status: number, uri: string | null, reason: string): void => {
          const deliveries = tracker.deliveries(d.id, d.attempt)
          const poison = tracker.failed(d.id, deliveries, uri, reason, deadLetter)
          send(job, status, {error: reason, ...(poison ? {poison: true} : {})})
        }
        try {
          const p = d.parsed
          if (p.kind === 'invalid') {
            counters.messages.invalid++
            const inv = {messageId: d.id, reason: p.reason, receiveCount: d.attempt}
            if (ctx.result.invalidMessages.length < MAX_SAMPLES) ctx.result.invalidMessages.push(inv)
            hooks.onInvalid?.(inv)
            failed(400, null, p.reason)
            return
          }
          let outcome: EventOutcome | 'ignored' = 'ignored'
          if (p.kind === 'ignored') {
            counters.events.ignored++
          } else {
            counters.events.objectCreated++
            const uri = `gs://${p.event.bucket}/${p.event.key}`
            outcome = await loader.loadGeneration(p.event, job.abort.signal)
            if (outcome === 'not-started') {
              // stopping (or the client left) before its load began: nothing was read; Pub/Sub redelivers it
              if (send(job, 503, {error: 'shutting down before this object\'s load began; redeliver'}, {'retry-after': '1'}, true)) counters.messages.retained++
              return
            }
            if (outcome === 'failed') {
              if (job.answered) return // answered 503 by the shutdown already
              counters.messages.retained++
              failed(503, uri, loader.failureReason(uri) ?? 'the load failed')
              return
            }
          }
          tracker.succeeded(d.id)
          if (send(job, 200, {outcome})) counters.messages.deleted++
        } finally {
          held.delete(job)
          if (fresh) freshInflight--
          if (!tracker.isRedeliveryOfFailure(d.id)) lastActivity = performance.now()
        }
      }

      const server = http.createServer((req, res) => {
        const arrived = performance.now()
        const url = new URL(req.url ?? '/', 'http://push')
        if (req.method === 'GET' || req.method === 'HEAD') {
          req.resume()
          if (url.pathname === '/healthz') {
            const body = {status: draining ? 'stopping' : 'ok', mode: 'push', loading: loader.loading, requests: jobs.size, maxRequests: cap, uptimeSeconds: Math.round((performance.now() - started) / 1000)}
            const text = `${JSON.stringify(body)}\n`
            res.writeHead(draining ? 503 : 200, {'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store'})
            res.end(req.method === 'HEAD' ? undefined : text)
            return
          }
          if (url.pathname === '/metrics') {
            refreshBacklog()
            const text = renderPrometheus(counters, loader.loading, ctx.backlog, latency.summary(), loader.queued)
            res.writeHead(200, {'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text)})
            res.end(req.method === 'HEAD' ? undefined : text)
            return
          }
          res.writeHead(404, {'content-type': 'application/json; charset=utf-8'})
          res.end(`${JSON.stringify({error: 'not found: POST push requests to any path; GET /healthz or /metrics'})}\n`)
          return
        }
        const early = {res, answered: false}
        if (req.method !== 'POST') {
          req.resume()
          send(early, 405, {error: 'push requests are POSTs'}, {allow: 'POST, GET, HEAD'})
          return
        }
        if (draining || fatal !== undefined) {
          req.resume()
          shuttingDown(early)
          return
        }
        void receive(req, res, arrived)
      })
      server.headersTimeout = 20_000
      // Node's own bound on a whole request (a backstop: the body deadline above answers 408 long before)
      server.requestTimeout = Math.max(server.headersTimeout + 1000, bodyTimeoutMs * 2)
      server.keepAliveTimeout = 65_000 // longer than the front's idle timeout, so it never reuses a closed connection

      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) => {
          const why = err.code === 'EADDRINUSE' ? 'the port is in use' : err.code === 'EACCES' ? 'not allowed (ports below 1024 need privileges)' : err.code === 'EADDRNOTAVAIL' ? 'the address is not one of this machine' : errorMessage(err)
          reject(new UserError(`Cannot listen on ${listen}: ${why}.`, {suggestion: 'Pick another HOST:PORT with --listen (on Cloud Run: --listen 0.0.0.0:$PORT).', cause: err}))
        })
        server.listen(port, host, () => resolve())
      })
      server.on('error', (err) => {
        fatal = err
        finish()
      })
      const addr = server.address() as AddressInfo
      const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
      ctx.result.source = url
      if (!auth && !isLoopback(host)) hooks.onWarning?.('push requests are accepted without checking their OIDC token (Cloud Run checks it when the service requires authentication); set --push-audience and --push-service-account to check it here too')
      hooks.onListening?.(url, {maxRequests: cap})
      hooks.onReady?.()

      const idleTimer = watchIdle(opts.stopWhenIdleMs, () => (freshInflight === 0 ? lastActivity : undefined), () => {
        stoppedBy = 'idle'
        finish()
      })
      const closed = new Promise<void>((r) => server.once('close', () => r()))
      try {
        await finished
      } finally {
        if (idleTimer) clearInterval(idleTimer)
        // stop: /healthz says 503 and new pushes get 503; bodies still arriving are cut off (503); requests whose
        // load has not begun are answered 503 at once and never begin it; the loads under way may commit within the
        // grace, the others' requests are answered 503 so Pub/Sub redelivers them elsewhere. Those loads still
        // finish (or die with the process): each commit is atomic with its ledger entry, so neither loses data.
        draining = true
        stopping.abort()
        for (const j of jobs) j.abort.abort()
        const all = Promise.all([...jobs].map((j) => j.done))
        let timer: NodeJS.Timeout | undefined
        const late = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))])
        clearTimeout(timer)
        if (late) {
          let answered = 0
          for (const j of jobs) {
            if (send(j, 503, {error: 'shutting down before this object committed; redeliver'}, {}, true)) {
              answered++
              counters.messages.retained++
            }
          }
          if (answered > 0) hooks.onWarning?.(`stopping: answered 503 to ${answered} push request${answered === 1 ? '' : 's'} whose loads had not committed within ${formatDuration(graceMs)} (Pub/Sub redelivers them)`)
          await Promise.all([...jobs].map((j) => j.done))
        }
        server.close()
        server.closeAllConnections()
        await closed
      }
      if (fatal !== undefined) throw fatal
      return stoppedBy
    },
  }
}
