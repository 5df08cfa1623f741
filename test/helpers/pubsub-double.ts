import {randomUUID} from 'node:crypto'
import {createRequire} from 'node:module'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'

/**
 * An in-process gRPC double of the Pub/Sub Subscriber service (google.pubsub.v1.Subscriber) and of the
 * administrative part of the Publisher service (CreateTopic, GetTopic, DeleteTopic), loaded from the
 * protos that ship with @google-cloud/pubsub, for the real client. Strict where the service is: unknown
 * subscriptions are NOT_FOUND, ack deadlines must be 10-600 s (0-600 for ModifyAckDeadline), ack ids are
 * valid only while their lease lasts (an ack after the lease expired or after a redelivery changes nothing),
 * StreamingPull honours maxOutstandingMessages, expired and nacked messages are redelivered with a new ack
 * id, and with a dead-letter policy a message is forwarded to the dead-letter topic once its delivery
 * attempts are used up (deliveryAttempt is set only then, as on the service). `secondMs` scales the lease
 * clock so deadline tests run fast. Every RPC is recorded.
 *
 * Administration (for cutover): CreateTopic / CreateSubscription check names as the service does and answer
 * ALREADY_EXISTS for a name in use; CreateSubscription needs its topic (and its dead-letter topic) to exist;
 * Get/Delete of an unknown name is NOT_FOUND; a deleted topic's subscriptions are detached (topic
 * `_deleted-topic_`). `deny(method)` answers PERMISSION_DENIED as the service does for a missing permission.
 * The `createSubscription` helper (tests' own setup) does not need the topic to exist.
 */

const require = createRequire(import.meta.url)
const PROTOS = require('@google-cloud/pubsub/build/protos/protos.json')
/** resource names as the service checks them: an id of 3-255 characters starting with a letter */
const TOPIC = /^projects\/[^/]+\/topics\/[A-Za-z][\w.~+%-]{2,254}$/
const SUBSCRIPTION = /^projects\/[^/]+\/subscriptions\/[A-Za-z][\w.~+%-]{2,254}$/

export interface DeadLetterPolicy {
  deadLetterTopic: string
  maxDeliveryAttempts: number
}

interface StoredMessage {
  id: string
  data: Buffer
  attributes: Record<string, string>
  publishTime: Date
  deliveries: number
  state: 'available' | 'leased' | 'acked' | 'dead'
  lease?: {ackId: string; expiresAt: number; stream: PullStream | null}
}

interface DoubleSubscription {
  name: string
  topic: string
  ackDeadlineSeconds: number
  deadLetterPolicy?: DeadLetterPolicy
  messages: Map<string, StoredMessage>
}

interface PullStream {
  subscription: DoubleSubscription
  maxOutstanding: number
  deadlineSeconds: number
  call: grpc.ServerDuplexStream<any, any>
  open: boolean
}

export interface RecordedCall {
  method: string
  request: any
  at: number
}

export interface Delivery {
  messageId: string
  ackId: string
  attempt: number
}

export interface PubsubDouble {
  /** HOST:PORT, plaintext */
  endpoint: string
  calls: RecordedCall[]
  deliveries: Delivery[]
  /** acks that removed a message */
  acks: Array<{messageId: string; ackId: string}>
  /** acks and deadline changes for ack ids no longer leased (ignored, as the service does) */
  staleAckIds: string[]
  /** ModifyAckDeadline per message (seconds > 0: extensions; 0: nacks) */
  modAcks: Array<{messageId: string; ackId: string; seconds: number}>
  /** messages forwarded to a dead-letter topic */
  deadLettered: Array<{topic: string; messageId: string; attributes: Record<string, string>; deliveryAttempt: number}>
  /** topic names that exist */
  topics: Set<string>
  /** creates a topic (tests' own setup; no RPC recorded) */
  createTopic(name: string): void
  /** subscription names that exist */
  subscriptionNames(): string[]
  /** the subscription as the service holds it (undefined when there is none) */
  subscriptionInfo(name: string): {name: string; topic: string; ackDeadlineSeconds: number; deadLetterPolicy?: DeadLetterPolicy} | undefined
  /** answer PERMISSION_DENIED to the next `times` calls (default: all) of an RPC, e.g. 'CreateTopic' */
  deny(method: string, times?: number): void
  createSubscription(name: string, opts?: {topic?: string; ackDeadlineSeconds?: number; deadLetterPolicy?: DeadLetterPolicy}): void
  publish(subscription: string, message: {data?: Buffer | string; attributes?: Record<string, string>}): string
  /** messages not acked yet (available or leased) */
  unacked(subscription: string): number
  /** expires every lease now (as if the deadlines passed): the messages are redelivered */
  expireLeases(): void
  /** open StreamingPull streams */
  openStreams(): number
  close(): Promise<void>
}

function status(code: grpc.status, details: string): grpc.StatusObject & Error {
  return Object.assign(new Error(details), {code, details, metadata: new grpc.Metadata()})
}

export async function startPubsubDouble(opts: {secondMs?: number} = {}): Promise<PubsubDouble> {
  const secondMs = opts.secondMs ?? 1000
  const def = protoLoader.fromJSON(PROTOS, {keepCase: false, longs: String, enums: String, defaults: true, oneofs: true})
  const pkg = grpc.loadPackageDefinition(def) as any
  const service = pkg.google.pubsub.v1.Subscriber.service as grpc.ServiceDefinition
  const publisher = pkg.google.pubsub.v1.Publisher.service as grpc.ServiceDefinition
  const subscriptions = new Map<string, DoubleSubscription>()
  const topics = new Set<string>()
  const denied = new Map<string, number>()
  const streams = new Set<PullStream>()
  /** ackId -> message, while leased */
  const leases = new Map<string, {sub: DoubleSubscription; msg: StoredMessage}>()
  let nextId = 1

  const double: PubsubDouble = {
    endpoint: '',
    calls: [],
    deliveries: [],
    acks: [],
    staleAckIds: [],
    modAcks: [],
    deadLettered: [],
    topics,
    createTopic(name) {
      if (!TOPIC.test(name)) throw new Error(`bad topic name ${name}`)
      topics.add(name)
    },
    subscriptionNames: () => [...subscriptions.keys()],
    subscriptionInfo(name) {
      const s = subscriptions.get(name)
      return s ? {name: s.name, topic: s.topic, ackDeadlineSeconds: s.ackDeadlineSeconds, ...(s.deadLetterPolicy ? {deadLetterPolicy: s.deadLetterPolicy} : {})} : undefined
    },
    deny(method, times = Infinity) {
      denied.set(method, times)
    },
    createSubscription(name, o = {}) {
      if (!/^projects\/[^/]+\/subscriptions\/[^/]+$/.test(name)) throw new Error(`bad subscription name ${name}`)
      const ack = o.ackDeadlineSeconds ?? 10
      if (ack < 10 || ack > 600) throw new Error('ackDeadlineSeconds must be 10-600')
      if (o.deadLetterPolicy && (o.deadLetterPolicy.maxDeliveryAttempts < 5 || o.deadLetterPolicy.maxDeliveryAttempts > 100)) throw new Error('maxDeliveryAttempts must be 5-100')
      subscriptions.set(name, {name, topic: o.topic ?? `${name.split('/subscriptions/')[0]}/topics/gcs`, ackDeadlineSeconds: ack, deadLetterPolicy: o.deadLetterPolicy, messages: new Map()})
    },
    publish(name, m) {
      const sub = subscriptions.get(name)
      if (!sub) throw new Error(`no subscription ${name}`)
      const id = String(nextId++)
      sub.messages.set(id, {id, data: Buffer.from(m.data ?? ''), attributes: m.attributes ?? {}, publishTime: new Date(), deliveries: 0, state: 'available'})
      dispatch()
      return id
    },
    unacked(name) {
      return [...(subscriptions.get(name)?.messages.values() ?? [])].filter((m) => m.state === 'available' || m.state === 'leased').length
    },
    expireLeases() {
      for (const [ackId, {sub, msg}] of [...leases]) release(ackId, sub, msg)
      dispatch()
    },
    openStreams: () => [...streams].filter((s) => s.open).length,
    close: () =>
      new Promise((resolve) => {
        clearInterval(ticker)
        for (const s of streams) if (s.open) s.call.destroy()
        server.tryShutdown(() => resolve())
        setTimeout(() => server.forceShutdown(), 1000).unref()
      }),
  }

  /** The lease of `ackId` ends (expired or nacked): the message is delivered again, or dead-lettered. */
  function release(ackId: string, sub: DoubleSubscription, msg: StoredMessage): void {
    leases.delete(ackId)
    msg.lease = undefined
    const dlp = sub.deadLetterPolicy
    if (dlp && msg.deliveries >= dlp.maxDeliveryAttempts) {
      msg.state = 'dead'
      double.deadLettered.push({topic: dlp.deadLetterTopic, messageId: msg.id, attributes: msg.attributes, deliveryAttempt: msg.deliveries})
    } else msg.state = 'available'
  }

  function outstanding(s: PullStream): number {
    let n = 0
    for (const {msg} of leases.values()) if (msg.lease?.stream === s) n++
    return n
  }

  function dispatch(): void {
    for (const s of streams) {
      if (!s.open) continue
      const room = s.maxOutstanding > 0 ? s.maxOutstanding - outstanding(s) : Infinity
      if (room <= 0) continue
      const batch: any[] = []
      for (const msg of s.subscription.messages.values()) {
        if (batch.length >= room) break
        if (msg.state !== 'available') continue
        msg.deliveries++
        const ackId = `ack-${msg.id}-${msg.deliveries}-${randomUUID().slice(0, 8)}`
        msg.state = 'leased'
        msg.lease = {ackId, expiresAt: Date.now() + s.deadlineSeconds * secondMs, stream: s}
        leases.set(ackId, {sub: s.subscription, msg})
        double.deliveries.push({messageId: msg.id, ackId, attempt: msg.deliveries})
        batch.push({
          ackId,
          message: {data: msg.data, attributes: msg.attributes, messageId: msg.id, publishTime: {seconds: String(Math.floor(msg.publishTime.getTime() / 1000)), nanos: (msg.publishTime.getTime() % 1000) * 1e6}, orderingKey: ''},
          deliveryAttempt: s.subscription.deadLetterPolicy ? msg.deliveries : 0,
        })
      }
      if (batch.length > 0) s.call.write({receivedMessages: batch, subscriptionProperties: {exactlyOnceDeliveryEnabled: false, messageOrderingEnabled: false}})
    }
  }

  const ticker = setInterval(() => {
    const now = Date.now()
    let changed = false
    for (const [ackId, {sub, msg}] of [...leases]) {
      if (msg.lease && msg.lease.expiresAt <= now) {
        release(ackId, sub, msg)
        changed = true
      }
    }
    if (changed) dispatch()
  }, Math.max(10, Math.min(100, secondMs / 4)))
  ticker.unref()

  function record(method: string, request: any): void {
    double.calls.push({method, request, at: Date.now()})
  }

  function lookup(name: string): DoubleSubscription {
    const sub = subscriptions.get(name)
    if (!sub) throw status(grpc.status.NOT_FOUND, `Resource not found (resource=${name.split('/').pop()}).`)
    return sub
  }

  function checkAckIds(ids: string[]): void {
    for (const id of ids) if (!/^ack-\d+-\d+-[0-9a-f]{8}$/.test(id)) throw status(grpc.status.INVALID_ARGUMENT, `You have passed an invalid ack ID to the service (ack_id=${id}).`)
  }

  function ack(sub: DoubleSubscription, ids: string[]): void {
    for (const id of ids) {
      const l = leases.get(id)
      if (!l || l.sub !== sub) {
        double.staleAckIds.push(id)
        continue
      }
      leases.delete(id)
      l.msg.state = 'acked'
      l.msg.lease = undefined
      double.acks.push({messageId: l.msg.id, ackId: id})
    }
    dispatch()
  }

  function modAck(sub: DoubleSubscription, ids: string[], seconds: number): void {
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 600) throw status(grpc.status.INVALID_ARGUMENT, `Invalid ack deadline given: ${seconds} (the deadline must be 0-600 seconds).`)
    for (const id of ids) {
      const l = leases.get(id)
      if (!l || l.sub !== sub || !l.msg.lease) {
        double.staleAckIds.push(id)
        continue
      }
      double.modAcks.push({messageId: l.msg.id, ackId: id, seconds})
      if (seconds === 0) release(id, sub, l.msg)
      else l.msg.lease.expiresAt = Date.now() + seconds * secondMs
    }
    dispatch()
  }

  const unary = (method: string, fn: (req: any) => unknown) => (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
    record(method, call.request)
    const left = denied.get(method) ?? 0
    if (left > 0) {
      denied.set(method, left - 1)
      cb(status(grpc.status.PERMISSION_DENIED, 'User not authorized to perform this action.') as grpc.ServiceError)
      return
    }
    try {
      cb(null, fn(call.request) ?? {})
    } catch (err) {
      cb(err as grpc.ServiceError)
    }
  }

  function checkName(name: string, kind: 'topics' | 'subscriptions'): void {
    const re = kind === 'topics' ? TOPIC : SUBSCRIPTION
    const id = String(name ?? '').split('/').pop() ?? ''
    if (!re.test(String(name ?? '')) || id.startsWith('goog')) throw status(grpc.status.INVALID_ARGUMENT, `Invalid resource name given (name=${name}). Refer to https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names for more information.`)
  }

  const topicResource = (name: string) => ({name, labels: {}, messageStoragePolicy: null, kmsKeyName: '', schemaSettings: null, satisfiesPzs: false, messageRetentionDuration: null})
  const subscriptionResource = (sub: DoubleSubscription) => ({name: sub.name, topic: sub.topic, ackDeadlineSeconds: sub.ackDeadlineSeconds, deadLetterPolicy: sub.deadLetterPolicy ?? null})

  const server = new grpc.Server()
  server.addService(publisher, {
    CreateTopic: unary('CreateTopic', (req) => {
      checkName(req.name, 'topics')
      if (topics.has(req.name)) throw status(grpc.status.ALREADY_EXISTS, `Resource already exists in the project (resource=${req.name.split('/').pop()}).`)
      topics.add(req.name)
      return topicResource(req.name)
    }),
    GetTopic: unary('GetTopic', (req) => {
      if (!topics.has(req.topic)) throw status(grpc.status.NOT_FOUND, `Resource not found (resource=${String(req.topic).split('/').pop()}).`)
      return topicResource(req.topic)
    }),
    DeleteTopic: unary('DeleteTopic', (req) => {
      if (!topics.has(req.topic)) throw status(grpc.status.NOT_FOUND, `Resource not found (resource=${String(req.topic).split('/').pop()}).`)
      topics.delete(req.topic)
      for (const s of subscriptions.values()) if (s.topic === req.topic) s.topic = '_deleted-topic_'
      return {}
    }),
  })
  server.addService(service, {
    CreateSubscription: unary('CreateSubscription', (req) => {
      checkName(req.name, 'subscriptions')
      if (!topics.has(req.topic)) throw status(grpc.status.NOT_FOUND, `Resource not found (resource=${String(req.topic).split('/').pop()}).`)
      if (subscriptions.has(req.name)) throw status(grpc.status.ALREADY_EXISTS, `Resource already exists in the project (resource=${req.name.split('/').pop()}).`)
      const ack = req.ackDeadlineSeconds || 10
      if (ack < 10 || ack > 600) throw status(grpc.status.INVALID_ARGUMENT, `Invalid ack deadline given: ${ack} (must be 10-600 seconds).`)
      let dlp: DeadLetterPolicy | undefined
      if (req.deadLetterPolicy?.deadLetterTopic) {
        const attempts = req.deadLetterPolicy.maxDeliveryAttempts || 5
        if (attempts < 5 || attempts > 100) throw status(grpc.status.INVALID_ARGUMENT, `Invalid max_delivery_attempts given: ${attempts} (must be 5-100).`)
        if (!topics.has(req.deadLetterPolicy.deadLetterTopic)) throw status(grpc.status.NOT_FOUND, `Resource not found (resource=${String(req.deadLetterPolicy.deadLetterTopic).split('/').pop()}).`)
        dlp = {deadLetterTopic: req.deadLetterPolicy.deadLetterTopic, maxDeliveryAttempts: attempts}
      }
      const sub: DoubleSubscription = {name: req.name, topic: req.topic, ackDeadlineSeconds: ack, deadLetterPolicy: dlp, messages: new Map()}
      subscriptions.set(req.name, sub)
      return subscriptionResource(sub)
    }),
    DeleteSubscription: unary('DeleteSubscription', (req) => {
      lookup(req.subscription)
      subscriptions.delete(req.subscription)
      for (const s of streams) if (s.subscription.name === req.subscription && s.open) s.call.destroy(status(grpc.status.NOT_FOUND, 'Subscription does not exist'))
      return {}
    }),
    GetSubscription: unary('GetSubscription', (req) => subscriptionResource(lookup(req.subscription))),
    Acknowledge: unary('Acknowledge', (req) => {
      const sub = lookup(req.subscription)
      checkAckIds(req.ackIds)
      ack(sub, req.ackIds)
    }),
    ModifyAckDeadline: unary('ModifyAckDeadline', (req) => {
      const sub = lookup(req.subscription)
      checkAckIds(req.ackIds)
      modAck(sub, req.ackIds, req.ackDeadlineSeconds)
    }),
    StreamingPull: (call: grpc.ServerDuplexStream<any, any>) => {
      let stream: PullStream | undefined
      const end = (err?: grpc.StatusObject & Error) => {
        if (stream) stream.open = false
        if (err) call.destroy(err)
      }
      call.on('data', (req: any) => {
        record('StreamingPull', req)
        try {
          if (!stream) {
            const sub = lookup(req.subscription)
            const d = req.streamAckDeadlineSeconds
            if (d < 10 || d > 600) throw status(grpc.status.INVALID_ARGUMENT, `Invalid stream ack deadline given: ${d} (must be 10-600 seconds).`)
            stream = {subscription: sub, maxOutstanding: Number(req.maxOutstandingMessages ?? 0), deadlineSeconds: d, call, open: true}
            streams.add(stream)
          } else if (req.streamAckDeadlineSeconds) {
            const d = req.streamAckDeadlineSeconds
            if (d < 10 || d > 600) throw status(grpc.status.INVALID_ARGUMENT, `Invalid stream ack deadline given: ${d} (must be 10-600 seconds).`)
            stream.deadlineSeconds = d
          }
          if (req.ackIds?.length) {
            checkAckIds(req.ackIds)
            ack(stream.subscription, req.ackIds)
          }
          if (req.modifyDeadlineAckIds?.length) {
            checkAckIds(req.modifyDeadlineAckIds)
            req.modifyDeadlineAckIds.forEach((id: string, i: number) => modAck(stream!.subscription, [id], req.modifyDeadlineSeconds[i]))
          }
          dispatch()
        } catch (err) {
          end(err as grpc.StatusObject & Error)
        }
      })
      call.on('end', () => {
        end()
        call.end()
      })
      call.on('cancelled', () => end())
      call.on('error', () => end())
      call.on('close', () => end())
    },
  })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))))
  double.endpoint = `127.0.0.1:${port}`
  return double
}

/** The attributes and JSON_API_V1 payload GCS publishes for an event on an object. */
export function gcsNotification(o: {bucket: string; name: string; generation: string; size?: number; eventType?: string; eventTime?: Date}): {data: string; attributes: Record<string, string>} {
  const eventTime = (o.eventTime ?? new Date()).toISOString()
  return {
    attributes: {
      notificationConfig: `projects/_/buckets/${o.bucket}/notificationConfigs/1`,
      eventType: o.eventType ?? 'OBJECT_FINALIZE',
      payloadFormat: 'JSON_API_V1',
      bucketId: o.bucket,
      objectId: o.name,
      objectGeneration: o.generation,
      eventTime,
    },
    data: JSON.stringify({
      kind: 'storage#object',
      id: `${o.bucket}/${o.name}/${o.generation}`,
      name: o.name,
      bucket: o.bucket,
      generation: o.generation,
      metageneration: '1',
      contentType: 'application/octet-stream',
      timeCreated: eventTime,
      updated: eventTime,
      size: String(o.size ?? 0),
    }),
  }
}
