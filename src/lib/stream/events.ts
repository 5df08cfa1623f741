/**
 * Parsing of the messages an S3 bucket's event notifications put on an SQS queue:
 *   - S3 event notifications ({"Records": [...]}, eventVersion 2.x), keys URL-encoded (space as "+")
 *   - the same wrapped in an SNS envelope ({"Type": "Notification", "Message": "<json string>"})
 *   - the s3:TestEvent S3 sends when a notification configuration is saved
 *   - S3 events delivered through EventBridge ({"source": "aws.s3", "detail-type": "Object Created", ...})
 */

/** One object-created event: which object, which version, in which order. */
export interface ObjectEvent {
  bucket: string
  /** decoded key */
  key: string
  eventName: string
  eventTime: Date | null
  size: number | null
  /** without quotes; null when the event does not carry it */
  etag: string | null
  /** S3 sequencer (hex), orders events for the same key */
  sequencer: string | null
}

export type ParsedMessage =
  | {kind: 'test'}
  | {kind: 'events'; events: ObjectEvent[]; ignored: IgnoredEvent[]}
  | {kind: 'invalid'; reason: string}

export interface IgnoredEvent {
  eventName: string
  bucket: string
  key: string
}

/** Decodes an S3 notification key: "+" is a space, then %XX escapes. */
export function decodeS3Key(raw: string): string {
  return decodeURIComponent(raw.replaceAll('+', ' '))
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null
}

function num(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v)
  return null
}

function time(v: unknown): Date | null {
  if (typeof v !== 'string') return null
  const d = new Date(v)
  return Number.isNaN(d.getTime()) ? null : d
}

function cleanEtag(v: unknown): string | null {
  const s = str(v)
  return s === null ? null : s.replaceAll('"', '')
}

/** Parses one SQS message body. Never throws: what cannot be understood comes back as {kind: 'invalid'}. */
export function parseMessage(body: string): ParsedMessage {
  let doc: unknown
  try {
    doc = JSON.parse(body)
  } catch {
    return {kind: 'invalid', reason: 'the message body is not JSON'}
  }
  if (isObject(doc) && doc.Type === 'Notification' && typeof doc.Message === 'string') {
    // SNS envelope (raw message delivery off): the S3 notification is a JSON string inside
    try {
      doc = JSON.parse(doc.Message)
    } catch {
      return {kind: 'invalid', reason: 'the SNS envelope\'s Message is not JSON'}
    }
  }
  if (!isObject(doc)) return {kind: 'invalid', reason: 'the message is not a JSON object'}
  if (doc.Event === 's3:TestEvent') return {kind: 'test'}
  if (Array.isArray(doc.Records)) return parseRecords(doc.Records)
  if (doc.source === 'aws.s3' && isObject(doc.detail)) return parseEventBridge(doc)
  return {kind: 'invalid', reason: 'not an S3 event notification (no Records, not an s3:TestEvent, not an EventBridge S3 event)'}
}

function parseRecords(records: unknown[]): ParsedMessage {
  const events: ObjectEvent[] = []
  const ignored: IgnoredEvent[] = []
  for (const [i, r] of records.entries()) {
    if (!isObject(r) || !isObject(r.s3) || !isObject(r.s3.bucket) || !isObject(r.s3.object)) {
      return {kind: 'invalid', reason: `record ${i} has no s3.bucket / s3.object`}
    }
    const eventName = (str(r.eventName) ?? '').replace(/^s3:/, '')
    const bucket = str(r.s3.bucket.name)
    const rawKey = str(r.s3.object.key)
    if (!eventName || !bucket || rawKey === null) return {kind: 'invalid', reason: `record ${i} has no eventName, bucket name or object key`}
    let key: string
    try {
      key = decodeS3Key(rawKey)
    } catch {
      return {kind: 'invalid', reason: `record ${i}: the object key "${rawKey.slice(0, 200)}" is not URL-encoded correctly`}
    }
    if (!eventName.startsWith('ObjectCreated:')) {
      ignored.push({eventName, bucket, key})
      continue
    }
    events.push({
      bucket,
      key,
      eventName,
      eventTime: time(r.eventTime),
      size: num(r.s3.object.size),
      etag: cleanEtag(r.s3.object.eTag),
      sequencer: str(r.s3.object.sequencer),
    })
  }
  return {kind: 'events', events, ignored}
}

function parseEventBridge(doc: Record<string, unknown>): ParsedMessage {
  const detail = doc.detail as Record<string, unknown>
  const type = str(doc['detail-type']) ?? ''
  const bucket = isObject(detail.bucket) ? str(detail.bucket.name) : null
  const obj = isObject(detail.object) ? detail.object : null
  const key = obj ? str(obj.key) : null
  if (!bucket || !obj || key === null) return {kind: 'invalid', reason: 'EventBridge S3 event without detail.bucket.name / detail.object.key'}
  // EventBridge keys are not URL-encoded
  if (type !== 'Object Created') return {kind: 'events', events: [], ignored: [{eventName: type, bucket, key}]}
  return {
    kind: 'events',
    ignored: [],
    events: [
      {
        bucket,
        key,
        eventName: `ObjectCreated:${str(detail.reason) ?? 'EventBridge'}`,
        eventTime: time(doc.time),
        size: num(obj.size),
        etag: cleanEtag(obj.etag),
        sequencer: str(obj.sequencer),
      },
    ],
  }
}

/**
 * Compares two S3 sequencers of the SAME key: left-pad with zeros to equal length, compare as strings.
 * Negative when a is older than b, 0 when equal, positive when a is newer.
 */
export function compareSequencers(a: string, b: string): number {
  const n = Math.max(a.length, b.length)
  const x = a.toUpperCase().padStart(n, '0')
  const y = b.toUpperCase().padStart(n, '0')
  return x < y ? -1 : x > y ? 1 : 0
}
