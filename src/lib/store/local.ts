import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import type {Readable} from 'node:stream'
import {NotFoundError} from '../errors.js'
import {emptyStats, type ObjectInfo, type ObjectStore, type RequestStats} from './types.js'

/** A local folder laid out like a bucket: keys are paths relative to the root, with "/" separators. */
export class LocalStore implements ObjectStore {
  readonly scheme = 'file' as const
  readonly stats: RequestStats = emptyStats()
  /** path -> the content ETag and the size/mtime/inode it was computed for */
  private readonly etags = new Map<string, {signature: string; etag: string}>()

  constructor(readonly bucket: string) {}

  uri(key: string): string {
    return `file://${path.posix.join(this.bucket.split(path.sep).join('/'), key)}`
  }

  private abs(key: string): string {
    return path.join(this.bucket, ...key.split('/'))
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    this.stats.list++
    this.stats.listedPrefixes.push(prefix)
    // the folder part of the prefix is walked; the rest filters names
    const slash = prefix.lastIndexOf('/')
    const dirKey = slash >= 0 ? prefix.slice(0, slash + 1) : ''
    yield* this.walk(dirKey, prefix)
  }

  private async *walk(dirKey: string, prefix: string): AsyncIterable<ObjectInfo> {
    let entries
    try {
      entries = await fs.readdir(this.abs(dirKey), {withFileTypes: true})
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // the command line names a folder that is not there: a usage error (exit 2), as for stream --watch
        if (dirKey === '') throw new NotFoundError(`The folder ${this.bucket} does not exist.`, 'Check the source path (a local folder, s3://bucket/prefix or gs://bucket/prefix).')
        return
      }
      throw err
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const e of entries) {
      const key = dirKey + e.name
      if (e.isDirectory()) {
        const sub = `${key}/`
        if (sub.startsWith(prefix) || prefix.startsWith(sub)) yield* this.walk(sub, prefix)
      } else if (e.isFile() && key.startsWith(prefix)) {
        const info = await this.stat(key)
        if (info) yield info
      }
    }
  }

  private async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const file = this.abs(key)
      const st = await fs.stat(file, {bigint: true})
      return {
        uri: this.uri(key),
        key,
        size: Number(st.size),
        etag: await this.contentEtag(file, `${st.size}-${st.mtimeNs}-${st.ino}`),
        legacyEtag: `${st.size}-${st.mtimeNs}`,
        lastModified: new Date(Number(st.mtimeMs)),
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  /**
   * The MD5 of the file's bytes (what S3 gives a single-part upload), computed once per size, mtime and inode: a
   * `touch` re-reads the file and finds the same ETag, so it is not a new version.
   */
  private async contentEtag(file: string, signature: string): Promise<string> {
    const cached = this.etags.get(file)
    if (cached?.signature === signature) return cached.etag
    const hash = createHash('md5')
    for await (const chunk of createReadStream(file, {highWaterMark: 1024 * 1024})) hash.update(chunk as Buffer)
    const etag = hash.digest('hex')
    this.etags.set(file, {signature, etag})
    return etag
  }

  async listPrefixes(prefix: string): Promise<string[]> {
    this.stats.list++
    this.stats.listedPrefixes.push(prefix)
    const dirKey = prefix.endsWith('/') || prefix === '' ? prefix : prefix.slice(0, prefix.lastIndexOf('/') + 1)
    try {
      const entries = await fs.readdir(this.abs(dirKey), {withFileTypes: true})
      return entries
        .filter((e) => e.isDirectory() && (dirKey + e.name).startsWith(prefix))
        .map((e) => `${dirKey}${e.name}/`)
        .sort()
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    this.stats.head++
    return this.stat(key)
  }

  /** Local files have no versions: `version` is not checked (a changed size or checksum still is, by the reader). */
  async read(key: string, _opts: {version?: string} = {}): Promise<Readable> {
    this.stats.get++
    const file = this.abs(key)
    await fs.access(file)
    return createReadStream(file, {highWaterMark: 256 * 1024})
  }

  async write(key: string, body: Buffer | string): Promise<ObjectInfo> {
    this.stats.put++
    const file = this.abs(key)
    await fs.mkdir(path.dirname(file), {recursive: true})
    const tmp = `${file}.tmp-${process.pid}-${Date.now()}`
    await fs.writeFile(tmp, body)
    await fs.rename(tmp, file)
    return (await this.stat(key))!
  }

  async close(): Promise<void> {}
}
