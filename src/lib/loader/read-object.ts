import {pipeline, Readable} from 'node:stream'
import {createGunzip} from 'node:zlib'
import type {LogFormat, Value} from '../formats/types.js'

/** A malformed line kept aside with where it came from. */
export interface Reject {
  line: number
  reason: string
  /** the line itself, cut at 2 KiB */
  raw: string
}

/** Parsed rows in columnar form (one array per format column), with their line numbers. */
export interface Batch {
  columns: Value[][]
  lines: number[]
  count: number
  rejects: Reject[]
}

export interface ReadCounters {
  /** bytes as stored (compressed when gzipped) */
  storedBytes: number
  /** bytes after decompression */
  bytes: number
  lines: number
  gzip: boolean
}

export function newCounters(): ReadCounters {
  return {storedBytes: 0, bytes: 0, lines: 0, gzip: false}
}

const GZIP_MAGIC_0 = 0x1f
const GZIP_MAGIC_1 = 0x8b
const MAX_LINE = 16 * 1024 * 1024
export const BATCH_ROWS = 2048

/** Sniffs the gzip magic bytes (not the file name) and returns a stream of plain bytes. */
export async function plainBytes(source: Readable, counters: ReadCounters): Promise<Readable> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  const first = await it.next()
  const head = first.done ? Buffer.alloc(0) : first.value
  const counted = Readable.from(
    (async function* () {
      if (head.length > 0) {
        counters.storedBytes += head.length
        yield head
      }
      for (;;) {
        const n = await it.next()
        if (n.done) return
        counters.storedBytes += n.value.length
        yield n.value
      }
    })(),
    {objectMode: false},
  )
  counters.gzip = head.length >= 2 && head[0] === GZIP_MAGIC_0 && head[1] === GZIP_MAGIC_1
  if (!counters.gzip) return counted
  const gunzip = createGunzip()
  pipeline(counted, gunzip, () => {})
  return gunzip
}

/**
 * Reads an object's bytes (gzip or plain) and calls onLine for every line (without its line break, numbered
 * from 1, empty lines skipped but counted); yields after each stream chunk so callers can flush or yield.
 * Memory is bounded by one stream chunk plus one line, whatever the object size.
 */
export async function* scanLines(source: Readable, counters: ReadCounters, onLine: (line: string, lineNo: number) => void): AsyncGenerator<void> {
  const stream = await plainBytes(source, counters)
  const decoder = new TextDecoder('utf-8')
  let carry = ''
  let lineNo = 0
  const handle = (line: string): void => {
    lineNo++
    if (line.length > 0 && line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1)
    if (line.length > 0) onLine(line, lineNo)
  }
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    counters.bytes += chunk.length
    const text = carry + decoder.decode(chunk, {stream: true})
    let start = 0
    for (;;) {
      const nl = text.indexOf('\n', start)
      if (nl < 0) break
      handle(text.slice(start, nl))
      start = nl + 1
    }
    carry = start === 0 ? text : text.slice(start)
    if (carry.length > MAX_LINE) throw new Error(`line ${lineNo + 1} is longer than ${MAX_LINE} bytes (not a log file?)`)
    yield
  }
  carry += decoder.decode()
  if (carry.length > 0) handle(carry)
  counters.lines = lineNo
}

export function rejectOf(line: string, lineNo: number, reason: string): Reject {
  return {line: lineNo, reason, raw: line.length > 2048 ? line.slice(0, 2048) : line}
}

/**
 * Reads an object's bytes (gzip or plain), splits lines, parses them with the format and yields batches
 * of at most BATCH_ROWS rows. Memory is bounded by a batch plus one stream chunk, whatever the object size.
 */
export async function* readBatches(source: Readable, format: LogFormat, counters: ReadCounters): AsyncGenerator<Batch> {
  const width = format.columns.length
  const ready: Batch[] = []
  let batch = newBatch(width)
  const onLine = (line: string, lineNo: number): void => {
    const r = format.parse(line)
    if (r.ok) {
      const v = r.values
      for (let c = 0; c < width; c++) batch.columns[c].push(v[c] === undefined ? null : v[c])
      batch.lines.push(lineNo)
      if (++batch.count >= BATCH_ROWS) {
        ready.push(batch)
        batch = newBatch(width)
      }
    } else {
      batch.rejects.push(rejectOf(line, lineNo, r.reason))
    }
  }
  for await (const _ of scanLines(source, counters, onLine)) while (ready.length > 0) yield ready.shift()!
  while (ready.length > 0) yield ready.shift()!
  if (batch.count > 0 || batch.rejects.length > 0) yield batch
}

function newBatch(width: number): Batch {
  const columns: Value[][] = []
  for (let c = 0; c < width; c++) columns.push([])
  return {columns, lines: [], count: 0, rejects: []}
}
