import {pipeline, Readable} from 'node:stream'
import {createGunzip} from 'node:zlib'
import {isUtf8} from 'node:buffer'
import {errorMessage} from '../errors.js'
import type {LogFormat, Value} from '../formats/types.js'

/** bytes of decompressed output per zlib call */
const GUNZIP_CHUNK = 256 * 1024

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

/**
 * A read that did not return the object: fewer (or more) bytes than LIST/HEAD said, or a checksum that does not
 * match. Transient: the read is retried, and an object is never loaded from such a read.
 */
export class IncompleteReadError extends Error {
  readonly $retryable = true
  readonly code = 'SENEKA_INCOMPLETE_READ'
  override readonly name = 'IncompleteReadError'
}

const CHECKSUM_MISMATCH = /checksum mismatch/i

function incompleteIfChecksum(err: unknown, what: string, bytes: number): unknown {
  if (!CHECKSUM_MISMATCH.test(errorMessage(err))) return err
  return new IncompleteReadError(`checksum mismatch reading ${what} after ${bytes} bytes (${errorMessage(err)})`, {cause: err})
}

/**
 * The object's bytes, checked against the size the listing or HEAD gave: a read that ends early or late, or
 * whose checksum does not match, fails with IncompleteReadError instead of ending normally. `allowLonger` for
 * stores that may serve an object decompressed (GCS decompressive transcoding): only a short read is caught.
 */
export async function readObject(
  read: () => Promise<Readable>,
  object: {uri: string; size: number},
  opts: {allowLonger?: boolean} = {},
): Promise<Readable> {
  let source: Readable
  try {
    source = await read()
  } catch (err) {
    throw incompleteIfChecksum(err, object.uri, 0)
  }
  const expected = Number.isFinite(object.size) && object.size >= 0 ? object.size : undefined
  return Readable.from(
    (async function* () {
      let n = 0
      try {
        for await (const chunk of source as AsyncIterable<Buffer>) {
          n += chunk.length
          yield chunk
        }
      } catch (err) {
        throw incompleteIfChecksum(err, object.uri, n)
      }
      if (expected !== undefined && (n < expected || (n > expected && !opts.allowLonger))) {
        throw new IncompleteReadError(`read ${n} of ${expected} bytes of ${object.uri} (the read ended ${n < expected ? 'early' : 'late'})`)
      }
    })(),
    {objectMode: false},
  )
}

const GZIP_MAGIC_0 = 0x1f
const GZIP_MAGIC_1 = 0x8b
/** seneka's own limit on a line, in bytes: a longer line is one rejected line */
export const MAX_LINE = 16 * 1024 * 1024
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
  // 256 KiB out per call instead of zlib's 16 KiB: the same bytes for less than half the CPU (a 131 MB ALB day:
  // 0.25-0.32 s instead of 0.59-0.82 s, docs/performance.md); the rest of the read takes chunks of any size
  const gunzip = createGunzip({chunkSize: GUNZIP_CHUNK})
  pipeline(counted, gunzip, () => {})
  return gunzip
}

/** Called for a line that cannot be a row whatever the format: over MAX_LINE bytes, or not valid UTF-8. */
export type OnBadLine = (lineNo: number, reason: string, raw: string) => void

const NL = 0x0a
const CR = 0x0d
const RAW_BYTES = 2048

/**
 * Reads an object's bytes (gzip or plain) and calls onLine for every line (without its line break, numbered
 * from 1, empty lines skipped but counted); yields after each stream chunk so callers can flush or yield.
 * Lines are split on the raw bytes: a line over MAX_LINE bytes or not valid UTF-8 goes to onBad (one rejected
 * line, the object goes on); without onBad it is passed to onLine as decoded (U+FFFD), as a counter wants.
 * Memory is bounded by one stream chunk plus one line (an over-long line is skipped, not held), whatever the
 * object size.
 */
export async function* scanLines(
  source: Readable,
  counters: ReadCounters,
  onLine: (line: string, lineNo: number) => void,
  onBad?: OnBadLine,
  /** tried first for each valid line, on its bytes b[start..end): returns true when it handled the line */
  onBytes?: (b: Buffer, start: number, end: number, lineNo: number) => boolean,
): AsyncGenerator<void> {
  const stream = await plainBytes(source, counters)
  let lineNo = 0
  let first = true
  /** the start of a line not yet ended, in pieces */
  let pending: Buffer[] = []
  let pendingBytes = 0
  /** bytes of an over-long line being skipped, or -1 */
  let skipped = -1
  let skippedHead = Buffer.alloc(0)
  const bad = (reason: string, bytes: Buffer): void => {
    const raw = bytes.toString('utf8', 0, Math.min(bytes.length, RAW_BYTES))
    if (onBad) onBad(lineNo, reason, raw)
    else onLine(bytes.toString('utf8'), lineNo)
  }
  /** one line, b[ls..le) without its \n; utf8 when the caller already knows the bytes are valid UTF-8 */
  const emit = (b: Buffer, ls: number, le: number, utf8: boolean): void => {
    lineNo++
    if (first) {
      first = false
      if (le - ls >= 3 && b[ls] === 0xef && b[ls + 1] === 0xbb && b[ls + 2] === 0xbf) ls += 3 // a UTF-8 BOM is not data
    }
    if (le > ls && b[le - 1] === CR) le--
    if (le === ls) return
    if (le - ls > MAX_LINE) return bad(`line is longer than ${MAX_LINE} bytes (${le - ls} bytes)`, b.subarray(ls, le))
    if (!utf8 && !isUtf8(b.subarray(ls, le))) return bad('not valid UTF-8', b.subarray(ls, le))
    if (onBytes?.(b, ls, le, lineNo)) return
    onLine(b.toString('utf8', ls, le), lineNo)
  }
  const handleBytes = (b: Buffer): void => emit(b, 0, b.length, false)
  const endSkipped = (tail: number): void => {
    lineNo++
    first = false
    const total = skipped + tail
    bad(`line is longer than ${MAX_LINE} bytes (${total} bytes)`, skippedHead)
    skipped = -1
  }
  /** whole lines in b (every one ends with \n, b ends with \n): decoded at once when valid UTF-8 */
  const handleRegion = (b: Buffer): void => {
    const utf8 = isUtf8(b)
    if (!onBytes && !first && b.length <= MAX_LINE && utf8) {
      const text = b.toString('utf8')
      let start = 0
      for (;;) {
        const nl = text.indexOf('\n', start)
        if (nl < 0) break
        lineNo++
        let stop = nl
        if (stop > start && text.charCodeAt(stop - 1) === 13) stop--
        if (stop > start) onLine(text.slice(start, stop), lineNo)
        start = nl + 1
      }
      return
    }
    let start = 0
    for (;;) {
      const nl = b.indexOf(NL, start)
      if (nl < 0) break
      emit(b, start, nl, utf8)
      start = nl + 1
    }
  }
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    counters.bytes += chunk.length
    let start = 0
    const firstNl = chunk.indexOf(NL)
    if (firstNl < 0) {
      if (skipped >= 0) skipped += chunk.length
      else {
        pending.push(chunk)
        pendingBytes += chunk.length
        if (pendingBytes > MAX_LINE) {
          // too long to be a log line: remember its start for the reject, drop the rest as it comes
          const all = Buffer.concat(pending)
          skippedHead = Buffer.from(all.subarray(0, RAW_BYTES))
          skipped = all.length
          pending = []
          pendingBytes = 0
        }
      }
      yield
      continue
    }
    if (skipped >= 0) {
      endSkipped(firstNl)
      start = firstNl + 1
    } else if (pendingBytes > 0) {
      pending.push(chunk.subarray(0, firstNl))
      const line = Buffer.concat(pending)
      pending = []
      pendingBytes = 0
      handleBytes(line)
      start = firstNl + 1
    }
    const lastNl = chunk.lastIndexOf(NL)
    if (lastNl >= start) handleRegion(chunk.subarray(start, lastNl + 1))
    if (lastNl + 1 < chunk.length) {
      pending.push(chunk.subarray(lastNl + 1))
      pendingBytes = chunk.length - lastNl - 1
      if (pendingBytes > MAX_LINE) {
        skippedHead = Buffer.from(chunk.subarray(lastNl + 1, lastNl + 1 + RAW_BYTES))
        skipped = pendingBytes
        pending = []
        pendingBytes = 0
      }
    }
    yield
  }
  if (skipped >= 0) endSkipped(0)
  else if (pendingBytes > 0) handleBytes(Buffer.concat(pending))
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
  const onBad: OnBadLine = (lineNo, reason, raw) => batch.rejects.push(rejectOf(raw, lineNo, reason))
  for await (const _ of scanLines(source, counters, onLine, onBad)) while (ready.length > 0) yield ready.shift()!
  while (ready.length > 0) yield ready.shift()!
  if (batch.count > 0 || batch.rejects.length > 0) yield batch
}

function newBatch(width: number): Batch {
  const columns: Value[][] = []
  for (let c = 0; c < width; c++) columns.push([])
  return {columns, lines: [], count: 0, rejects: []}
}
