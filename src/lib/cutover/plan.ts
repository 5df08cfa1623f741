import type {S3Client} from '@aws-sdk/client-s3'
import type {SQSClient} from '@aws-sdk/client-sqs'
import {UserError} from '../errors.js'
import {getNotification, getQueue} from './aws.js'
import type {ResolvedBucket} from './config.js'
import {gcloudCommands, gcpActions, type GcpLegClient, iamRequirements, noGcpClient, pubsubLegSpec} from './gcs-leg.js'
import {streamCommand, type TransferClient, transferJobSpec} from './leg.js'
import {describeRule, mergeNotification, rulesOf, senekaQueueConfiguration, senekaRuleId} from './notification.js'
import {mergePolicy, senekaStatement} from './queue-policy.js'
import type {PlanAction} from './actions.js'
import type {BucketState, CutoverState, Mode} from './state.js'

export const PLAN_FORMAT = 'seneka-cutover-plan/1'

export type {Change, PlanAction, Resource} from './actions.js'

export interface BucketPlan {
  bucket: string
  wave: number
  from: Mode
  to: Mode
  /** shadow -> event-driven needs the reconcile and latency gates to pass (checked by apply) */
  gates: boolean
  actions: PlanAction[]
  /** what seneka does not do itself: the IAM bindings the leg needs, the equivalent gcloud commands */
  notes?: string[]
}

export interface CutoverPlan {
  format: typeof PLAN_FORMAT
  createdAt: string
  createdBy: string
  state: {location: string; version: number}
  buckets: BucketPlan[]
  totals: {add: number; change: number; remove: number}
}

export interface PlanDeps {
  s3: S3Client
  sqs: SQSClient
  transfer?: () => TransferClient
  /** GCS notifications and Pub/Sub topics/subscriptions (buckets with leg.pubsub) */
  gcp?: () => GcpLegClient
}

export function nextMode(m: Mode): Mode {
  return m === 'batch' ? 'shadow' : 'event-driven'
}

export function bucketState(state: CutoverState, b: ResolvedBucket): BucketState {
  return state.buckets[b.name] ?? {mode: 'batch', wave: b.wave, since: '', by: '', history: []}
}

/** Reads (never writes) the live configuration and works out the infrastructure actions for a bucket in shadow or event-driven mode. */
export async function infraActions(b: ResolvedBucket, deps: PlanDeps, bs?: BucketState): Promise<PlanAction[]> {
  // the queue policy comes first: S3 checks that it may send to the queue when the notification is put
  const actions: PlanAction[] = []
  const queue = await getQueue(deps.sqs, b.queueUrl)
  if (queue.fifo) {
    throw new UserError(`The queue ${b.queueUrl} for s3://${b.name} is a FIFO queue; S3 event notifications can only go to standard queues.`, {
      suggestion: 'Point cutover.buckets.' + b.name + '.queue at a standard queue.',
    })
  }
  const queueArn = queue.arn || b.queueArn
  const policy = mergePolicy(queue.policy, b.queueUrl, senekaStatement({bucket: b.name, bucketArn: b.bucketArn, queueArn, account: b.account}))
  actions.push({
    resource: 'queue-policy',
    change: policy.change,
    target: b.queueUrl,
    summary: policy.change === 'none' ? `s3.amazonaws.com may already send from ${b.bucketArn}` : `allow s3.amazonaws.com to send from ${b.bucketArn} (account ${b.account})`,
    before: policy.before ?? null,
    after: policy.after,
  })
  const current = await getNotification(deps.s3, b.name)
  const merged = mergeNotification(current, b.name, senekaQueueConfiguration({bucket: b.name, queueArn, prefix: b.prefix, suffix: b.suffix}))
  const ours = rulesOf(merged.after).find((r) => r.id === senekaRuleId(b.name))
  actions.push({
    resource: 's3-notification',
    change: merged.change,
    target: `s3://${b.name}`,
    summary:
      merged.change === 'none'
        ? 'ObjectCreated events already go to the queue'
        : `${merged.change === 'add' ? 'add' : 'update'} ${ours ? describeRule(ours) : 'queue configuration'}; keeps ${rulesOf(current).filter((r) => r.id !== senekaRuleId(b.name)).length} other rule(s)`,
    before: merged.before,
    after: merged.after,
  })
  if (b.leg.stream) {
    const recorded = bs?.applied?.stream
    actions.push({
      resource: 'stream',
      change: recorded ? 'none' : 'add',
      target: b.queueUrl,
      summary: `event-driven loader: ${streamCommand(b)}`,
      before: recorded ?? null,
      after: {queueUrl: b.queueUrl, table: b.table, ...(b.format ? {format: b.format} : {})},
    })
  }
  const job = transferJobSpec({...b, queueArn})
  if (job) {
    const existing = deps.transfer ? await deps.transfer().getJob(job.name, job.projectId) : undefined
    const live = existing && existing.status !== 'DELETED'
    actions.push({
      resource: 'transfer-job',
      change: live ? (existing.status === 'ENABLED' ? 'none' : 'change') : 'add',
      target: job.name,
      summary: `Storage Transfer Service event-driven job s3://${b.name} -> gs://${job.transferSpec.gcsDataSink.bucketName} from ${queueArn}`,
      before: existing ?? null,
      after: job,
    })
  }
  const ps = pubsubLegSpec(b)
  if (ps) {
    if (!deps.gcp) throw noGcpClient()
    actions.push(...(await gcpActions(ps, deps.gcp(), bs?.applied?.pubsub)))
  }
  return actions
}

export async function planBuckets(
  buckets: ResolvedBucket[],
  stored: {state: CutoverState; location: string},
  deps: PlanDeps,
  meta: {actor: string; now: Date},
): Promise<CutoverPlan> {
  const out: BucketPlan[] = []
  for (const b of buckets) {
    const bs = bucketState(stored.state, b)
    const to = nextMode(bs.mode)
    const actions = await infraActions(b, deps, bs)
    if (bs.mode !== to) {
      actions.push({resource: 'state', change: 'change', target: b.name, summary: `mode ${bs.mode} -> ${to}${to === 'event-driven' ? ' (batch path off for this bucket; gates: reconcile, latency)' : ''}`, before: bs.mode, after: to})
    }
    const ps = pubsubLegSpec(b)
    const notes = ps ? [...iamRequirements(ps).map((x) => `IAM (seneka grants nothing): ${x}`), `By hand, the same leg is: ${gcloudCommands(ps).join(' && ')}`] : undefined
    out.push({bucket: b.name, wave: b.wave, from: bs.mode, to, gates: bs.mode === 'shadow' && to === 'event-driven', actions, ...(notes ? {notes} : {})})
  }
  const totals = {add: 0, change: 0, remove: 0}
  for (const a of out.flatMap((p) => p.actions)) if (a.change !== 'none') totals[a.change]++
  return {
    format: PLAN_FORMAT,
    createdAt: meta.now.toISOString(),
    createdBy: meta.actor,
    state: {location: stored.location, version: stored.state.version},
    buckets: out,
    totals,
  }
}

export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null)
}

