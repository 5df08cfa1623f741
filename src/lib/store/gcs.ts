import {CRC32C, type File, type FileMetadata, Storage, type StorageOptions} from '@google-cloud/storage'
import {PassThrough, type Readable} from 'node:stream'
import {ObjectChangedError, UserError} from '../errors.js'
import {explainGcpError, httpStatus, isGcpTransient} from '../gcp/errors.js'
import {withRetry} from '../retry.js'
import {emptyStats, type ObjectInfo, type ObjectStore, type RequestStats, type StoreOptions} from './types.js'

/** GCS metadata worth keeping next to the portable fields. */
export interface GcsObjectInfo extends ObjectInfo {
  /** object generation: changes on every overwrite; also the etag seneka records */
  generation: string
  /** MD5 of the content, hex (absent for composite objects) */
  md5: string | null
  /** CRC32C of the content, base64 as GCS reports it */
  crc32c: string | null
}

export interface GcsStoreOptions extends StoreOptions {
  /** replace the client (tests) */
  client?: Storage
  /** retries of list/head/write calls on 429, 5xx and dropped connections */
  retries?: number
  /** first retry delay in ms (doubles each attempt, full jitter) */
  retryBaseDelayMs?: number
  /** objects per list page (GCS allows up to 1000) */
  pageSize?: number
}

/**
 * The GCS endpoint, one rule for every command (backfill, stream, dedupe, cutover, BigQuery staging):
 * --gcs-endpoint, else SENEKA_GCS_ENDPOINT, else STORAGE_EMULATOR_HOST (the Google library's own variable);
 * undefined for the real GCS.
 */
export function gcsEndpoint(flag?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return flag || env.SENEKA_GCS_ENDPOINT || env.STORAGE_EMULATOR_HOST || undefined
}

/**
 * Builds a Storage client from Application Default Credentials. A custom endpoint (see gcsEndpoint) talks to an
 * emulator or a test double without authentication. The library's own retries are off: seneka retries with its
 * own backoff, visibly.
 */
export function createGcsClient(opts: StoreOptions = {}): Storage {
  const options: StorageOptions = {retryOptions: {autoRetry: false}}
  const endpoint = gcsEndpoint(opts.gcsEndpoint)
  if (endpoint) options.apiEndpoint = endpoint.replace(/\/+$/, '')
  const project = process.env.GOOGLE_CLOUD_PROJECT ?? process.env.GCLOUD_PROJECT
  if (project) options.projectId = project
  return new Storage(options)
}

function md5Hex(b64: string | undefined): string | null {
  return b64 ? Buffer.from(b64, 'base64').toString('hex') : null
}

/** Uploads from this size on are resumable (the library sends them in chunks that it can resend). */
export const RESUMABLE_FROM = 8 * 1024 * 1024

function crc32c(data: Buffer): string {
  const c = new CRC32C()
  c.update(data)
  return c.toString()
}

export class GcsStore implements ObjectStore {
  readonly scheme = 'gs' as const
  readonly stats: RequestStats = emptyStats()
  private readonly client: Storage
  private readonly retries: number
  private readonly baseDelayMs: number
  private readonly pageSize: number

  constructor(
    readonly bucket: string,
    opts: GcsStoreOptions = {},
  ) {
    this.client = opts.client ?? createGcsClient(opts)
    this.retries = opts.retries ?? 5
    this.baseDelayMs = opts.retryBaseDelayMs ?? 250
    this.pageSize = opts.pageSize ?? 1000
  }

  uri(key: string): string {
    return `gs://${this.bucket}/${key}`
  }

  private file(key: string): File {
    return this.client.bucket(this.bucket).file(key)
  }

  private call<T>(what: string, key: string, needs: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, {retries: this.retries, baseDelayMs: this.baseDelayMs, isRetryable: isGcpTransient}).catch((err) => {
      throw explainGcpError(err, {what: `${what} ${this.uri(key)}`, needs, service: 'storage'})
    })
  }

  info(key: string, m: FileMetadata): GcsObjectInfo {
    const generation = String(m.generation ?? '')
    return {
      uri: this.uri(key),
      key,
      size: Number(m.size ?? 0),
      etag: generation || String(m.etag ?? ''),
      // the S3 LastModified when Storage Transfer kept it (customTime), else GCS's own time
      lastModified: new Date(String(m.customTime ?? m.updated ?? m.timeCreated ?? 0)),
      ...(m.timeCreated ? {gcsCreatedAt: new Date(String(m.timeCreated))} : {}),
      generation,
      md5: md5Hex(m.md5Hash),
      crc32c: m.crc32c ?? null,
    }
  }

  private async page(prefix: string, pageToken: string | undefined, delimiter?: string) {
    this.stats.list++
    const [files, , response] = await this.call('list', prefix, 'storage.objects.list', () =>
      this.client.bucket(this.bucket).getFiles({prefix, pageToken, delimiter, maxResults: this.pageSize, autoPaginate: false}),
    )
    const res = (response ?? {}) as {nextPageToken?: string; prefixes?: string[]}
    return {files, next: res.nextPageToken, prefixes: res.prefixes ?? []}
  }

  async *list(prefix: string): AsyncIterable<GcsObjectInfo> {
    this.stats.listedPrefixes.push(prefix)
    let token: string | undefined
    do {
      const {files, next} = await this.page(prefix, token)
      for (const f of files) if (!f.name.endsWith('/')) yield this.info(f.name, f.metadata)
      token = next
    } while (token)
  }

  async listPrefixes(prefix: string): Promise<string[]> {
    this.stats.listedPrefixes.push(prefix)
    const out: string[] = []
    let token: string | undefined
    do {
      const {prefixes, next} = await this.page(prefix, token, '/')
      out.push(...prefixes)
      token = next
    } while (token)
    return out.sort()
  }

  async head(key: string): Promise<GcsObjectInfo | undefined> {
    this.stats.head++
    try {
      const [m] = await withRetry(() => this.file(key).getMetadata(), {retries: this.retries, baseDelayMs: this.baseDelayMs, isRetryable: isGcpTransient})
      return this.info(key, m)
    } catch (err) {
      if (httpStatus(err) === 404) return undefined
      throw explainGcpError(err, {what: `read the metadata of ${this.uri(key)}`, needs: 'storage.objects.get', service: 'storage'})
    }
  }

  /**
   * Streams the object by name (no listing), pinned to `version` (a generation) when given: an overwritten
   * object's old generation is gone (404), which is ObjectChangedError. Errors arrive as clear sentences.
   */
  async read(key: string, opts: {version?: string} = {}): Promise<Readable> {
    this.stats.get++
    const generation = opts.version && /^\d+$/.test(opts.version) ? opts.version : undefined
    const source = this.client.bucket(this.bucket).file(key, generation ? {generation} : {}).createReadStream()
    const out = new PassThrough()
    source.on('error', (err) =>
      out.destroy(
        generation && httpStatus(err) === 404
          ? new ObjectChangedError(this.uri(key), generation)
          : (explainGcpError(err, {what: `read ${this.uri(key)}`, needs: 'storage.objects.get', service: 'storage'}) as Error),
      ),
    )
    return source.pipe(out)
  }

  /**
   * Creates the object, never overwriting one (ifGenerationMatch: 0), with its CRC32C checked against what
   * GCS stored. Bodies above RESUMABLE_FROM go as a resumable upload (chunks resent, not the whole body). A
   * retry whose first attempt did land meets its own object: same checksum, so it is the write, done.
   */
  async write(key: string, body: Buffer | string): Promise<GcsObjectInfo> {
    this.stats.put++
    const f = this.file(key)
    const data = typeof body === 'string' ? Buffer.from(body) : body
    try {
      await this.call('write', key, 'storage.objects.create', () =>
        f.save(data, {resumable: data.length >= RESUMABLE_FROM, validation: 'crc32c', preconditionOpts: {ifGenerationMatch: 0}}),
      )
    } catch (err) {
      if (httpStatus(err) !== 412) throw err
      const existing = await this.head(key)
      if (!existing || existing.crc32c !== crc32c(data)) {
        throw new UserError(`${this.uri(key)} already exists with other content; seneka never overwrites an object.`, {
          suggestion: 'Staged files have unique names: another process writes under the same --staging prefix. Give each worker its own prefix.',
          cause: err,
        })
      }
      return existing
    }
    return this.info(key, f.metadata)
  }

  /** Deletes an object (staging cleanup); a missing object is not an error. */
  async remove(key: string): Promise<void> {
    await this.call('delete', key, 'storage.objects.delete', () => this.file(key).delete({ignoreNotFound: true}))
  }

  async close(): Promise<void> {}
}
