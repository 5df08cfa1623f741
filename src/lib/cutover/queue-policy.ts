import {UserError} from '../errors.js'

/**
 * The SQS queue policy statement that lets S3 deliver a bucket's events to the queue, merged into the queue's
 * existing policy (other statements are kept as they are; re-running changes nothing).
 */

export interface PolicyStatement {
  Sid?: string
  Effect: string
  Principal?: unknown
  Action?: unknown
  Resource?: unknown
  Condition?: Record<string, Record<string, unknown>>
  [k: string]: unknown
}

export interface PolicyDocument {
  Version?: string
  Id?: string
  Statement: PolicyStatement[] | PolicyStatement
  [k: string]: unknown
}

export function policySid(bucket: string): string {
  // Sids are alphanumeric in IAM policies
  return `SenekaS3${bucket.replaceAll(/[^A-Za-z0-9]/g, '')}`
}

export function senekaStatement(opts: {bucket: string; bucketArn: string; queueArn: string; account: string}): PolicyStatement {
  return {
    Sid: policySid(opts.bucket),
    Effect: 'Allow',
    Principal: {Service: 's3.amazonaws.com'},
    Action: 'sqs:SendMessage',
    Resource: opts.queueArn,
    Condition: {
      ArnEquals: {'aws:SourceArn': opts.bucketArn},
      StringEquals: {'aws:SourceAccount': opts.account},
    },
  }
}

export function parsePolicy(text: string | undefined, queueUrl: string): PolicyDocument | undefined {
  if (text === undefined || text === '') return undefined
  try {
    const doc = JSON.parse(text) as PolicyDocument
    if (!doc || typeof doc !== 'object' || !('Statement' in doc)) throw new Error('no Statement')
    return doc
  } catch (err) {
    throw new UserError(`The policy of ${queueUrl} is not a JSON policy document: ${(err as Error).message}.`, {
      suggestion: 'Fix the queue policy by hand, then plan again.',
    })
  }
}

export interface PolicyMerge {
  change: 'add' | 'change' | 'none'
  before: string | undefined
  after: string
}


/** Adds (or updates) seneka's statement, identified by its Sid; every other statement is kept verbatim. */
export function mergePolicy(existing: string | undefined, queueUrl: string, stmt: PolicyStatement): PolicyMerge {
  const doc = parsePolicy(existing, queueUrl) ?? {Version: '2012-10-17', Statement: []}
  const list = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement]
  const at = list.findIndex((s) => s.Sid === stmt.Sid)
  if (at >= 0 && JSON.stringify(list[at]) === JSON.stringify(stmt)) return {change: 'none', before: existing, after: existing ?? ''}
  const next = at >= 0 ? list.map((s, i) => (i === at ? stmt : s)) : [...list, stmt]
  return {change: at >= 0 ? 'change' : 'add', before: existing, after: JSON.stringify({...doc, Statement: next})}
}

/** Removes seneka's statement; returns '' (no policy) when nothing else is left and there was none before. */
export function removeFromPolicy(existing: string | undefined, queueUrl: string, sid: string): string | undefined {
  const doc = parsePolicy(existing, queueUrl)
  if (!doc) return undefined
  const list = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement]
  if (!list.some((s) => s.Sid === sid)) return undefined
  return JSON.stringify({...doc, Statement: list.filter((s) => s.Sid !== sid)})
}
