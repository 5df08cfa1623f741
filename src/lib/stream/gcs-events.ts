/**
 * Parsing of the Pub/Sub messages a GCS bucket's notification configuration publishes (payload format
 * JSON_API_V1 or NONE). The attributes carry what identifies the event (eventType, bucketId, objectId,
 * objectGeneration, eventTime); the JSON_API_V1 payload is the object resource, used for the size and as a
 * fallback when an attribute is absent.
 */

/** One OBJECT_FINALIZE: which object, which generation (the version), when. */
export interface GcsObjectEvent {
  bucket: string
  key: string
  /** decimal object generation: increases with every overwrite of the name */
  generation: string
  eventTime: Date | null
  size: number | null
}

export type ParsedGcsNotification =
  | {kind: 'finalize'; event: GcsObjectEvent}
  | {kind: 'ignored'; eventType: string; bucket: string; key: string}
  | {kind: 'invalid'; reason: string}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null
}

function time(v: unknown): Date | null {
  if (typeof v !== 'string') return null
  const d = new Date(v)
  return Number.isNaN(d.getTime()) ? null : d
}

/** Parses one notification. Never throws: what cannot be understood comes back as {kind: 'invalid'}. */
export function parseGcsNotification(attributes: Record<string, string> | undefined, data: Buffer | undefined): ParsedGcsNotification {
  const a = attributes ?? {}
  let payload: Record<string, unknown> = {}
  if (a.payloadFormat !== 'NONE' && data && data.length > 0) {
    try {
      const doc: unknown = JSON.parse(data.toString('utf8'))
      if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) payload = doc as Record<string, unknown>
      else return {kind: 'invalid', reason: 'the message data is not a JSON object (expected the JSON_API_V1 object resource)'}
    } catch {
      return {kind: 'invalid', reason: 'the message data is not JSON (expected the JSON_API_V1 object resource)'}
    }
  }
  const eventType = str(a.eventType)
  if (!eventType) return {kind: 'invalid', reason: 'not a GCS notification (no eventType attribute)'}
  const bucket = str(a.bucketId) ?? str(payload.bucket)
  const key = str(a.objectId) ?? str(payload.name)
  if (!bucket || key === null) return {kind: 'invalid', reason: `${eventType} without bucketId / objectId`}
  if (eventType !== 'OBJECT_FINALIZE') return {kind: 'ignored', eventType, bucket, key}
  const generation = str(a.objectGeneration) ?? (typeof payload.generation === 'string' || typeof payload.generation === 'number' ? String(payload.generation) : null)
  if (!generation || !/^\d+$/.test(generation)) return {kind: 'invalid', reason: `OBJECT_FINALIZE of gs://${bucket}/${key} without a valid objectGeneration`}
  const size = typeof payload.size === 'string' && /^\d+$/.test(payload.size) ? Number(payload.size) : typeof payload.size === 'number' ? payload.size : null
  return {kind: 'finalize', event: {bucket, key, generation, eventTime: time(a.eventTime) ?? time(payload.timeCreated) ?? time(payload.updated), size}}
}

/** Compares two decimal generations of the same object: negative when a is older than b. */
export function compareGenerations(a: string, b: string): number {
  const x = BigInt(a)
  const y = BigInt(b)
  return x < y ? -1 : x > y ? 1 : 0
}

/** The CloudEvent types Eventarc delivers for Cloud Storage; only `finalized` names an object to load. */
export const STORAGE_CLOUDEVENT_PREFIX = 'google.cloud.storage.object.v1.'
export const STORAGE_FINALIZED = `${STORAGE_CLOUDEVENT_PREFIX}finalized`

/** The context attributes of a CloudEvent that the loader uses (ce-* headers, or the structured-mode fields). */
export interface CloudEventContext {
  id: string
  type: string
  source: string | null
  subject: string | null
  time: string | null
}

/**
 * Parses an Eventarc Cloud Storage CloudEvent (`google.cloud.storage.object.v1.*`, data: StorageObjectData,
 * the same object resource as JSON_API_V1). Other types come back as ignored. Never throws.
 */
export function parseStorageCloudEvent(ce: CloudEventContext, data: unknown): ParsedGcsNotification {
  const d = typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : {}
  const bucket = str(d.bucket) ?? (ce.source ? (/\/buckets\/([^/]+)$/.exec(ce.source)?.[1] ?? null) : null)
  const key = str(d.name) ?? (ce.subject?.startsWith('objects/') ? ce.subject.slice('objects/'.length) : null)
  if (ce.type !== STORAGE_FINALIZED) return {kind: 'ignored', eventType: ce.type, bucket: bucket ?? '', key: key ?? ''}
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return {kind: 'invalid', reason: `${ce.type} without a JSON object as data (expected StorageObjectData)`}
  if (!bucket || key === null) return {kind: 'invalid', reason: `${ce.type} without a bucket / object name`}
  const generation = typeof d.generation === 'string' || typeof d.generation === 'number' ? String(d.generation) : null
  if (!generation || !/^\d+$/.test(generation)) return {kind: 'invalid', reason: `${ce.type} of gs://${bucket}/${key} without a valid generation`}
  const size = typeof d.size === 'string' && /^\d+$/.test(d.size) ? Number(d.size) : typeof d.size === 'number' ? d.size : null
  return {kind: 'finalize', event: {bucket, key, generation, eventTime: time(ce.time) ?? time(d.timeCreated) ?? time(d.updated), size}}
}
