import type {Readable} from 'node:stream'

/** One object in a store. `key` is relative to the bucket (or the local root); `uri` is absolute. */
export interface ObjectInfo {
  uri: string
  key: string
  size: number
  /**
   * S3 ETag / GCS md5 or generation / local files: the MD5 of the content, as S3 gives for a single-part upload
   * (so a `touch`, or a copy of the same bytes, is the same version). Changes whenever the content changes.
   */
  etag: string
  /** local files: the ETag older seneka versions recorded ("size-mtime"), still accepted as this version */
  legacyEtag?: string
  lastModified: Date
  /** gs:// objects: when this generation was created in GCS (timeCreated); absent elsewhere */
  gcsCreatedAt?: Date
}

/** Requests a store has made, by kind: shown in dry-runs (cost) and asserted in tests. */
export interface RequestStats {
  list: number
  head: number
  get: number
  put: number
  /** Every prefix passed to a list call, in order. */
  listedPrefixes: string[]
}

export function emptyStats(): RequestStats {
  return {list: 0, head: 0, get: 0, put: 0, listedPrefixes: []}
}

/**
 * An object store: local folder, S3 or GCS. Keys use "/" as separator on every backend.
 */
export interface ObjectStore {
  readonly scheme: 'file' | 's3' | 'gs'
  /** bucket name, or the absolute root folder for local stores */
  readonly bucket: string
  readonly stats: RequestStats
  /** Builds the absolute URI of a key. */
  uri(key: string): string
  /** Every object whose key starts with prefix, in key order, paginating as needed. */
  list(prefix: string): AsyncIterable<ObjectInfo>
  /** The "folders" directly under prefix (delimiter "/"), each ending in "/". */
  listPrefixes(prefix: string): Promise<string[]>
  /** Metadata of one object, or undefined when it does not exist. Prefer this to listing when the key is known. */
  head(key: string): Promise<ObjectInfo | undefined>
  /**
   * Streams the object. With `version` (the etag a LIST/HEAD gave: S3 ETag, GCS generation) the read is pinned
   * to that version: an object overwritten since fails with ObjectChangedError instead of serving other bytes.
   */
  read(key: string, opts?: {version?: string}): Promise<Readable>
  write(key: string, body: Buffer | string): Promise<ObjectInfo>
  close(): Promise<void>
}

export interface StoreOptions {
  /** Custom S3 endpoint (any S3-compatible server); path-style addressing is used with it. */
  s3Endpoint?: string
  region?: string
  /** Custom GCS endpoint (emulators, test doubles). */
  gcsEndpoint?: string
}

/** Whether a ledger's ETag is this object's version (its ETag, or the older form a local file once had). */
export function isSameVersion(ledgerEtag: string | undefined, object: Pick<ObjectInfo, 'etag' | 'legacyEtag'>): boolean {
  return ledgerEtag !== undefined && (ledgerEtag === object.etag || (object.legacyEtag !== undefined && ledgerEtag === object.legacyEtag))
}
