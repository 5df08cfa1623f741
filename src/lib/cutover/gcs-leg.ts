import {UserError} from '../errors.js'
import type {ResolvedBucket} from './config.js'
import type {PlanAction} from './actions.js'
import type {BucketState, PubsubApplied, PubsubCreated} from './state.js'

export type {PubsubApplied, PubsubCreated} from './state.js'

/**
 * The GCS -> Pub/Sub leg of a bucket: a notification configuration on the GCS bucket (OBJECT_FINALIZE,
 * JSON_API_V1) publishing to a topic, the subscription `seneka stream --subscription` reads, with a
 * dead-letter topic and a subscription on that topic so dead-lettered messages are kept. Apply creates what
 * is missing (in that order: topics, subscriptions, then the notification, which needs its topic) and records
 * every resource it created; rollback deletes exactly those, never one that existed before.
 */

export const NOTIFICATION_EVENT = 'OBJECT_FINALIZE'
export const NOTIFICATION_PAYLOAD = 'JSON_API_V1'

export interface PubsubLegSpec {
  gcsBucket: string
  topic: string
  subscription: string
  deadLetterTopic: string
  deadLetterSubscription: string
  maxDeliveryAttempts: number
  ackDeadlineSeconds: number
  objectNamePrefix?: string
}

export interface GcsNotificationInfo {
  id: string
  /** projects/P/topics/T (without GCS's //pubsub.googleapis.com/ prefix) */
  topic: string
  eventTypes: string[]
  payloadFormat: string
  objectNamePrefix?: string
}

export interface SubscriptionInfo {
  name: string
  topic: string
  ackDeadlineSeconds?: number
  deadLetterPolicy?: {deadLetterTopic: string; maxDeliveryAttempts: number} | null
}

export interface SubscriptionSpec {
  name: string
  topic: string
  ackDeadlineSeconds: number
  deadLetterPolicy?: {deadLetterTopic: string; maxDeliveryAttempts: number}
}

/** The GCS and Pub/Sub calls cutover makes (the real client is in clients.ts; its errors are already one sentence). */
export interface GcpLegClient {
  listNotifications(bucket: string): Promise<GcsNotificationInfo[]>
  createNotification(bucket: string, n: Omit<GcsNotificationInfo, 'id'>): Promise<GcsNotificationInfo>
  /** false when there was no such notification */
  deleteNotification(bucket: string, id: string): Promise<boolean>
  topicExists(name: string): Promise<boolean>
  /** false when the topic already existed (created by someone else since the plan: not seneka's) */
  createTopic(name: string): Promise<boolean>
  deleteTopic(name: string): Promise<boolean>
  getSubscription(name: string): Promise<SubscriptionInfo | undefined>
  /** false when the subscription already existed */
  createSubscription(s: SubscriptionSpec): Promise<boolean>
  deleteSubscription(name: string): Promise<boolean>
  close(): Promise<void>
}

/** What seneka created for the leg, recorded in the state as each resource is created. */
const projectOf = (name: string): string => name.split('/')[1]
const idOf = (name: string): string => name.split('/').pop() ?? name

export function pubsubLegSpec(b: ResolvedBucket): PubsubLegSpec | undefined {
  const p = b.leg.pubsub
  if (!p) return undefined
  const project = projectOf(p.topic)
  const id = idOf(p.topic)
  const prefix = p.objectNamePrefix ?? b.leg.transfer?.gcsPath
  return {
    gcsBucket: p.gcsBucket,
    topic: p.topic,
    subscription: p.subscription ?? `projects/${project}/subscriptions/${id}-seneka`,
    deadLetterTopic: p.deadLetterTopic ?? `projects/${project}/topics/${id}-dead-letter`,
    deadLetterSubscription: p.deadLetterSubscription ?? `projects/${project}/subscriptions/${id}-dead-letter`,
    maxDeliveryAttempts: p.maxDeliveryAttempts ?? 5,
    ackDeadlineSeconds: p.ackDeadlineSeconds ?? 60,
    ...(prefix ? {objectNamePrefix: prefix} : {}),
  }
}

/** The equivalent gcloud commands, for the runbook and for people who create the leg by hand. */
export function gcloudCommands(s: PubsubLegSpec): string[] {
  return [
    `gcloud pubsub topics create ${s.topic}`,
    `gcloud pubsub topics create ${s.deadLetterTopic}`,
    `gcloud pubsub subscriptions create ${s.deadLetterSubscription} --topic=${s.deadLetterTopic}`,
    `gcloud pubsub subscriptions create ${s.subscription} --topic=${s.topic} --ack-deadline=${s.ackDeadlineSeconds} --dead-letter-topic=${s.deadLetterTopic} --max-delivery-attempts=${s.maxDeliveryAttempts}`,
    `gcloud storage buckets notifications create gs://${s.gcsBucket} --topic=${s.topic} --event-types=${NOTIFICATION_EVENT} --payload-format=json${s.objectNamePrefix ? ` --object-prefix=${s.objectNamePrefix}` : ''}`,
  ]
}

/**
 * The IAM bindings the leg needs, which seneka never grants (service agents belong to the project owners):
 * GCS's service agent publishes the notifications; Pub/Sub's service agent forwards to the dead-letter topic
 * and acks the forwarded message on the subscription.
 */
export function iamRequirements(s: PubsubLegSpec): string[] {
  const pubsubAgent = `service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com (PROJECT_NUMBER of ${projectOf(s.subscription)})`
  return [
    `GCS's service agent of the project of gs://${s.gcsBucket} (\`gcloud storage service-agent --project=PROJECT\` prints it) needs roles/pubsub.publisher on ${s.topic}: gcloud pubsub topics add-iam-policy-binding ${s.topic} --member=serviceAccount:AGENT --role=roles/pubsub.publisher`,
    `Pub/Sub's service agent ${pubsubAgent} needs roles/pubsub.publisher on ${s.deadLetterTopic}: gcloud pubsub topics add-iam-policy-binding ${s.deadLetterTopic} --member=serviceAccount:AGENT --role=roles/pubsub.publisher`,
    `Pub/Sub's service agent needs roles/pubsub.subscriber on ${s.subscription}: gcloud pubsub subscriptions add-iam-policy-binding ${s.subscription} --member=serviceAccount:AGENT --role=roles/pubsub.subscriber`,
  ]
}

/** A notification that delivers exactly what the leg needs (same topic, only OBJECT_FINALIZE, JSON_API_V1, same prefix). */
export function sameNotification(n: Omit<GcsNotificationInfo, 'id'>, s: PubsubLegSpec): boolean {
  return (
    n.topic === s.topic &&
    n.payloadFormat === NOTIFICATION_PAYLOAD &&
    n.eventTypes.length === 1 &&
    n.eventTypes[0] === NOTIFICATION_EVENT &&
    (n.objectNamePrefix ?? '') === (s.objectNamePrefix ?? '')
  )
}

type Kind = 'pubsub-topic' | 'pubsub-subscription' | 'gcs-notification'

export interface GcpActionAfter {
  kind: 'topic' | 'subscription' | 'notification'
  /** topic or subscription spec, or the notification to create */
  spec: string | SubscriptionSpec | Omit<GcsNotificationInfo, 'id'>
  bucket?: string
}

function action(resource: Kind, change: PlanAction['change'], target: string, summary: string, before: unknown, after: GcpActionAfter | null): PlanAction {
  return {resource, change, target, summary, before: before ?? null, after}
}

/** Reads (never writes) what exists of the leg and returns the actions that create what is missing, in creation order. */
export async function gcpActions(s: PubsubLegSpec, client: GcpLegClient, applied: PubsubApplied | undefined): Promise<PlanAction[]> {
  const created = applied?.created ?? {}
  const mine = (name: string, list?: string[]) => (list ?? []).includes(name)
  const actions: PlanAction[] = []
  for (const [topic, role] of [
    [s.topic, 'notification topic'],
    [s.deadLetterTopic, 'dead-letter topic'],
  ] as const) {
    const exists = await client.topicExists(topic)
    actions.push(
      action('pubsub-topic', exists ? 'none' : 'add', topic, exists ? `${role} exists${mine(topic, created.topics) ? ' (created by seneka)' : ' (not seneka\'s: rollback leaves it)'}` : `create the ${role}`, exists ? {name: topic} : null, {kind: 'topic', spec: topic}),
    )
  }
  const subs: Array<[SubscriptionSpec, string]> = [
    [{name: s.deadLetterSubscription, topic: s.deadLetterTopic, ackDeadlineSeconds: 60}, 'keeps the dead-lettered messages'],
    [{name: s.subscription, topic: s.topic, ackDeadlineSeconds: s.ackDeadlineSeconds, deadLetterPolicy: {deadLetterTopic: s.deadLetterTopic, maxDeliveryAttempts: s.maxDeliveryAttempts}}, `read by \`seneka stream --subscription ${s.subscription}\``],
  ]
  for (const [spec, why] of subs) {
    const live = await client.getSubscription(spec.name)
    let summary = `create the subscription on ${spec.topic} (${why}${spec.deadLetterPolicy ? `; dead letters to ${spec.deadLetterPolicy.deadLetterTopic} after ${spec.deadLetterPolicy.maxDeliveryAttempts} deliveries` : ''})`
    if (live) {
      const owner = mine(spec.name, created.subscriptions) ? ' (created by seneka)' : ' (not seneka\'s: rollback leaves it)'
      const drift: string[] = []
      if (live.topic !== spec.topic) drift.push(`it reads ${live.topic}, not ${spec.topic}`)
      if (spec.deadLetterPolicy && live.deadLetterPolicy?.deadLetterTopic !== spec.deadLetterPolicy.deadLetterTopic) drift.push(live.deadLetterPolicy?.deadLetterTopic ? `its dead-letter topic is ${live.deadLetterPolicy.deadLetterTopic}` : 'it has no dead-letter topic')
      summary = `subscription exists${owner}${drift.length ? `; WARNING: ${drift.join(' and ')} (seneka does not change it)` : ''}`
    }
    actions.push(action('pubsub-subscription', live ? 'none' : 'add', spec.name, summary, live ?? null, {kind: 'subscription', spec}))
  }
  const wanted: Omit<GcsNotificationInfo, 'id'> = {
    topic: s.topic,
    eventTypes: [NOTIFICATION_EVENT],
    payloadFormat: NOTIFICATION_PAYLOAD,
    ...(s.objectNamePrefix ? {objectNamePrefix: s.objectNamePrefix} : {}),
  }
  const list = await client.listNotifications(s.gcsBucket)
  const ours = created.notification && created.notification.bucket === s.gcsBucket ? list.find((n) => n.id === created.notification!.id) : undefined
  const match = ours ?? list.find((n) => sameNotification(n, s))
  actions.push(
    action(
      'gcs-notification',
      match ? 'none' : 'add',
      `gs://${s.gcsBucket}`,
      match
        ? `notification ${match.id} already sends ${NOTIFICATION_EVENT} to ${s.topic}${match === ours ? ' (created by seneka)' : ' (not seneka\'s: rollback leaves it)'}`
        : `create a notification ${NOTIFICATION_EVENT} (${NOTIFICATION_PAYLOAD}${s.objectNamePrefix ? `, prefix ${s.objectNamePrefix}` : ''}) -> ${s.topic}; keeps ${list.length} other notification(s)`,
      match ?? null,
      {kind: 'notification', spec: wanted, bucket: s.gcsBucket},
    ),
  )
  return actions
}

function createdOf(bs: BucketState, s: PubsubLegSpec): PubsubCreated {
  bs.applied ??= {}
  bs.applied.pubsub ??= {gcsBucket: s.gcsBucket, topic: s.topic, spec: s}
  bs.applied.pubsub.spec = s
  return (bs.applied.pubsub.created ??= {})
}

/** Creates one missing resource and records it in the bucket state (the caller saves the state right after). */
export async function executeGcpAction(a: PlanAction, s: PubsubLegSpec, bs: BucketState, client: GcpLegClient): Promise<void> {
  const after = a.after as GcpActionAfter
  const created = createdOf(bs, s)
  if (after.kind === 'topic') {
    if (!(await client.createTopic(after.spec as string))) return
    created.topics = [...new Set([...(created.topics ?? []), after.spec as string])]
  } else if (after.kind === 'subscription') {
    const spec = after.spec as SubscriptionSpec
    if (!(await client.createSubscription(spec))) return
    created.subscriptions = [...new Set([...(created.subscriptions ?? []), spec.name])]
  } else {
    const n = await client.createNotification(after.bucket!, after.spec as Omit<GcsNotificationInfo, 'id'>)
    created.notification = {bucket: after.bucket!, id: n.id, topic: n.topic}
  }
}

/** Read-only: what rolling the leg back deletes — exactly what seneka created, notification first, topics last. */
export async function gcpRollbackActions(applied: PubsubApplied, gcp: GcpLegClient | undefined): Promise<PlanAction[]> {
  const c = applied.created ?? {}
  const actions: PlanAction[] = []
  const anything = Boolean(c.notification || c.subscriptions?.length || c.topics?.length)
  if (anything && !gcp) throw noGcpClient()
  const client = gcp!
  if (c.notification) {
    const live = (await client.listNotifications(c.notification.bucket)).find((n) => n.id === c.notification!.id)
    actions.push(action('gcs-notification', live ? 'remove' : 'none', `gs://${c.notification.bucket}`, live ? `delete notification ${c.notification.id} (-> ${c.notification.topic}); other notifications are kept` : `notification ${c.notification.id} is already gone`, live ?? c.notification, null))
  }
  // in reverse order of creation: the stream's subscription before the dead-letter one, topics last
  for (const name of [...(c.subscriptions ?? [])].reverse()) {
    const live = await client.getSubscription(name)
    actions.push(action('pubsub-subscription', live ? 'remove' : 'none', name, live ? `delete the subscription (messages it still holds are lost; the batch path covers the objects)` : 'subscription is already gone', live ?? {name}, null))
  }
  for (const name of [...(c.topics ?? [])].reverse()) {
    const live = await client.topicExists(name)
    actions.push(action('pubsub-topic', live ? 'remove' : 'none', name, live ? 'delete the topic seneka created' : 'topic is already gone', {name}, null))
  }
  if (!applied.created) {
    // recorded by a seneka that only planned the notification: nothing was created through the API
    actions.push({resource: 'gcs-notification', change: 'none', target: `gs://${applied.gcsBucket}`, summary: `nothing created by seneka; a notification made by hand with the printed gcloud command is left alone (gcloud storage buckets notifications list gs://${applied.gcsBucket})`, before: applied, after: null})
  }
  return actions
}

/** Deletes one resource rollback listed and forgets it in the bucket state. */
export async function executeGcpRollback(a: PlanAction, bs: BucketState, client: GcpLegClient): Promise<void> {
  const c = bs.applied?.pubsub?.created
  if (!c) return
  if (a.resource === 'gcs-notification' && c.notification) {
    await client.deleteNotification(c.notification.bucket, c.notification.id)
    delete c.notification
  } else if (a.resource === 'pubsub-subscription') {
    await client.deleteSubscription(a.target)
    c.subscriptions = (c.subscriptions ?? []).filter((x) => x !== a.target)
  } else if (a.resource === 'pubsub-topic') {
    await client.deleteTopic(a.target)
    c.topics = (c.topics ?? []).filter((x) => x !== a.target)
  }
}

export function noGcpClient(): UserError {
  return new UserError('No Google Cloud client is available for the GCS -> Pub/Sub leg.', {suggestion: 'Run seneka cutover with Google Cloud credentials (Application Default Credentials).'})
}
