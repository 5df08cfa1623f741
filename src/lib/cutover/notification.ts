import type {Event, FilterRule, NotificationConfiguration, QueueConfiguration} from '@aws-sdk/client-s3'
import {UserError} from '../errors.js'

/**
 * Merging seneka's queue configuration into a bucket's notification configuration.
 * PutBucketNotificationConfiguration replaces the whole document, so every existing queue, topic, Lambda and
 * EventBridge configuration is carried over untouched; a rule whose event types and key filters overlap ours
 * is refused (S3 would reject it too, and it would mean someone else already routes these objects).
 */

export const SENEKA_EVENTS: Event[] = ['s3:ObjectCreated:*']

export interface KeyFilter {
  prefix: string
  suffix: string
}

export interface Rule {
  kind: 'queue' | 'topic' | 'lambda'
  id?: string
  destination: string
  events: string[]
  filter: KeyFilter
}

export function senekaRuleId(bucket: string): string {
  return `seneka-${bucket}`
}

function filterOf(rules: FilterRule[] | undefined): KeyFilter {
  const f: KeyFilter = {prefix: '', suffix: ''}
  for (const r of rules ?? []) {
    const name = (r.Name ?? '').toLowerCase()
    if (name === 'prefix') f.prefix = r.Value ?? ''
    else if (name === 'suffix') f.suffix = r.Value ?? ''
  }
  return f
}

/** Every rule of a configuration, flattened. */
export function rulesOf(cfg: NotificationConfiguration): Rule[] {
  const out: Rule[] = []
  for (const c of cfg.QueueConfigurations ?? []) out.push({kind: 'queue', id: c.Id, destination: c.QueueArn ?? '', events: c.Events ?? [], filter: filterOf(c.Filter?.Key?.FilterRules)})
  for (const c of cfg.TopicConfigurations ?? []) out.push({kind: 'topic', id: c.Id, destination: c.TopicArn ?? '', events: c.Events ?? [], filter: filterOf(c.Filter?.Key?.FilterRules)})
  for (const c of cfg.LambdaFunctionConfigurations ?? []) out.push({kind: 'lambda', id: c.Id, destination: c.LambdaFunctionArn ?? '', events: c.Events ?? [], filter: filterOf(c.Filter?.Key?.FilterRules)})
  return out
}

/** s3:ObjectCreated:* overlaps s3:ObjectCreated:Put; s3:ObjectCreated:* does not overlap s3:ObjectRemoved:*. */
export function eventsOverlap(a: string, b: string): boolean {
  if (a === b) return true
  const covers = (wild: string, other: string) => wild.endsWith(':*') && other.startsWith(wild.slice(0, -1))
  return covers(a, b) || covers(b, a)
}

/** Two key filters overlap when some key could match both: prefixes nest (or one is empty) and suffixes nest. */
export function filtersOverlap(a: KeyFilter, b: KeyFilter): boolean {
  const prefixes = a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix)
  const suffixes = a.suffix.endsWith(b.suffix) || b.suffix.endsWith(a.suffix)
  return prefixes && suffixes
}

export function rulesOverlap(a: Rule, b: Rule): boolean {
  return a.events.some((x) => b.events.some((y) => eventsOverlap(x, y))) && filtersOverlap(a.filter, b.filter)
}

export function describeRule(r: Rule): string {
  const filter = [r.filter.prefix ? `prefix=${r.filter.prefix}` : '', r.filter.suffix ? `suffix=${r.filter.suffix}` : ''].filter(Boolean).join(' ') || 'all keys'
  return `${r.kind}${r.id ? ` "${r.id}"` : ''} ${r.events.join(',')} (${filter}) -> ${r.destination}`
}

export function senekaQueueConfiguration(opts: {bucket: string; queueArn: string; prefix?: string; suffix?: string}): QueueConfiguration {
  const rules: FilterRule[] = []
  if (opts.prefix) rules.push({Name: 'prefix', Value: opts.prefix})
  if (opts.suffix) rules.push({Name: 'suffix', Value: opts.suffix})
  return {
    Id: senekaRuleId(opts.bucket),
    QueueArn: opts.queueArn,
    Events: [...SENEKA_EVENTS],
    ...(rules.length > 0 ? {Filter: {Key: {FilterRules: rules}}} : {}),
  }
}

function sameRule(a: Rule, b: Rule): boolean {
  return (
    a.kind === b.kind &&
    a.destination === b.destination &&
    a.filter.prefix === b.filter.prefix &&
    a.filter.suffix === b.filter.suffix &&
    [...a.events].sort().join(',') === [...b.events].sort().join(',')
  )
}

export interface MergeResult {
  /** 'none': the rule is already there (re-run, or someone added the identical rule) */
  change: 'add' | 'change' | 'none'
  before: NotificationConfiguration
  after: NotificationConfiguration
}

/**
 * Returns the configuration to PUT: `existing` with seneka's queue configuration added (or updated in place
 * when a rule with seneka's Id exists). Throws a UserError naming the rule when filters would overlap.
 */
export function mergeNotification(existing: NotificationConfiguration, bucket: string, ours: QueueConfiguration): MergeResult {
  const before = normalizeNotification(existing)
  const mine = rulesOf({QueueConfigurations: [ours]})[0]
  const others = rulesOf(before).filter((r) => r.id !== ours.Id)
  const identical = others.find((r) => sameRule(r, mine))
  if (identical) return {change: 'none', before, after: before}
  const clash = others.find((r) => rulesOverlap(r, mine))
  if (clash) {
    throw new UserError(
      `s3://${bucket} already has a notification rule that overlaps seneka's (${describeRule(mine)}): ${describeRule(clash)}.`,
      {suggestion: 'S3 rejects overlapping prefix/suffix filters for the same event types: narrow the bucket\'s prefix/suffix in the cutover config, or route the other rule elsewhere, then plan again.'},
    )
  }
  const queues = before.QueueConfigurations ?? []
  const at = queues.findIndex((q) => q.Id === ours.Id)
  if (at >= 0) {
    if (sameRule(rulesOf({QueueConfigurations: [queues[at]]})[0], mine)) return {change: 'none', before, after: before}
    const next = queues.map((q, i) => (i === at ? ours : q))
    return {change: 'change', before, after: {...before, QueueConfigurations: next}}
  }
  return {change: 'add', before, after: {...before, QueueConfigurations: [...queues, ours]}}
}

/** Keeps only the document's fields (drops SDK response metadata and empty lists) so it can be compared and stored. */
export function normalizeNotification(cfg: NotificationConfiguration & {$metadata?: unknown}): NotificationConfiguration {
  const out: NotificationConfiguration = {}
  if (cfg.TopicConfigurations?.length) out.TopicConfigurations = cfg.TopicConfigurations
  if (cfg.QueueConfigurations?.length) out.QueueConfigurations = cfg.QueueConfigurations
  if (cfg.LambdaFunctionConfigurations?.length) out.LambdaFunctionConfigurations = cfg.LambdaFunctionConfigurations
  if (cfg.EventBridgeConfiguration) out.EventBridgeConfiguration = cfg.EventBridgeConfiguration
  return out
}

/** Removes seneka's rule (used when the snapshot cannot be restored as is). */
export function withoutSeneka(cfg: NotificationConfiguration, bucket: string): NotificationConfiguration {
  const q = (cfg.QueueConfigurations ?? []).filter((c) => c.Id !== senekaRuleId(bucket))
  return normalizeNotification({...cfg, QueueConfigurations: q})
}

/** JSON with object keys sorted: the same document whatever order a parser or a person wrote its keys in. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : x,
  )
}

export function sameNotification(a: NotificationConfiguration, b: NotificationConfiguration): boolean {
  return canonical(normalizeNotification(a)) === canonical(normalizeNotification(b))
}
