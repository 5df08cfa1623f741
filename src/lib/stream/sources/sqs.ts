import type {Message} from '@aws-sdk/client-sqs'
import {errorMessage} from '../../errors.js'
import {parseMessage} from '../events.js'
import {sleep} from '../sleep.js'
import {createSqsClient, DeleteBatcher, SqsQueue} from '../sqs.js'
import type {StopReason} from '../types.js'
import {DEFAULT_MAX_DELIVERIES, DeliveryTracker} from './poison.js'
import {MAX_SAMPLES, type Source, type WorkerContext} from './types.js'

/**
 * --queue: S3 event notifications from an SQS queue. Long-polls up to 10 messages per receive, keeps each
 * message invisible while its objects load (ChangeMessageVisibility) and deletes it only after every object
 * it names is committed. A failed load leaves the message for redelivery (and the queue's redrive policy).
 */
export function sqsSource(ctx: WorkerContext, queueUrl: string): Source {
  const {opts, hooks, counters, loader} = ctx
  const queue = new SqsQueue(opts.sqsClient ?? createSqsClient(queueUrl, opts.sqs), queueUrl)
  const visibility = opts.visibilityTimeoutSeconds ?? 60
  const maxWait = Math.min(20, Math.max(0, opts.waitSeconds ?? 20))
  const cap = Math.max(10, opts.concurrency * 2, ctx.inFlight)
  const deleter = new DeleteBatcher(queue)
  /** SentTimestamp of messages held now */
  const held = new Map<string, number>()
  let intervalOldest: number | null = null
  let tracker = new DeliveryTracker(ctx, opts.maxDeliveries ?? DEFAULT_MAX_DELIVERIES, null)

  const handle = async (m: Message): Promise<void> => {
    const id = m.MessageId ?? '?'
    const sent = Number(m.Attributes?.SentTimestamp)
    if (Number.isFinite(sent)) {
      held.set(id, sent)
      intervalOldest = intervalOldest === null ? sent : Math.min(intervalOldest, sent)
    }
    counters.messages.received++
    const receiveCount = m.Attributes?.ApproximateReceiveCount ? Number(m.Attributes.ApproximateReceiveCount) : null
    try {
      const parsed = parseMessage(m.Body ?? '')
      if (parsed.kind === 'invalid') {
        counters.messages.invalid++
        const inv = {messageId: id, reason: parsed.reason, receiveCount}
        if (ctx.result.invalidMessages.length < MAX_SAMPLES) ctx.result.invalidMessages.push(inv)
        hooks.onInvalid?.(inv)
        tracker.failed(id, tracker.deliveries(id, receiveCount), null, parsed.reason)
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
          const failedAt = outcomes.indexOf('failed')
          if (failedAt >= 0) {
            counters.messages.retained++
            const ev = parsed.events[failedAt]
            const uri = `s3://${ev.bucket}/${ev.key}`
            tracker.failed(id, tracker.deliveries(id, receiveCount), uri, loader.failureReason(uri) ?? 'the load failed')
            return // redelivered after the visibility timeout; what did load is skipped then
          }
        }
      }
      tracker.succeeded(id)
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
      tracker = new DeliveryTracker(ctx, opts.maxDeliveries ?? attrs.maxReceiveCount ?? DEFAULT_MAX_DELIVERIES, attrs.deadLetterTargetArn)
      if (!attrs.hasRedrivePolicy) hooks.onWarning?.(`the queue has no redrive policy: a message that cannot be loaded is redelivered forever (attach a dead-letter queue)`)
      if (attrs.visibilityTimeoutSeconds !== null) ctx.backlog = {messages: attrs.messages, inFlight: attrs.inFlight, oldestAgeSeconds: null}
      const inflight = new Set<Promise<void>>()
      /** in-flight messages that are new work (not redeliveries of messages that keep failing) */
      let freshInflight = 0
      const receiveAbort = new AbortController()
      void ctx.stopped.then(() => receiveAbort.abort())
      const idleMs = opts.stopWhenIdleMs
      let lastActivity = performance.now()
      let failures = 0
      let stoppedBy: StopReason = 'signal'
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
            if (freshInflight === 0 && remaining <= 0) {
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
          // redeliveries of messages that keep failing are not new work: a poison message never keeps the worker from idling
          if (msgs.some((m) => !tracker.isRedeliveryOfFailure(m.MessageId ?? '?'))) lastActivity = performance.now()
          for (const m of msgs) {
            const fresh = !tracker.isRedeliveryOfFailure(m.MessageId ?? '?')
            if (fresh) freshInflight++
            const p: Promise<void> = handle(m)
              .catch((err) => {
                counters.errors++
                hooks.onWarning?.(`message ${m.MessageId}: ${errorMessage(err)}`)
              })
              .finally(() => {
                inflight.delete(p)
                if (fresh) freshInflight--
                if (!tracker.isRedeliveryOfFailure(m.MessageId ?? '?')) lastActivity = performance.now()
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
