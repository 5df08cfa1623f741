import type {Readable} from 'node:stream'
import {LocalStore} from './local.js'
import {emptyStats, type ObjectInfo, type ObjectStore, type RequestStats, type StoreOptions} from './types.js'
import {parseLocation, type ParsedLocation} from './uri.js'

export type {ObjectInfo, ObjectStore, RequestStats, StoreOptions} from './types.js'
export {parseLocation, type ParsedLocation} from './uri.js'

/**
 * The one place object-store clients are built. Tests replace clients by passing `factories`.
 */
export interface StoreFactories {
  s3?: (bucket: string, opts: StoreOptions) => ObjectStore
  gs?: (bucket: string, opts: StoreOptions) => ObjectStore
}

/**
 * An S3 or GCS store whose SDK is imported on its first request, not when seneka starts: a run on local
 * folders never loads the AWS or Google clients (about a second of CPU at start-up).
 */
class LazyStore implements ObjectStore {
  readonly stats: RequestStats = emptyStats()
  private real: Promise<ObjectStore> | undefined

  constructor(
    readonly scheme: 's3' | 'gs',
    readonly bucket: string,
    private readonly load: () => Promise<ObjectStore>,
  ) {}

  private store(): Promise<ObjectStore> {
    this.real ??= this.load().then((s) => {
      // one set of request counters, whoever holds a reference to them
      ;(s as {stats: RequestStats}).stats = this.stats
      return s
    })
    return this.real
  }

  uri(key: string): string {
    return `${this.scheme}://${this.bucket}/${key}`
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    yield* (await this.store()).list(prefix)
  }

  async listPrefixes(prefix: string): Promise<string[]> {
    return (await this.store()).listPrefixes(prefix)
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    return (await this.store()).head(key)
  }

  async read(key: string, opts?: {version?: string}): Promise<Readable> {
    return (await this.store()).read(key, opts)
  }

  async write(key: string, body: Buffer | string): Promise<ObjectInfo> {
    return (await this.store()).write(key, body)
  }

  async close(): Promise<void> {
    if (this.real) await (await this.real).close()
  }
}

export function openStore(loc: ParsedLocation | string, opts: StoreOptions = {}, factories: StoreFactories = {}): ObjectStore {
  const l = typeof loc === 'string' ? parseLocation(loc) : loc
  switch (l.scheme) {
    case 'file':
      return new LocalStore(l.bucket)
    case 's3':
      if (factories.s3) return factories.s3(l.bucket, opts)
      return new LazyStore('s3', l.bucket, async () => {
        const {createS3Client, S3Store} = await import('./s3.js')
        return new S3Store(l.bucket, createS3Client(opts))
      })
    case 'gs':
      if (factories.gs) return factories.gs(l.bucket, opts)
      return new LazyStore('gs', l.bucket, async () => new (await import('./gcs.js')).GcsStore(l.bucket, opts))
  }
}
