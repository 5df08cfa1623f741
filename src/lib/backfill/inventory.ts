import {createHash} from 'node:crypto'
import {createReadStream, createWriteStream, existsSync} from 'node:fs'
import {readFile, rm} from 'node:fs/promises'
import path from 'node:path'
import {Transform} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {UserError} from '../errors.js'
import {type ObjectStore, openStore, parseLocation, type StoreFactories, type StoreOptions} from '../store/index.js'
import {type PlanDb, sqlString} from './plan-db.js'

/** What S3 Inventory's manifest.json says (docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html). */
export interface InventoryManifest {
  /** where manifest.json was read */
  uri: string
  sourceBucket: string
  /** creationTimestamp: objects added after it are not in the inventory */
  createdAt: Date
  fileFormat: 'CSV' | 'Parquet' | 'ORC'
  /** fileSchema's field names, in order */
  fields: string[]
  files: Array<{key: string; size: number; md5: string}>
}

export interface InventorySummary {
  manifest: string
  sourceBucket: string
  createdAt: string
  fileFormat: string
  dataFiles: number
  /** inventory rows read (every object of the bucket the inventory lists) */
  rows: number
  /** of them, current objects under the source prefix (delete markers, old versions and rows without a size or a date left out) */
  underSource: number
}

export interface InventoryOptions {
  storeOptions?: StoreOptions
  storeFactories?: StoreFactories
  /** called after each data file with the rows read so far */
  onRows?: (rows: number, file: number, files: number) => void
  /** called after each data file is in `listed`; it takes the rows away, so `listed` never holds more than one file */
  drain: () => Promise<void>
}

/** the fields a plan needs, by their normalized name (CSV: "LastModifiedDate", Parquet/ORC: "last_modified_date") */
const REQUIRED = ['key', 'size', 'lastmodifieddate', 'etag'] as const
/** DuckDB's CSV reader buffer for an inventory data file (an inventory line is a few hundred bytes at most) */
const CSV_BUFFER_BYTES = 4 * 1024 * 1024
const norm = (name: string): string => name.toLowerCase().replaceAll('_', '')

function bad(manifest: string, what: string, suggestion: string): UserError {
  return new UserError(`The S3 Inventory manifest ${manifest} ${what}.`, {suggestion})
}

const md5 = (data: Buffer | string): string => createHash('md5').update(data).digest('hex')

/** Reads and checks manifest.json (and manifest.checksum beside it, when there is one). */
export async function readManifest(location: string, sourceBucket: string, opts: Omit<InventoryOptions, 'drain'> = {}): Promise<{manifest: InventoryManifest; read: (key: string, to: string) => Promise<string>; close: () => Promise<void>}> {
  const loc = /^(s3|gs):\/\//.test(location) ? parseLocation(location) : undefined
  const store = loc ? openStore({...loc, prefix: ''}, opts.storeOptions, opts.storeFactories) : undefined
  try {
    const fetchText = async (key: string): Promise<Buffer | undefined> => {
      if (!store) return existsSync(key) ? readFile(key) : undefined
      if (!(await store.head(key))) return undefined
      const chunks: Buffer[] = []
      for await (const c of await store.read(key)) chunks.push(c as Buffer)
      return Buffer.concat(chunks)
    }
    const manifestKey = loc ? loc.prefix : path.resolve(location)
    const body = await fetchText(manifestKey)
    if (!body) throw new UserError(`No S3 Inventory manifest at ${location}.`, {suggestion: 'Give the manifest.json of one inventory run, e.g. s3://inventory-bucket/prefix/source-bucket/config-id/2024-05-01T01-00Z/manifest.json.'})
    const checksumKey = loc ? manifestKey.replace(/[^/]*$/, 'manifest.checksum') : path.join(path.dirname(manifestKey), 'manifest.checksum')
    const checksum = (await fetchText(checksumKey))?.toString('utf8').trim().toLowerCase()
    if (checksum !== undefined && checksum !== md5(body)) {
      throw bad(location, `does not match its manifest.checksum (MD5 ${md5(body)}, expected ${checksum})`, 'Download the manifest again, or use an inventory run whose delivery completed.')
    }
    const manifest = parseManifest(location, body.toString('utf8'), sourceBucket)
    // data file keys are relative to the destination bucket (a local copy: to one of the manifest's parent folders)
    const dest = /^arn:aws:s3:::(.+)$/.exec(String(JSON.parse(body.toString('utf8')).destinationBucket ?? ''))?.[1]
    const dataStore: ObjectStore | undefined = loc ? (dest && dest !== loc.bucket ? openStore(`${loc.scheme}://${dest}/`, opts.storeOptions, opts.storeFactories) : store) : undefined
    const read = async (key: string, to: string): Promise<string> => {
      const hash = createHash('md5')
      const tap = new Transform({
        transform(chunk, _enc, done) {
          hash.update(chunk)
          done(null, chunk)
        },
      })
      const source = dataStore ? await dataStore.read(key) : createReadStream(localDataFile(manifestKey, key, location))
      await pipeline(source, tap, createWriteStream(to))
      return hash.digest('hex')
    }
    const close = async (): Promise<void> => {
      if (dataStore && dataStore !== store) await dataStore.close()
      await store?.close()
    }
    return {manifest, read, close}
  } catch (err) {
    await store?.close()
    throw err
  }
}

/** A data file of a local copy of an inventory: its key under one of the manifest's parent folders. */
function localDataFile(manifestFile: string, key: string, location: string): string {
  for (let dir = path.dirname(manifestFile); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, key)
    if (existsSync(candidate)) return candidate
    if (path.dirname(dir) === dir) break
  }
  throw bad(location, `lists the data file ${key}, which is in none of the manifest's parent folders`, 'Copy the inventory with its folder layout (aws s3 sync s3://inventory-bucket/prefix/ ./prefix/), or give the manifest on S3.')
}

export function parseManifest(location: string, text: string, sourceBucket: string): InventoryManifest {
  let m: Record<string, unknown>
  try {
    m = JSON.parse(text) as Record<string, unknown>
  } catch {
    throw bad(location, 'is not JSON', 'Give the manifest.json of an inventory run, not a data file or symlink.txt.')
  }
  const format = String(m.fileFormat ?? '')
  const fileFormat = (['CSV', 'Parquet', 'ORC'] as const).find((f) => f.toLowerCase() === format.toLowerCase())
  if (!fileFormat) throw bad(location, `has the file format "${format}", not CSV, Parquet or ORC`, 'Give the manifest.json of an S3 Inventory run.')
  if (fileFormat === 'ORC') throw bad(location, 'lists ORC files, which seneka cannot read (no maintained ORC reader for Node.js or DuckDB fits)', 'Set the inventory configuration to CSV or Parquet output; the next daily run delivers it.')
  if (m.sourceBucket !== sourceBucket) {
    throw bad(location, `is the inventory of the bucket "${String(m.sourceBucket)}", not of the source bucket "${sourceBucket}"`, 'Give the inventory of the bucket the source names, or the source in the bucket the inventory lists.')
  }
  const schema = String(m.fileSchema ?? '')
  // CSV: "Bucket, Key, Size, ..."; Parquet/ORC: a message or struct definition naming each field
  const fields = fileFormat === 'CSV' ? schema.split(',').map((f) => f.trim()).filter(Boolean) : [...schema.matchAll(/(?:required|optional)\s+\w+\s+(\w+)|(\w+):/g)].map((x) => x[1] ?? x[2])
  const have = new Set(fields.map(norm))
  const missing = REQUIRED.filter((f) => !have.has(f))
  if (missing.length > 0) {
    const names = {key: 'Key', size: 'Size', lastmodifieddate: 'LastModifiedDate', etag: 'ETag'}
    throw bad(location, `has no ${missing.map((f) => names[f]).join(', ')} field in its fileSchema (${schema || 'empty'})`, 'Add the optional fields Size, LastModifiedDate and ETag to the inventory configuration; the next run includes them.')
  }
  const files = Array.isArray(m.files) ? (m.files as Array<Record<string, unknown>>) : []
  if (files.length === 0 || files.some((f) => typeof f.key !== 'string' || typeof f.MD5checksum !== 'string')) {
    throw bad(location, 'lists no data files (files[] with key and MD5checksum)', 'Give the manifest.json of a completed inventory run.')
  }
  const created = Number(m.creationTimestamp)
  return {
    uri: location,
    sourceBucket,
    createdAt: new Date(Number.isFinite(created) ? created : 0),
    fileFormat,
    fields,
    files: files.map((f) => ({key: String(f.key), size: Number(f.size ?? 0), md5: String(f.MD5checksum).toLowerCase()})),
  }
}

/**
 * Reads an inventory's data files one at a time into the plan database's `listed` table (`ok`: a current object
 * under `prefix`; CSV keys URL-decoded; delete markers and old versions left out), checking each file's MD5.
 */
export async function loadInventory(db: PlanDb, location: string, sourceBucket: string, prefix: string, opts: InventoryOptions): Promise<InventorySummary> {
  const {manifest, read, close} = await readManifest(location, sourceBucket, opts)
  let rows = 0
  let underSource = 0
  try {
    for (const [i, f] of manifest.files.entries()) {
      const local = db.file(`inventory-${i}`)
      const got = await read(f.key, local)
      if (got !== f.md5) {
        throw bad(location, `lists the data file ${f.key} with MD5 ${f.md5}, but its content has MD5 ${got}`, 'Use an inventory run whose delivery completed, or download the data files again.')
      }
      const sql = readSql(manifest, local)
      // every row is kept, marked: the counts come from the same single read of the file. One thread reads it,
      // with 4 MB buffers: two threads held 32 MB buffers each beside the pool (docs/performance.md)
      await db.oneThread(() =>
        db.run(
          `INSERT INTO listed (key, size, etag, lm, ok) SELECT k, size, etag, lm, k IS NOT NULL AND size IS NOT NULL AND lm IS NOT NULL AND ${sql.current} AND starts_with(k, $prefix) FROM (SELECT ${sql.select})`,
          {prefix},
        ),
      )
      const [c] = await db.all(`SELECT count(*)::BIGINT AS n, count(*) FILTER (ok)::BIGINT AS ok FROM listed`)
      rows += Number(c.n)
      underSource += Number(c.ok)
      opts.onRows?.(rows, i + 1, manifest.files.length)
      await opts.drain()
      await rm(local, {force: true})
    }
  } finally {
    await close()
  }
  return {
    manifest: location,
    sourceBucket,
    createdAt: manifest.createdAt.toISOString(),
    fileFormat: manifest.fileFormat,
    dataFiles: manifest.files.length,
    rows,
    underSource,
  }
}

/** The SQL that reads one data file: its rows as (k, size, etag, lm = LastModified in epoch ms). */
function readSql(m: InventoryManifest, file: string): {select: string; current: string} {
  const idx = (name: string): number => m.fields.findIndex((f) => norm(f) === name)
  if (m.fileFormat === 'CSV') {
    // no header; every field quoted; keys URL-encoded (space as "+")
    const cols = m.fields.map((_f, i) => `'c${i}': 'VARCHAR'`).join(', ')
    // buffer_size: 4 MB instead of 16 x max_line_size (32 MB) per buffer; inventory lines are short
    const from = `read_csv(${sqlString(file)}, header = false, compression = 'gzip', quote = '"', escape = '"', buffer_size = ${CSV_BUFFER_BYTES}, columns = {${cols}})`
    const c = (name: string): string => `c${idx(name)}`
    const select =
      `url_decode(replace(${c('key')}, '+', ' ')) AS k, TRY_CAST(${c('size')} AS BIGINT) AS size, ${c('etag')} AS etag, ` +
      `epoch_ms(TRY_CAST(${c('lastmodifieddate')} AS TIMESTAMPTZ)) AS lm, ` +
      `${idx('islatest') >= 0 ? `lower(${c('islatest')}) <> 'false'` : 'true'} AS latest, ${idx('isdeletemarker') >= 0 ? `lower(${c('isdeletemarker')}) = 'true'` : 'false'} AS deleted FROM ${from}`
    return {select, current: 'latest AND NOT deleted'}
  }
  const from = `read_parquet(${sqlString(file)})`
  const col = (name: string): string => `"${m.fields[idx(name)]}"`
  const select =
    `${col('key')}::VARCHAR AS k, ${col('size')}::BIGINT AS size, ${col('etag')}::VARCHAR AS etag, epoch_ms(${col('lastmodifieddate')}::TIMESTAMP) AS lm, ` +
    `${idx('islatest') >= 0 ? `coalesce(${col('islatest')}, true)` : 'true'} AS latest, ${idx('isdeletemarker') >= 0 ? `coalesce(${col('isdeletemarker')}, false)` : 'false'} AS deleted FROM ${from}`
  return {select, current: 'latest AND NOT deleted'}
}
