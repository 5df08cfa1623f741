import type {Readable} from 'node:stream'
import type {Storage} from '@google-cloud/storage'
import {EventEmitter} from 'node:events'
import {PassThrough} from 'node:stream'
import {explainGcpError, httpStatus, isGcpTransient} from '../gcp/errors.js'
import {withRetry} from '../retry.js'
import {createGcsClient, GcsStore, type GcsObjectInfo} from '../store/gcs.js'
import type {ObjectInfo, ObjectStore, RequestStats, StoreOptions} from '../store/types.js'

/**
 * A GCS bucket read at one generation of one object: head and read ask for `?generation=`, so what is
 * loaded is exactly the version the notification named, never a later overwrite (that one has its own
 * notification). A generation that no longer exists (overwritten in a bucket without versioning, or
 * deleted) heads as undefined.
 */
export class PinnedGcsStore implements ObjectStore {
  readonly scheme = 'gs' as const
  private readonly base: GcsStore

  constructor(
    private readonly client: Storage,
    readonly bucket: string,
    readonly generation: string,
  ) {
    this.base = new GcsStore(bucket, {client})
  }

  get stats(): RequestStats {
    return this.base.stats
  }

  uri(key: string): string {
    return this.base.uri(key)
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.base.list(prefix)
  }

  listPrefixes(prefix: string): Promise<string[]> {
    return this.base.listPrefixes(prefix)
  }

  private file(key: string) {
    return this.client.bucket(this.bucket).file(key, {generation: Number(this.generation)})
  }

  async head(key: string): Promise<GcsObjectInfo | undefined> {
    this.stats.head++
    try {
      const [m] = await withRetry(() => this.file(key).getMetadata(), {retries: 4, baseDelayMs: 250, isRetryable: isGcpTransient})
      return this.base.info(key, m)
    } catch (err) {
      if (httpStatus(err) === 404) return undefined
      throw explainGcpError(err, {what: `read the metadata of ${this.uri(key)} (generation ${this.generation})`, needs: 'storage.objects.get', service: 'storage'})
    }
  }

  async read(key: string): Promise<Readable> {
    this.stats.get++
    const source = this.file(key).createReadStream()
    source.once('response', allowResponseListeners)
    const out = new PassThrough()
    source.on('error', (err) =>
      out.destroy(explainGcpError(err, {what: `read ${this.uri(key)} (generation ${this.generation})`, needs: 'storage.objects.get', service: 'storage'}) as Error),
    )
    return source.pipe(out)
  }

  async write(): Promise<ObjectInfo> {
    throw new Error('a generation-pinned store is read-only')
  }

  async close(): Promise<void> {}
}

/**
 * Listeners one read puts on its HTTP response: the response (a PassThrough of teeny-request) carries 6 when the
 * storage library sees it, then its createReadStream and teeny-request each pipe it onward (pipeline + eos), 11
 * in all, every one removed when the read ends. Node warns past 10 per emitter (MaxListenersExceededWarning, two
 * lines per read of any size worth streaming): the limit of that one response is raised, nothing else.
 */
const RESPONSE_LISTENERS = 16

function allowResponseListeners(res: unknown): void {
  if (res instanceof EventEmitter && res.getMaxListeners() < RESPONSE_LISTENERS) res.setMaxListeners(RESPONSE_LISTENERS)
}

/** One Storage client per worker, shared by the pinned stores of every notification. */
export class PinnedGcsStores {
  private client: Storage | undefined

  constructor(private readonly options: StoreOptions = {}) {}

  at(bucket: string, generation: string): PinnedGcsStore {
    this.client ??= createGcsClient(this.options)
    return new PinnedGcsStore(this.client, bucket, generation)
  }
}
