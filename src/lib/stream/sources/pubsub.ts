import {Duration, type Message, PubSub, type Subscription} from '@google-cloud/pubsub'
import {describeNetworkError, errorMessage, UserError, UsageError} from '../../errors.js'
import {parseGcsNotification} from '../gcs-events.js'
import type {StopReason} from '../types.js'
import {DEFAULT_MAX_DELIVERIES, DeliveryTracker} from './poison.js'
import {MAX_SAMPLES, runLatch, type Source, watchIdle, type WorkerContext} from './types.js'

import {parseSubscriptionName} from './pubsub-name.js'

export {parseSubscriptionName}

/** gRPC status codes the worker names (google-gax / grpc-js errors carry them as `code`). */
const GRPC = {NOT_FOUND: 5, PERMISSION_DENIED: 7, UNAUTHENTICATED: 16, UNAVAILABLE: 14} as const

/** Turns a Pub/Sub client error into one clear sentence; returns the original error when there is nothing better to say. */
export function explainPubsubError(err: unknown, subscription: string): unknown {
  const net = describeNetworkError(err, `the Pub/Sub endpoint for ${subscription}`)
  if (net) return net
  const e = err as {code?: number | string; message?: string}
  const message = e?.message ?? String(err)
  if (e?.code === GRPC.NOT_FOUND) return new UserError(`The subscription ${subscription} does not exist.`, {suggestion: 'Check --subscription (projects/PROJECT/subscriptions/NAME) and the project; `gcloud pubsub subscriptions list` shows them.', cause: err})
  if (e?.code === GRPC.PERMISSION_DENIED) return new UserError(`Access denied to the subscription ${subscription}.`, {suggestion: 'The credentials need roles/pubsub.subscriber on it (and roles/pubsub.viewer to read its dead-letter policy).', cause: err})
  if (e?.code === GRPC.UNAUTHENTICATED || /Could not load the default credentials|invalid_grant/i.test(message)) {
    return new UserError(`No usable Google Cloud credentials were found to read ${subscription}.`, {suggestion: 'Run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS, or run with an attached service account.', cause: err})
  }
  if (e?.code === GRPC.UNAVAILABLE) return new UserError(`Cannot reach the Pub/Sub endpoint for ${subscription} (${message}).`, {suggestion: 'Check the endpoint (--pubsub-endpoint or PUBSUB_EMULATOR_HOST) and your network, then run the command again.', cause: err})
  return err
}

export function createPubsubClient(project: string, endpoint?: string): PubSub {
  const host = endpoint ?? process.env.PUBSUB_EMULATOR_HOST
  return new PubSub({projectId: project, ...(host ? {apiEndpoint: host.replace(/^https?:\/\//, ''), emulatorMode: true} : {})})
}

/**
 * --subscription: GCS notifications (OBJECT_FINALIZE, JSON_API_V1 or NONE payload) from a Pub/Sub
 * subscription, received over StreamingPull. Each message's object is loaded at the generation it names
 * and the message is acked only after the commit; its ack deadline is extended while it loads. A failed
 * load nacks the message (redelivered); after maxDeliveries deliveries it is recorded as poison and left
 * to the subscription's dead-letter topic. Other event types are acked and counted as ignored.
 */
export function pubsubSource(ctx: WorkerContext, subscriptionName: string): Source {
  const {opts, hooks, counters, loader} = ctx
  const {project} = parseSubscriptionName(subscriptionName)
  const deadline = opts.ackDeadlineSeconds ?? 60
  if (!Number.isInteger(deadline) || deadline < 10 || deadline > 600) throw new UsageError(`The ack deadline must be 10 to 600 seconds, not ${deadline}.`, 'For example: --ack-deadline 60s')
  const extendEvery = opts.ackExtendIntervalMs ?? Math.max(1000, (deadline * 1000) / 3)
  const cap = Math.max(10, opts.concurrency * 2, ctx.inFlight)
  /** publish time of the messages held now */
  const held = new Map<string, number>()

  return {
    async refreshBacklog() {
      // the backlog of a subscription is a Cloud Monitoring metric, not an API call: what this worker holds
      const now = Date.now()
      let oldest: number | null = null
      for (const t of held.values()) oldest = oldest === null ? t : Math.min(oldest, t)
      ctx.backlog = {messages: null, inFlight: held.size, oldestAgeSeconds: oldest === null ? null : Math.max(0, Math.round((now - oldest) / 1000))}
    },

    async run() {
      const client = createPubsubClient(project, opts.pubsub?.endpoint)
      let subscription: Subscription | undefined
      try {
        const probe = client.subscription(subscriptionName)
        // fails fast on a wrong name, endpoint or credentials; tells the dead-letter policy
        const [meta] = await probe.getMetadata({timeout: 20_000, retry: {retryCodes: [], backoffSettings: {initialRetryDelayMillis: 100, retryDelayMultiplier: 1, maxRetryDelayMillis: 100, initialRpcTimeoutMillis: 20_000, rpcTimeoutMultiplier: 1, maxRpcTimeoutMillis: 20_000, totalTimeoutMillis: 20_000}}}).catch((err: unknown) => {
          throw explainPubsubError(err, subscriptionName)
        })
        const dlp = meta.deadLetterPolicy
        const deadLetter = dlp?.deadLetterTopic ? String(dlp.deadLetterTopic) : null
        const policyAttempts = dlp?.deadLetterTopic && dlp.maxDeliveryAttempts ? Number(dlp.maxDeliveryAttempts) : null
        if (!deadLetter) hooks.onWarning?.(`the subscription has no dead-letter topic: a message that cannot be loaded is redelivered forever (seneka holds it once it is poison; attach a dead-letter topic)`)
        const tracker = new DeliveryTracker(ctx, opts.maxDeliveries ?? policyAttempts ?? DEFAULT_MAX_DELIVERIES, deadLetter)

        subscription = client.subscription(subscriptionName, {
          flowControl: {maxMessages: cap, allowExcessMessages: false},
          streamingOptions: {maxStreams: 1},
          minAckDeadline: Duration.from({seconds: deadline}),
          maxAckDeadline: Duration.from({seconds: deadline}),
          closeOptions: {timeout: Duration.from({seconds: 10})},
        })
        const inflight = new Set<Promise<void>>()
        /** in-flight messages that are new work (not redeliveries of messages that keep failing) */
        let freshInflight = 0
        let lastActivity = performance.now()
        let stoppedBy: StopReason = 'signal'
        let fatal: unknown
        const {finished, finish} = runLatch(ctx.stopped)

        /** A delivery that failed: nack it for redelivery, or, once it is poison, leave it to the dead-letter topic. */
        const failed = (m: Message, uri: string | null, reason: string): void => {
          const deliveries = tracker.deliveries(m.id, m.deliveryAttempt || null)
          const poison = tracker.failed(m.id, deliveries, uri, reason)
          if (poison && !deadLetter) return // held (neither acked nor nacked): no hot redelivery loop without a dead-letter topic
          m.nack() // with a dead-letter topic and the attempts used up, Pub/Sub forwards it there
        }

        const handle = async (m: Message): Promise<void> => {
          counters.messages.received++
          const parsed = parseGcsNotification(m.attributes, m.data)
          if (parsed.kind === 'invalid') {
            counters.messages.invalid++
            const inv = {messageId: m.id, reason: parsed.reason, receiveCount: m.deliveryAttempt || null}
            if (ctx.result.invalidMessages.length < MAX_SAMPLES) ctx.result.invalidMessages.push(inv)
            hooks.onInvalid?.(inv)
            failed(m, null, parsed.reason)
            return
          }
          if (parsed.kind === 'ignored') {
            counters.events.ignored++
          } else {
            counters.events.objectCreated++
            const ev = parsed.event
            const uri = `gs://${ev.bucket}/${ev.key}`
            const timer = setInterval(() => {
              m.modAck(deadline)
              counters.visibilityExtensions++
            }, extendEvery)
            let outcome
            try {
              outcome = await loader.loadGeneration(ev)
            } finally {
              clearInterval(timer)
            }
            if (outcome === 'failed') {
              counters.messages.retained++
              failed(m, uri, loader.failureReason(uri) ?? 'the load failed')
              return
            }
          }
          tracker.succeeded(m.id)
          m.ack()
          counters.messages.deleted++
        }

        subscription.on('message', (m: Message) => {
          if (ctx.isStopping() || fatal !== undefined) {
            m.nack() // arrived while stopping: redelivered to whoever runs next
            return
          }
          const fresh = !tracker.isRedeliveryOfFailure(m.id)
          if (fresh) {
            lastActivity = performance.now()
            freshInflight++
          }
          const published = m.publishTime?.getTime?.()
          held.set(m.id, Number.isFinite(published) ? published : Date.now())
          const p: Promise<void> = handle(m)
            .catch((err) => {
              counters.errors++
              hooks.onWarning?.(`message ${m.id}: ${errorMessage(err)}`)
              m.nack()
            })
            .finally(() => {
              inflight.delete(p)
              if (fresh) freshInflight--
              held.delete(m.id)
              if (!tracker.isRedeliveryOfFailure(m.id)) lastActivity = performance.now()
            })
          inflight.add(p)
        })
        subscription.on('error', (err: unknown) => {
          fatal = explainPubsubError(err, subscriptionName)
          finish()
        })
        hooks.onReady?.()
        const idleTimer = watchIdle(opts.stopWhenIdleMs, () => (freshInflight === 0 ? lastActivity : undefined), () => {
          stoppedBy = 'idle'
          finish()
        })
        try {
          await finished
        } finally {
          if (idleTimer) clearInterval(idleTimer)
          // graceful stop: the loads in flight commit and are acked, then the stream closes (what the client
          // still holds unprocessed is nacked, so it is redelivered at once)
          while (inflight.size > 0) await Promise.all(inflight)
          await subscription.close().catch(() => {})
        }
        if (fatal !== undefined) throw fatal
        return stoppedBy
      } finally {
        await client.close().catch(() => {})
      }
    },
  }
}
