import {ListObjectsV2Command, PutObjectCommand, type S3Client} from '@aws-sdk/client-s3'
import {DuckDBInstance} from '@duckdb/node-api'
import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {gzipSync} from 'node:zlib'
import {tempDir} from './tmp.js'

export interface InventoryRow {
  key: string
  size: number
  etag: string
  lastModified: Date
}

const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex')

/** Every object of a bucket as S3 lists it (the rows an S3 Inventory of it would have). */
export async function listAll(s3: S3Client, bucket: string): Promise<InventoryRow[]> {
  const out: InventoryRow[] = []
  let token: string | undefined
  do {
    const res = await s3.send(new ListObjectsV2Command({Bucket: bucket, ContinuationToken: token}))
    for (const o of res.Contents ?? []) out.push({key: o.Key!, size: o.Size!, etag: o.ETag!.replaceAll('"', ''), lastModified: o.LastModified!})
    token = res.IsTruncated ? res.NextContinuationToken : undefined
  } while (token)
  return out
}

/** S3 Inventory's CSV: no header, every field quoted, keys URL-encoded (space as "+"). */
export function inventoryCsv(bucket: string, rows: InventoryRow[]): Buffer {
  const enc = (k: string): string => encodeURIComponent(k).replaceAll('%2F', '/').replaceAll('%20', '+')
  const lines = rows.map((r) => [bucket, enc(r.key), String(r.size), r.lastModified.toISOString(), r.etag, 'STANDARD'].map((v) => `"${v}"`).join(','))
  return gzipSync(lines.join('\n') + '\n')
}

/** S3 Inventory's Parquet (columns bucket, key, size, last_modified_date, e_tag, storage_class), written by DuckDB. */
export async function inventoryParquet(bucket: string, rows: InventoryRow[]): Promise<Buffer> {
  const dir = tempDir('inv-parquet')
  const file = path.join(dir, 'data.parquet')
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  await conn.run(`CREATE TABLE t (bucket VARCHAR, key VARCHAR, size BIGINT, last_modified_date TIMESTAMP, e_tag VARCHAR, storage_class VARCHAR)`)
  const app = await conn.createAppender('t')
  for (const r of rows) {
    app.appendVarchar(bucket)
    app.appendVarchar(r.key)
    app.appendBigInt(BigInt(r.size))
    app.appendVarchar(r.lastModified.toISOString().replace('T', ' ').replace('Z', ''))
    app.appendVarchar(r.etag)
    app.appendVarchar('STANDARD')
    app.endRow()
  }
  app.closeSync()
  await conn.run(`COPY t TO '${file}' (FORMAT parquet)`)
  conn.closeSync()
  db.closeSync()
  return readFileSync(file)
}

export const CSV_SCHEMA = 'Bucket, Key, Size, LastModifiedDate, ETag, StorageClass'
export const PARQUET_SCHEMA =
  'message s3.inventory { required binary bucket (STRING); required binary key (STRING); optional int64 size; optional int64 last_modified_date (TIMESTAMP(MILLIS,true)); optional binary e_tag (STRING); optional binary storage_class (STRING); }'

/**
 * Writes an inventory run to the inventory bucket the way S3 delivers one: data file(s) under
 * <prefix>/<source>/<config>/data/, manifest.json and manifest.checksum under <prefix>/<source>/<config>/<date>/.
 * `tamper` changes the manifest before it is written. Returns the manifest's s3:// URI.
 */
export async function putInventory(
  s3: S3Client,
  opts: {bucket: string; source: string; rows: InventoryRow[]; format?: 'CSV' | 'Parquet'; created?: Date; files?: number; tamper?: (m: Record<string, unknown>) => void; checksum?: string},
): Promise<string> {
  const format = opts.format ?? 'CSV'
  const base = `inv/${opts.source}/daily`
  const created = opts.created ?? new Date('2024-06-01T01:00:00Z')
  const stamp = created.toISOString().slice(0, 16).replace(':', '-') + 'Z'
  const parts = opts.files ?? 1
  const files = []
  for (let i = 0; i < parts; i++) {
    const rows = opts.rows.filter((_r, j) => j % parts === i)
    const body = format === 'CSV' ? inventoryCsv(opts.source, rows) : await inventoryParquet(opts.source, rows)
    const key = `${base}/data/part-${i}.${format === 'CSV' ? 'csv.gz' : 'parquet'}`
    await s3.send(new PutObjectCommand({Bucket: opts.bucket, Key: key, Body: body}))
    files.push({key, size: body.length, MD5checksum: md5(body)})
  }
  const manifest: Record<string, unknown> = {
    sourceBucket: opts.source,
    destinationBucket: `arn:aws:s3:::${opts.bucket}`,
    version: '2016-11-30',
    creationTimestamp: String(created.getTime()),
    fileFormat: format,
    fileSchema: format === 'CSV' ? CSV_SCHEMA : PARQUET_SCHEMA,
    files,
  }
  opts.tamper?.(manifest)
  const text = JSON.stringify(manifest)
  await s3.send(new PutObjectCommand({Bucket: opts.bucket, Key: `${base}/${stamp}/manifest.json`, Body: text}))
  await s3.send(new PutObjectCommand({Bucket: opts.bucket, Key: `${base}/${stamp}/manifest.checksum`, Body: opts.checksum ?? md5(text)}))
  return `s3://${opts.bucket}/${base}/${stamp}/manifest.json`
}
