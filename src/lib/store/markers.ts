/**
 * Well-known objects that are not logs: job and folder markers, checksum side files, and the test file AWS
 * writes when access logging is enabled. Backfill and stream skip them (and count them apart) instead of
 * loading them as log objects, whose lines would all be rejected.
 */
export const MARKER_DESCRIPTION = '_SUCCESS, ELBAccessLogTestFile, *.crc, *_$folder$ and folder placeholders ending in /'

export function isMarkerKey(key: string): boolean {
  if (key.endsWith('/')) return true // a "folder" created by the S3 console
  const name = key.slice(key.lastIndexOf('/') + 1)
  return name === '_SUCCESS' || name === 'ELBAccessLogTestFile' || name.endsWith('_$folder$') || name.endsWith('.crc')
}
