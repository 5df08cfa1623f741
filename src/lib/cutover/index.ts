import {readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import {UserError} from '../errors.js'
import {type ApplyResult, applyPlan, type CutoverDeps, type RollbackResult, rollbackBucket} from './apply.js'
import {createClients, createGcpLegClient, createTransferClient} from './clients.js'
import type {GcpLegClient} from './gcs-leg.js'
import {type CutoverConfig, parseCutoverConfig, resolveBucket, selectBuckets, type ResolvedBucket} from './config.js'
import {defaultGateRunners} from './gate-runners.js'
import type {TransferClient} from './leg.js'
import {type CutoverPlan, planBuckets} from './plan.js'
import {openStateStore} from './state.js'
import {cutoverStatus, type StatusResult} from './status.js'
import {parseDuration} from '../time.js'

export type {ApplyResult, CutoverDeps, RollbackResult} from './apply.js'
export type {CutoverConfig, ResolvedBucket} from './config.js'
export type {GateResult, GateRunners} from './gates.js'
export type {CutoverPlan, PlanAction} from './plan.js'
export type {GcpLegClient, PubsubLegSpec} from './gcs-leg.js'
export type {CutoverState, Mode} from './state.js'
export type {StatusResult} from './status.js'
export * from './render.js'

export const DEFAULT_STATE = './seneka-cutover-state.json'

export interface CutoverContext {
  cfg: CutoverConfig
  deps: CutoverDeps
  region?: string
  lockTimeoutMs: number
  close(): void
}

/** Who is acting: SENEKA_ACTOR, else user@host. */
export function defaultActor(): string {
  if (process.env.SENEKA_ACTOR) return process.env.SENEKA_ACTOR
  let user = 'unknown'
  try {
    user = os.userInfo().username
  } catch {}
  return `${user}@${os.hostname()}`
}

/** What a cutover command passes from its flags (the config file only to name it in errors). */
export interface CutoverOpenOptions {
  configFile?: string
  state?: string
  actor?: string
  s3Endpoint?: string
  region?: string
  gcsEndpoint?: string
  pubsubEndpoint?: string
}

/** Builds the configuration and real clients for a command; tests call the lib functions with their own deps. */
export async function openCutover(
  settings: {cutover?: unknown; s3Endpoint?: string; region?: string},
  opts: CutoverOpenOptions = {},
): Promise<CutoverContext> {
  const cfg = parseCutoverConfig(settings.cutover, opts.configFile)
  const region = opts.region ?? settings.region
  const clients = createClients({s3Endpoint: opts.s3Endpoint ?? settings.s3Endpoint, region})
  const needsTransfer = Object.values(cfg.buckets).some((b) => b.leg.transfer)
  let transfer: TransferClient | undefined
  if (needsTransfer) transfer = await createTransferClient()
  // one client for every bucket's GCS -> Pub/Sub leg (names are full resource names, the project only sets a default)
  const firstTopic = Object.values(cfg.buckets).find((b) => b.leg.pubsub)?.leg.pubsub?.topic
  const gcp: GcpLegClient | undefined = firstTopic ? await createGcpLegClient({project: firstTopic.split('/')[1], gcsEndpoint: opts.gcsEndpoint, pubsubEndpoint: opts.pubsubEndpoint}) : undefined
  const store = openStateStore(opts.state ?? cfg.state ?? DEFAULT_STATE, () => clients.s3)
  return {
    cfg,
    region,
    lockTimeoutMs: parseDuration(cfg.lockTimeout),
    deps: {
      s3: clients.s3,
      sqs: clients.sqs,
      ...(transfer ? {transfer: () => transfer} : {}),
      ...(gcp ? {gcp: () => gcp} : {}),
      store,
      gates: defaultGateRunners(),
      actor: opts.actor ?? defaultActor(),
      now: () => new Date(),
    },
    close() {
      clients.s3.destroy()
      clients.sqs.destroy()
      void gcp?.close()
    },
  }
}

export async function runPlan(ctx: CutoverContext, sel: {wave?: number; bucket?: string; out?: string}): Promise<CutoverPlan> {
  const buckets = selectBuckets(ctx.cfg, sel, ctx.region)
  const {state} = await ctx.deps.store.read()
  const plan = await planBuckets(buckets, {state, location: ctx.deps.store.location}, ctx.deps, {actor: ctx.deps.actor, now: ctx.deps.now()})
  if (sel.out) {
    try {
      writeFileSync(sel.out, JSON.stringify(plan, null, 2) + '\n')
    } catch (err) {
      throw new UserError(`Cannot write the plan file ${sel.out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, {suggestion: 'Check the --out path.', cause: err})
    }
  }
  return plan
}

export function readPlanFile(file: string): CutoverPlan {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CutoverPlan
  } catch (err) {
    throw new UserError(`Cannot read the plan file ${file}: ${(err as Error).message}.`, {suggestion: 'Write one with `seneka cutover plan --out FILE`.'})
  }
}

export function bucketsOf(ctx: CutoverContext, plan: CutoverPlan): Map<string, ResolvedBucket> {
  return new Map(plan.buckets.map((b) => [b.bucket, resolveBucket(ctx.cfg, b.bucket, ctx.region)]))
}

export async function runApply(ctx: CutoverContext, plan: CutoverPlan, opts: {force?: boolean; reason?: string; warehouse: string}): Promise<ApplyResult> {
  return applyPlan(plan, bucketsOf(ctx, plan), ctx.deps, {...opts, lockTimeoutMs: ctx.lockTimeoutMs})
}

export async function runRollback(ctx: CutoverContext, bucket: string, opts: {to: 'batch' | 'shadow'; dryRun?: boolean; force?: boolean; reason?: string}): Promise<RollbackResult> {
  return rollbackBucket(resolveBucket(ctx.cfg, bucket, ctx.region), ctx.deps, {...opts, lockTimeoutMs: ctx.lockTimeoutMs})
}

export async function runStatus(ctx: CutoverContext, filter: {wave?: number; bucket?: string}): Promise<StatusResult> {
  return cutoverStatus(ctx.cfg, ctx.deps.store, filter)
}
