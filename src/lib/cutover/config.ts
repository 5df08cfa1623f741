import {z} from 'zod'
import {UserError} from '../errors.js'
import {parseDuration} from '../time.js'
import {checkTableName} from '../identifiers.js'
import {issueWhere} from '../config.js'

const BUCKET_NAME = /^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$/
const QUEUE_URL = /^https?:\/\/[^/]+\/(\d{12})\/([A-Za-z0-9_-]{1,80}(?:\.fifo)?)$/

const duration = z.string().refine((v) => {
  try {
    parseDuration(v)
    return true
  } catch {
    return false
  }
}, 'must be a duration such as 30s, 15m, 2h or 7d')

const table = z.string().refine((v) => {
  try {
    checkTableName(v)
    return true
  } catch {
    return false
  }
}, 'must be a table name (letters, digits, underscores; optionally dataset.table)')

const SloSchema = z.object({p99: duration}).strict()

const TransferLegSchema = z
  .object({
    projectId: z.string().min(1),
    gcsBucket: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/, 'must be a GCS bucket name'),
    gcsPath: z.string().optional(),
    roleArn: z.string().regex(/^arn:aws:iam::\d{12}:role\/.+$/, 'must be an IAM role ARN').optional(),
  })
  .strict()

const TOPIC_NAME = /^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/topics\/[A-Za-z][\w.~+%-]{2,254}$/
const SUBSCRIPTION_NAME = /^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/subscriptions\/[A-Za-z][\w.~+%-]{2,254}$/

/** The GCS -> Pub/Sub leg: names default to ones derived from the topic, so a re-run finds what it created. */
const PubsubLegSchema = z
  .object({
    gcsBucket: z.string().min(3),
    topic: z.string().regex(TOPIC_NAME, 'must be projects/PROJECT/topics/TOPIC'),
    /** the subscription `seneka stream --subscription` reads [default: projects/P/subscriptions/TOPIC-seneka] */
    subscription: z.string().regex(SUBSCRIPTION_NAME, 'must be projects/PROJECT/subscriptions/NAME').optional(),
    /** where Pub/Sub forwards a message after maxDeliveryAttempts [default: projects/P/topics/TOPIC-dead-letter] */
    deadLetterTopic: z.string().regex(TOPIC_NAME, 'must be projects/PROJECT/topics/TOPIC').optional(),
    /** keeps the dead-lettered messages [default: projects/P/subscriptions/TOPIC-dead-letter] */
    deadLetterSubscription: z.string().regex(SUBSCRIPTION_NAME, 'must be projects/PROJECT/subscriptions/NAME').optional(),
    maxDeliveryAttempts: z.number().int().min(5).max(100).default(5),
    ackDeadlineSeconds: z.number().int().min(10).max(600).default(60),
    /** only objects under this prefix are notified [default: leg.transfer.gcsPath] */
    objectNamePrefix: z.string().optional(),
  })
  .strict()

const LegSchema = z
  .object({
    stream: z.boolean().optional(),
    transfer: TransferLegSchema.optional(),
    pubsub: PubsubLegSchema.optional(),
  })
  .strict()
  .refine((l) => l.stream || l.transfer || l.pubsub, 'needs at least one of stream, transfer, pubsub')

const BucketSchema = z
  .object({
    wave: z.number().int().min(0),
    /** the pipeline's SQS queue: a queue URL, or a name from `queues` */
    queue: z.string().min(1),
    prefix: z.string().optional(),
    suffix: z.string().optional(),
    table,
    format: z.string().optional(),
    /** the batch path's table, compared with `table` by the reconcile gate (the gate fails without it) */
    batchTable: table.optional(),
    /** AWS account that owns the bucket (aws:SourceAccount) [default: the queue's account] */
    account: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id').optional(),
    leg: LegSchema.default({stream: true}),
    /** how the bucket's stream worker loads BigQuery (`seneka stream --load-method`) [default: write-api] */
    loadMethod: z.enum(['write-api', 'load-jobs']).optional(),
    slo: SloSchema.optional(),
  })
  .strict()

export const CutoverConfigSchema = z
  .object({
    /** state document: a local path or s3://bucket/key */
    state: z.string().min(1).optional(),
    queues: z.record(z.string(), z.string().regex(QUEUE_URL, 'must be an SQS queue URL such as https://sqs.eu-west-1.amazonaws.com/123456789012/logs-events')).default({}),
    slo: SloSchema.default({p99: '5m'}),
    /** lease on the state document taken by apply/rollback; an older lock is considered abandoned */
    lockTimeout: duration.default('15m'),
    buckets: z.record(z.string().regex(BUCKET_NAME, 'an S3 bucket name is 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit'), BucketSchema),
  })
  .strict()

export type CutoverConfig = z.infer<typeof CutoverConfigSchema>
export type BucketConfig = z.infer<typeof BucketSchema>

/** A bucket's configuration with every reference resolved. */
export interface ResolvedBucket extends BucketConfig {
  name: string
  bucketArn: string
  queueUrl: string
  queueArn: string
  queueName: string
  region: string
  account: string
  p99Ms: number
}

/** Validates the `cutover` section of the config file; errors name the key path. */
export function parseCutoverConfig(section: unknown, file?: string): CutoverConfig {
  const source = file ? `The config file ${file}` : 'The config file'
  if (section === undefined) {
    if (!file) {
      throw new UserError('The cutover commands need a config file with a "cutover" section, and none was given.', {
        suggestion: 'Pass one with --config FILE (or SENEKA_CONFIG=FILE) holding {"cutover": {"buckets": {"BUCKET": {"wave": 0, "queue": "QUEUE_URL", "table": "TABLE"}}}} (see docs/cutover.md).',
      })
    }
    throw new UserError(`${source} has no "cutover" section.`, {
      suggestion: `Add to ${file}: "cutover": {"buckets": {"BUCKET": {"wave": 0, "queue": "QUEUE_URL", "table": "TABLE"}}} (see docs/cutover.md).`,
    })
  }
  const parsed = CutoverConfigSchema.safeParse(section)
  if (!parsed.success) {
    throw new UserError(`${source} is invalid at ${issueWhere(parsed.error, 'cutover')}.`, {suggestion: `Fix that key in ${file ?? 'the config file'} (the cutover keys: docs/cutover.md).`})
  }
  for (const [name, b] of Object.entries(parsed.data.buckets)) {
    if (!QUEUE_URL.test(b.queue) && !(b.queue in parsed.data.queues)) {
      throw new UserError(`${source} is invalid at cutover.buckets.${name}.queue: "${b.queue}" is neither a queue URL nor a name under cutover.queues.`, {
        suggestion: 'Give the SQS queue URL, or define it under cutover.queues.',
      })
    }
  }
  return parsed.data
}

/** Parses an SQS queue URL into its ARN parts (the region comes from the host when it names one). */
export function queueArnFromUrl(url: string, fallbackRegion = 'us-east-1'): {arn: string; name: string; account: string; region: string} {
  const m = QUEUE_URL.exec(url)
  if (!m) throw new UserError(`"${url}" is not an SQS queue URL.`)
  const host = new URL(url).hostname
  const region = /^sqs\.([a-z0-9-]+)\./.exec(host)?.[1] ?? /^([a-z]{2}-[a-z]+-\d)\.queue\./.exec(host)?.[1] ?? fallbackRegion
  return {arn: `arn:aws:sqs:${region}:${m[1]}:${m[2]}`, name: m[2], account: m[1], region}
}

export function resolveBucket(cfg: CutoverConfig, name: string, region?: string): ResolvedBucket {
  const b = cfg.buckets[name]
  if (!b) {
    throw new UserError(`The bucket ${name} is not in the cutover configuration.`, {suggestion: `Known buckets: ${Object.keys(cfg.buckets).join(', ') || '(none)'}.`})
  }
  const queueUrl = cfg.queues[b.queue] ?? b.queue
  const q = queueArnFromUrl(queueUrl, region)
  return {
    ...b,
    name,
    bucketArn: `arn:aws:s3:::${name}`,
    queueUrl,
    queueArn: q.arn,
    queueName: q.name,
    region: q.region,
    account: b.account ?? q.account,
    p99Ms: parseDuration((b.slo ?? cfg.slo).p99),
  }
}

/** Buckets selected by --wave / --bucket (all configured buckets when neither is given), wave then name order. */
export function selectBuckets(cfg: CutoverConfig, sel: {wave?: number; bucket?: string}, region?: string): ResolvedBucket[] {
  if (sel.bucket !== undefined) return [resolveBucket(cfg, sel.bucket, region)]
  const names = Object.keys(cfg.buckets).filter((n) => sel.wave === undefined || cfg.buckets[n].wave === sel.wave)
  if (names.length === 0 && sel.wave !== undefined) {
    const waves = [...new Set(Object.values(cfg.buckets).map((b) => b.wave))].sort((a, b) => a - b)
    throw new UserError(`No bucket is in wave ${sel.wave}.`, {suggestion: `Configured waves: ${waves.join(', ') || '(none)'}.`})
  }
  return names.map((n) => resolveBucket(cfg, n, region)).sort((a, b) => a.wave - b.wave || a.name.localeCompare(b.name))
}
