import type {NotificationConfiguration} from '@aws-sdk/client-s3'
import {errorMessage, UserError} from '../errors.js'
import {ExitCode, type ExitCodeValue} from '../exit-codes.js'
import {getNotification, getQueue, putNotification, setQueuePolicy} from './aws.js'
import type {ResolvedBucket} from './config.js'
import {type GateRunners, runGates} from './gates.js'
import type {TransferJobSpec} from './leg.js'
import {executeGcpAction, executeGcpRollback, gcpRollbackActions, noGcpClient, pubsubLegSpec} from './gcs-leg.js'
import {sameNotification, withoutSeneka} from './notification.js'
import {bucketState, type CutoverPlan, infraActions, PLAN_FORMAT, type PlanAction, type PlanDeps, sameJson} from './plan.js'
import {policySid, removeFromPolicy} from './queue-policy.js'
import {type BucketState, ConflictError, type CutoverState, type GateRecord, type Mode, type StateStore, withLease} from './state.js'

export interface CutoverDeps extends PlanDeps {
  store: StateStore
  gates: GateRunners
  actor: string
  now: () => Date
}

export type BucketOutcome = 'applied' | 'unchanged' | 'gate-failed' | 'failed' | 'not-run'

export interface AppliedBucket {
  bucket: string
  from: Mode
  to: Mode
  outcome: BucketOutcome
  /** actions carried out, in order (everything up to a failure) */
  applied: PlanAction[]
  failed?: {action: PlanAction; error: string}
  gates?: GateRecord
}

export interface ApplyResult {
  state: {location: string; version: number}
  buckets: AppliedBucket[]
  /** true when a failure stopped the run: later actions and buckets were not attempted */
  stopped: boolean
  exitCode: ExitCodeValue
}

export interface ApplyOptions {
  force?: boolean
  reason?: string
  warehouse: string
  lockTimeoutMs: number
}

async function execute(a: PlanAction, b: ResolvedBucket, bs: BucketState, deps: CutoverDeps): Promise<void> {
  bs.applied ??= {}
  switch (a.resource) {
    case 'queue-policy':
      await setQueuePolicy(deps.sqs, b.queueUrl, a.after as string)
      bs.applied.queuePolicySid = policySid(b.name)
      return
    case 's3-notification':
      await putNotification(deps.s3, b.name, a.after as NotificationConfiguration)
      bs.applied.notification = JSON.stringify(a.after)
      return
    case 'stream':
      bs.applied.stream = a.after as NonNullable<BucketState['applied']>['stream']
      return
    case 'transfer-job': {
      const job = a.after as TransferJobSpec
      if (!deps.transfer) throw new UserError('No Storage Transfer Service client is available.')
      const t = deps.transfer()
      if (a.change === 'add') await t.createJob(job)
      else await t.setStatus(job.name, job.projectId, 'ENABLED')
      bs.applied.transferJob = {name: job.name, projectId: job.projectId}
      return
    }
    case 'pubsub-topic':
    case 'pubsub-subscription':
    case 'gcs-notification': {
      const spec = pubsubLegSpec(b)
      if (!spec) return
      if (!deps.gcp) throw noGcpClient()
      await executeGcpAction(a, spec, bs, deps.gcp())
      return
    }
    case 'pubsub-notification':
    case 'state':
      return
  }
}

/**
 * Applies a plan under the state lease. Per bucket: gates (shadow -> event-driven), a snapshot of every
 * configuration before the first change (kept across re-runs), then each action that is still needed against
 * the live configuration. A configuration that changed since the plan stops the run (ConflictError); any other
 * failure stops it too, and the result lists exactly what was applied.
 */
export async function applyPlan(plan: CutoverPlan, buckets: Map<string, ResolvedBucket>, deps: CutoverDeps, opts: ApplyOptions): Promise<ApplyResult> {
  if (plan.format !== PLAN_FORMAT) throw new UserError(`This is not a ${PLAN_FORMAT} plan file.`, {suggestion: 'Write one with `seneka cutover plan --out FILE`.'})
  if (plan.state.location !== deps.store.location) {
    throw new UserError(`The plan was made for the state ${plan.state.location}, not ${deps.store.location}.`, {suggestion: 'Use the same config file as for the plan.'})
  }
  const results: AppliedBucket[] = plan.buckets.map((p) => ({bucket: p.bucket, from: p.from, to: p.to, outcome: 'not-run', applied: []}))
  let stopped = false
  let exitCode: ExitCodeValue = ExitCode.OK
  const now = deps.now
  let held: CutoverState | undefined
  await withLease(deps.store, {actor: deps.actor, operation: 'cutover apply', timeoutMs: opts.lockTimeoutMs, now, expectVersion: plan.state.version}, async (state, save) => {
    held = state
    for (const [i, bp] of plan.buckets.entries()) {
      const r = results[i]
      const b = buckets.get(bp.bucket)
      if (!b) throw new UserError(`The plan names the bucket ${bp.bucket}, which is not in the cutover configuration.`, {suggestion: 'Plan again with the current config.'})
      const bs = bucketState(state, b)
      if (bs.mode !== bp.from) throw new ConflictError(`s3://${b.name} is in ${bs.mode} mode, but the plan expects ${bp.from}.`, 'Plan again.')
      // gates
      if (bp.gates) {
        // one instant: the window checked is the window recorded
        const until = now()
        const since = new Date(bs.since || until.toISOString())
        const gateResults = await runGates({bucket: b, window: {since, until}, warehouse: opts.warehouse}, deps.gates, now)
        const passed = gateResults.every((g) => g.passed)
        bs.gates = {checkedAt: until.toISOString(), passed, forced: Boolean(opts.force) && !passed, ...(opts.force && !passed ? {reason: opts.reason} : {}), window: {since: since.toISOString(), until: until.toISOString()}, results: gateResults}
        r.gates = bs.gates
        state.buckets[b.name] = bs
        if (!passed && !opts.force) {
          r.outcome = 'gate-failed'
          exitCode = ExitCode.GATE_FAILED
          await save()
          continue
        }
      }
      // the live configuration must still be what the plan showed
      const live = await infraActions(b, deps, bs)
      for (const a of live) {
        const planned = bp.actions.find((p) => p.resource === a.resource)
        if ((a.resource === 's3-notification' || a.resource === 'queue-policy') && planned && !sameJson(planned.before, a.before) && a.change !== 'none') {
          throw new ConflictError(`The ${a.resource} of ${a.target} changed since the plan was made.`, 'Someone else changed it: run `seneka cutover plan` again and review the new plan.')
        }
      }
      // snapshot before the first change; a re-run after a partial failure keeps the original snapshot
      if (!bs.snapshots) {
        const notif = live.find((a) => a.resource === 's3-notification')
        const pol = live.find((a) => a.resource === 'queue-policy')
        bs.snapshots = {takenAt: now().toISOString(), notification: JSON.stringify(notif?.before ?? {}), queueUrl: b.queueUrl, queuePolicy: (pol?.before as string | null) ?? null}
      }
      state.buckets[b.name] = bs
      await save()
      let failed = false
      for (const a of live) {
        if (a.change === 'none') continue
        try {
          await execute(a, b, bs, deps)
          r.applied.push(a)
          // recorded at once: a run killed after creating a resource still knows it created it
          await save()
        } catch (err) {
          if (err instanceof ConflictError) throw err
          r.failed = {action: a, error: errorMessage(err)}
          failed = true
          break
        }
      }
      if (failed) {
        r.outcome = 'failed'
        stopped = true
        exitCode = ExitCode.PARTIAL_FAILURE
        await save()
        break
      }
      if (bs.mode !== bp.to) {
        const forced = bp.gates && bs.gates ? bs.gates.forced : false
        bs.history.push({at: now().toISOString(), by: deps.actor, operation: 'apply', from: bs.mode, to: bp.to, ...(forced ? {forced, reason: opts.reason} : {})})
        r.applied.push({resource: 'state', change: 'change', target: b.name, summary: `mode ${bs.mode} -> ${bp.to}`, before: bs.mode, after: bp.to})
        bs.mode = bp.to
        bs.since = now().toISOString()
        bs.by = deps.actor
        bs.wave = b.wave
      }
      r.outcome = r.applied.length > 0 ? 'applied' : 'unchanged'
      await save()
    }
  })
  return {state: {location: deps.store.location, version: held?.version ?? 0}, buckets: results, stopped, exitCode}
}

export interface RollbackResult {
  bucket: string
  from: Mode
  to: Mode
  dryRun: boolean
  actions: PlanAction[]
  applied: PlanAction[]
  failed?: {action: PlanAction; error: string}
  exitCode: ExitCodeValue
}

export interface RollbackOptions {
  to: 'batch' | 'shadow'
  dryRun?: boolean
  /** restore the snapshot even when someone changed the configuration after seneka's change */
  force?: boolean
  reason?: string
  lockTimeoutMs: number
}

/** Read-only: what rolling back would do. */
async function rollbackActions(b: ResolvedBucket, bs: BucketState, deps: CutoverDeps, opts: RollbackOptions): Promise<PlanAction[]> {
  const actions: PlanAction[] = []
  if (opts.to === 'batch') {
    const current = await getNotification(deps.s3, b.name)
    if (bs.applied?.notification && !opts.force && !sameNotification(current, JSON.parse(bs.applied.notification) as NotificationConfiguration)) {
      throw new ConflictError(
        `The notification configuration of s3://${b.name} changed after seneka applied its rule; restoring the snapshot would drop that change.`,
        'Review it with `aws s3api get-bucket-notification-configuration`, then run rollback with --force to restore the snapshot anyway.',
      )
    }
    const target = bs.snapshots ? (JSON.parse(bs.snapshots.notification) as NotificationConfiguration) : withoutSeneka(current, b.name)
    actions.push({resource: 's3-notification', change: sameNotification(current, target) ? 'none' : 'change', target: `s3://${b.name}`, summary: bs.snapshots ? `restore the snapshot taken ${bs.snapshots.takenAt}` : 'remove seneka\'s queue configuration', before: current, after: target})
    const queueUrl = bs.snapshots?.queueUrl ?? b.queueUrl
    const queue = await getQueue(deps.sqs, queueUrl)
    let policy = removeFromPolicy(queue.policy, queueUrl, policySid(b.name))
    if (policy !== undefined && bs.snapshots?.queuePolicy === null && (JSON.parse(policy) as {Statement: unknown[]}).Statement.length === 0) policy = ''
    actions.push({resource: 'queue-policy', change: policy === undefined ? 'none' : 'remove', target: queueUrl, summary: `remove the statement ${policySid(b.name)} (other statements are kept)`, before: queue.policy ?? null, after: policy ?? queue.policy ?? null})
    if (bs.applied?.transferJob) actions.push({resource: 'transfer-job', change: 'remove', target: bs.applied.transferJob.name, summary: 'delete the event-driven transfer job', before: bs.applied.transferJob, after: null})
    if (bs.applied?.stream) actions.push({resource: 'stream', change: 'remove', target: bs.applied.stream.queueUrl, summary: `stop \`seneka stream\` for this bucket (table ${bs.applied.stream.table})`, before: bs.applied.stream, after: null})
    if (bs.applied?.pubsub) {
      actions.push(...(await gcpRollbackActions(bs.applied.pubsub, deps.gcp?.())))
    }
  }
  actions.push({resource: 'state', change: 'change', target: b.name, summary: `mode ${bs.mode} -> ${opts.to}`, before: bs.mode, after: opts.to})
  return actions
}

/**
 * Rolls a bucket back: to batch (the default) restores the snapshotted notification configuration exactly,
 * removes seneka's queue policy statement and the event-driven leg; to shadow (from event-driven) only turns
 * the batch path back on.
 */
export async function rollbackBucket(b: ResolvedBucket, deps: CutoverDeps, opts: RollbackOptions): Promise<RollbackResult> {
  const check = (state: CutoverState): BucketState => {
    const bs = bucketState(state, b)
    if (bs.mode === 'batch' && opts.to === 'batch' && !bs.applied && !bs.snapshots) {
      throw new UserError(`s3://${b.name} is already in batch mode; there is nothing to roll back.`, {suggestion: 'See `seneka cutover status`.'})
    }
    if (opts.to === 'shadow' && bs.mode !== 'event-driven') {
      throw new UserError(`s3://${b.name} is in ${bs.mode} mode; --to shadow only applies to an event-driven bucket.`, {suggestion: 'Roll back to batch instead (the default).'})
    }
    return bs
  }
  if (opts.dryRun) {
    const {state} = await deps.store.read()
    const bs = check(state)
    return {bucket: b.name, from: bs.mode, to: opts.to, dryRun: true, actions: await rollbackActions(b, bs, deps, opts), applied: [], exitCode: ExitCode.OK}
  }
  return withLease(deps.store, {actor: deps.actor, operation: 'cutover rollback', timeoutMs: opts.lockTimeoutMs, now: deps.now}, async (state, save) => {
    const bs = check(state)
    const from = bs.mode
    const actions = await rollbackActions(b, bs, deps, opts)
    const result: RollbackResult = {bucket: b.name, from, to: opts.to, dryRun: false, actions, applied: [], exitCode: ExitCode.OK}
    for (const a of actions) {
      if (a.change === 'none' || a.resource === 'state') continue
      try {
        if (a.resource === 's3-notification') await putNotification(deps.s3, b.name, a.after as NotificationConfiguration)
        else if (a.resource === 'queue-policy') await setQueuePolicy(deps.sqs, a.target, a.after as string)
        else if (a.resource === 'transfer-job') {
          const job = a.before as {name: string; projectId: string}
          if (!deps.transfer) throw new UserError('No Storage Transfer Service client is available.')
          await deps.transfer().setStatus(job.name, job.projectId, 'DELETED')
          delete bs.applied?.transferJob
        } else if (a.resource === 'stream') delete bs.applied?.stream
        else if (a.resource === 'gcs-notification' || a.resource === 'pubsub-subscription' || a.resource === 'pubsub-topic') {
          if (!deps.gcp) throw noGcpClient()
          await executeGcpRollback(a, bs, deps.gcp())
        }
        result.applied.push(a)
        state.buckets[b.name] = bs
        await save()
      } catch (err) {
        result.failed = {action: a, error: errorMessage(err)}
        result.exitCode = ExitCode.PARTIAL_FAILURE
        state.buckets[b.name] = bs
        return result
      }
    }
    bs.history.push({at: deps.now().toISOString(), by: deps.actor, operation: 'rollback', from, to: opts.to, ...(opts.reason ? {reason: opts.reason} : {})})
    bs.mode = opts.to
    bs.since = deps.now().toISOString()
    bs.by = deps.actor
    if (opts.to === 'batch') {
      delete bs.snapshots
      delete bs.applied
      delete bs.gates
    }
    state.buckets[b.name] = bs
    result.applied.push(actions[actions.length - 1])
    await save()
    return result
  })
}
