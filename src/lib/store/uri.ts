import {statSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {UsageError} from '../errors.js'

export interface ParsedLocation {
  scheme: 'file' | 's3' | 'gs'
  /** bucket, or absolute folder for file */
  bucket: string
  /** key prefix inside the bucket ("" for the whole bucket/folder) */
  prefix: string
  /** the location names one object (a local file): read it by name, never list */
  object?: boolean
}

/**
 * Parses a source location: s3://bucket/prefix, gs://bucket/prefix, file:///abs/path, or a plain path.
 * For local paths the bucket is the folder itself and the prefix is empty, unless the path names a file,
 * in which case the bucket is its folder and the prefix its name.
 */
export function parseLocation(value: string): ParsedLocation {
  const m = /^(s3|gs):\/\/([^/]+)\/?(.*)$/.exec(value)
  if (m) {
    const bucket = m[2]
    if (!/^[a-z0-9][a-z0-9.\-_]{1,221}[a-z0-9]$/.test(bucket)) {
      throw new UsageError(`"${bucket}" in ${value} is not a valid bucket name.`, 'Bucket names are 3-63 lowercase letters, digits, dots and hyphens.')
    }
    return {scheme: m[1] as 's3' | 'gs', bucket, prefix: m[3]}
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && !value.startsWith('file://')) {
    throw new UsageError(`Unsupported location "${value}".`, 'Use a local folder, file:///path, s3://bucket/prefix or gs://bucket/prefix.')
  }
  const local = path.resolve(value.startsWith('file://') ? fileURLToPath(value) : value)
  if (statSync(local, {throwIfNoEntry: false})?.isFile()) return {scheme: 'file', bucket: path.dirname(local), prefix: path.basename(local), object: true}
  return {scheme: 'file', bucket: local, prefix: ''}
}
