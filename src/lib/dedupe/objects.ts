import {stringify} from 'csv-stringify/sync'
import fs from 'node:fs/promises'
import type {Readable} from 'node:stream'
import pLimit from 'p-limit'
import {errorMessage, UsageError, UserError} from '../errors.js'
import {newCounters, plainBytes} from '../loader/read-object.js'
import {requireFolderOf} from '../output/files.js'
import {openStore, parseLocation, type ObjectInfo, type StoreFactories, type StoreOptions} from '../store/index.js'
import {analyzePartition, type OffsetFile, type OffsetGap, type OverlappingFile, type PartitionAnalysis, type RedundantFile} from './intervals.js'

export interface NamePattern {
  /** kafka-connect | secor | custom */
  name: string
  regex: RegExp
}

/** Kafka Connect S3 sink: <topic>+<partition>+<startOffset>.<ext>, matched on the file name. */
const KAFKA_CONNECT = /(?:^|\/)(?<topic>[^/+]+)\+(?<partition>\d+)\+(?<offset>\d+)(?:\.[^/]*)?$/
/** Secor: <generation>_<partition>_<zero-padded offset>.<ext>, matched on the file name (topic from the folders). */
const SECOR = /(?:^|\/)(?<generation>\d+)_(?<partition>\d+)_(?<offset>\d+)(?:\.[^/]*)?$/

export const NAME_PATTERNS = ['kafka-connect', 'secor'] as const

/**
 * Parses --name-pattern: `kafka-connect`, `secor`, or a regular expression with named groups `partition` and
 * `offset` (and optionally `topic`), matched against the object key.
 */
export function parseNamePattern(value: string): NamePattern {
  if (value === 'kafka-connect') return {name: value, regex: KAFKA_CONNECT}
  if (value === 'secor') return {name: value, regex: SECOR}
  let regex: RegExp
  try {
    regex = new RegExp(value)
  } catch (err) {
    throw new UsageError(`--name-pattern "${value}" is not a valid regular expression (${errorMessage(err)}).`, 'Use kafka-connect, secor, or a regex such as "(?<partition>\\d+)-(?<offset>\\d+)\\.json$".')
  }
  for (const g of ['partition', 'offset']) {
    if (!value.includes(`(?<${g}>`)) {
      throw new UsageError(`--name-pattern needs a named group "${g}".`, 'For example "(?<topic>[^/]+)/(?<partition>\\d+)-(?<offset>\\d+)\\.json$".')
    }
  }
  return {name: 'custom', regex}
}

export interface ParsedName {
  topic: string
  partition: number
  startOffset: number
}

export function parseObjectName(key: string, pattern: NamePattern): ParsedName | undefined {
  const m = pattern.regex.exec(key)
  const g = m?.groups
  if (!g || g.partition === undefined || g.offset === undefined) return undefined
  const partition = Number(g.partition)
  const startOffset = Number(g.offset)
  if (!Number.isSafeInteger(partition) || !Number.isSafeInteger(startOffset) || partition < 0 || startOffset < 0) return undefined
  return {topic: g.topic ?? '', partition, startOffset}
}

const LF = 0x0a
const CR = 0x0d

/**
 * Counts records (non-empty lines) of an object, gunzipping when the bytes start with the gzip magic
 * (multi-member gzip included). Memory is one stream chunk whatever the size.
 */
export async function countRecords(source: Readable): Promise<{records: number; gzip: boolean}> {
  const counters = newCounters()
  const bytes = await plainBytes(source, counters)
  const {gzip} = counters
  let records = 0
  let content = false // the current line has a byte other than CR
  for await (const chunk of bytes as AsyncIterable<Buffer>) {
    let start = 0
    for (;;) {
      const nl = chunk.indexOf(LF, start)
      const end = nl < 0 ? chunk.length : nl
      if (!content) {
        for (let j = start; j < end; j++) {
          if (chunk[j] !== CR) {
            content = true
            break
          }
        }
      }
      if (nl < 0) break
      if (content) records++
      content = false
      start = nl + 1
    }
  }
  if (content) records++
  return {records, gzip}
}

export interface ObjectDedupeOptions {
  location: string
  pattern: NamePattern
  concurrency: number
  storeOptions?: StoreOptions
  factories?: StoreFactories
  /** --apply: where to write the list of redundant objects (JSON) */
  output?: string
  /** --apply: S3 Batch Operations manifest (CSV bucket,key) [default: <output>.manifest.csv] */
  manifest?: string
  onProgress?: (p: {done: number; total: number; bytesDone: number; bytesTotal: number; rows: number}) => void
}

export interface ObjectDedupeResult {
  mode: 'objects'
  location: string
  pattern: string
  /** objects listed under the prefix */
  objects: number
  /** objects whose name did not match the pattern (left out of the analysis) */
  unmatched: number
  unmatchedSamples: string[]
  totals: {
    files: number
    records: number
    partitions: number
    redundantFiles: number
    redundantRecords: number
    overlappingFiles: number
    overlappingRecords: number
    duplicateRecords: number
    gaps: number
    missingRecords: number
    emptyFiles: number
  }
  partitions: Array<Omit<PartitionAnalysis, 'kept' | 'redundant' | 'overlapping' | 'gaps' | 'empty'> & {redundantFiles: number; overlappingFiles: number; gaps: number}>
  redundant: RedundantFile[]
  overlapping: OverlappingFile[]
  gaps: OffsetGap[]
  duplicatesFound: boolean
  requests: {list: number; get: number}
  /** what --apply wrote (nothing is ever deleted) */
  written: {output: string; manifest: string | null; objects: number} | null
}

/** Lists the prefix, counts records per matching object, and finds redundant, overlapping and missing offsets. */
export async function analyzeObjects(opts: ObjectDedupeOptions): Promise<ObjectDedupeResult> {
  const loc = parseLocation(opts.location)
  const store = openStore(loc, opts.storeOptions, opts.factories)
  try {
    const matched: Array<{info: ObjectInfo; name: ParsedName}> = []
    let objects = 0
    const unmatchedSamples: string[] = []
    let unmatched = 0
    for await (const info of store.list(loc.prefix)) {
      objects++
      const name = parseObjectName(info.key, opts.pattern)
      if (name) matched.push({info, name})
      else {
        unmatched++
        if (unmatchedSamples.length < 5) unmatchedSamples.push(info.uri)
      }
    }
    // nothing to analyze is not "no duplicates": say why
    const where = store.uri(loc.prefix)
    if (objects === 0) {
      throw new UserError(`There are no objects under ${where}, so nothing was checked.`, {suggestion: 'Check the prefix (keys are case-sensitive) and the bucket or folder.'})
    }
    if (matched.length === 0) {
      const pattern = opts.pattern.name === 'custom' ? opts.pattern.regex.source : opts.pattern.name
      throw new UserError(`None of the ${objects} objects under ${where} has a name that matches --name-pattern ${pattern} (for example ${unmatchedSamples[0]}), so nothing was checked.`, {
        suggestion: 'Use --name-pattern kafka-connect or secor, or a regex with named groups partition and offset that matches these names.',
      })
    }
    const limit = pLimit(Math.max(1, opts.concurrency))
    let done = 0
    let bytesDone = 0
    let recordsDone = 0
    const bytesTotal = matched.reduce((s, m) => s + m.info.size, 0)
    const files: OffsetFile[] = await Promise.all(
      matched.map(({info, name}) =>
        limit(async () => {
          let records: number
          try {
            ;({records} = await countRecords(await store.read(info.key)))
          } catch (err) {
            if (err instanceof UserError) throw err
            throw new UserError(`Cannot count the records of ${info.uri}: ${errorMessage(err)}.`, {suggestion: 'Check that the object is readable line-oriented text (plain or gzip).', cause: err})
          }
          bytesDone += info.size
          recordsDone += records
          opts.onProgress?.({done: ++done, total: matched.length, bytesDone, bytesTotal, rows: recordsDone})
          return {
            uri: info.uri,
            key: info.key,
            topic: name.topic,
            partition: name.partition,
            startOffset: name.startOffset,
            records,
            endOffset: name.startOffset + records,
            lastModified: info.lastModified,
            size: info.size,
          }
        }),
      ),
    )
    const groups = new Map<string, OffsetFile[]>()
    for (const f of files) {
      const k = `${f.topic}\u0000${f.partition}`
      const g = groups.get(k)
      if (g) g.push(f)
      else groups.set(k, [f])
    }
    const analyses = [...groups.values()]
      .map(analyzePartition)
      .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
    const redundant = analyses.flatMap((a) => a.redundant)
    const overlapping = analyses.flatMap((a) => a.overlapping)
    const gaps = analyses.flatMap((a) => a.gaps)
    const result: ObjectDedupeResult = {
      mode: 'objects',
      location: opts.location,
      pattern: opts.pattern.name === 'custom' ? opts.pattern.regex.source : opts.pattern.name,
      objects,
      unmatched,
      unmatchedSamples,
      totals: {
        files: files.length,
        records: files.reduce((s, f) => s + f.records, 0),
        partitions: analyses.length,
        redundantFiles: redundant.length,
        redundantRecords: redundant.reduce((s, f) => s + f.records, 0),
        overlappingFiles: overlapping.length,
        overlappingRecords: overlapping.reduce((s, f) => s + f.overlapRecords, 0),
        duplicateRecords: analyses.reduce((s, a) => s + a.duplicateRecords, 0),
        gaps: gaps.length,
        missingRecords: gaps.reduce((s, g) => s + g.missing, 0),
        emptyFiles: analyses.reduce((s, a) => s + a.empty.length, 0),
      },
      partitions: analyses.map(({kept: _k, redundant: r, overlapping: o, gaps: g, empty: _e, ...rest}) => ({
        ...rest,
        redundantFiles: r.length,
        overlappingFiles: o.length,
        gaps: g.length,
      })),
      redundant,
      overlapping,
      gaps,
      duplicatesFound: redundant.length > 0 || overlapping.length > 0,
      requests: {list: store.stats.list, get: store.stats.get},
      written: null,
    }
    if (opts.output) result.written = await writeOutputs(result, loc.scheme === 's3' ? loc.bucket : null, opts.output, opts.manifest)
    return result
  } finally {
    await store.close()
  }
}

/**
 * Object keys in an S3 Batch Operations CSV manifest must be URL-encoded ("+" in Kafka Connect names would
 * otherwise read as a space); "/" stays as it is.
 */
export function manifestKey(key: string): string {
  return encodeURIComponent(key).replaceAll('%2F', '/')
}

async function writeOutputs(
  r: ObjectDedupeResult,
  bucket: string | null,
  output: string,
  manifest: string | undefined,
): Promise<NonNullable<ObjectDedupeResult['written']>> {
  const list = {
    location: r.location,
    pattern: r.pattern,
    generatedAt: new Date().toISOString(),
    note: 'Redundant objects: every record of each is in the kept objects listed in coveredBy. seneka deleted nothing.',
    objects: r.redundant.map((f) => ({
      uri: f.uri,
      key: f.key,
      topic: f.topic,
      partition: f.partition,
      startOffset: f.startOffset,
      endOffset: f.endOffset,
      records: f.records,
      size: f.size,
      coveredBy: f.coveredBy,
      identicalTo: f.identicalTo,
    })),
  }
  const manifestPath = bucket === null ? null : (manifest ?? `${output.replace(/\.json$/i, '')}.manifest.csv`)
  requireFolderOf(output, 'output file', '--output')
  if (manifestPath) requireFolderOf(manifestPath, 'manifest file', '--manifest')
  await fs.writeFile(output, JSON.stringify(list, null, 2) + '\n')
  if (manifestPath) await fs.writeFile(manifestPath, stringify(r.redundant.map((f) => [bucket, manifestKey(f.key)])))
  return {output, manifest: manifestPath, objects: r.redundant.length}
}
