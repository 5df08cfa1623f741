import {createHash} from 'node:crypto'
import {createWriteStream} from 'node:fs'
import fs from 'node:fs/promises'
import {once} from 'node:events'
import os from 'node:os'
import path from 'node:path'
import {pipeline, type Readable} from 'node:stream'
import type {ColumnType, LogFormat, Value} from '../../formats/types.js'
import {ByteWriter, stageAlbLine} from './alb.js'
import {csvFormat, type RawFile, rawPlainFile, unnumbered} from './raw.js'
import {createReadStream} from 'node:fs'
import {type Batch, type OnBadLine, type ReadCounters, type Reject, rejectOf, scanLines} from '../../loader/read-object.js'

/**
 * Bulk path into DuckDB: parsed batches are written as a normalized TSV staging file that DuckDB's own
 * (C++, parallel) CSV reader ingests in one INSERT ... SELECT. Crossing from JS into DuckDB once per object
 * instead of once per value is what makes the load fast (see docs/performance.md).
 *
 * Encoding: tab-separated, "\N" for NULL, strings quoted with the control character U+0001 (doubled inside)
 * only when they contain a tab, a line break or U+0001, or are literally \N; numbers as JS prints them;
 * timestamps as integer microseconds. U+0001 rather than '"' because log text is full of quotes and JSON
 * records are nothing but: a record never needs escaping (valid JSON holds no raw control character but
 * white space), and most strings need no quoting at all.
 * The line number is the last field.
 */
/** the staging files' quote (and escape) character */
const Q = '\x01'
const NEEDS_QUOTE = /[\t\n\r\x01]/
export const NULL_TOKEN = '\\N'

function encode(v: Value): string {
  if (v === null) return NULL_TOKEN
  if (typeof v === 'number') return String(v)
  if (NEEDS_QUOTE.test(v) || v === NULL_TOKEN) return `${Q}${v.includes(Q) ? v.replaceAll(Q, Q + Q) : v}${Q}`
  return v
}

/** One staging line: the values, then the line number. */
export function encodeRow(values: Value[], lineNo: number): string {
  let line = ''
  for (let c = 0; c < values.length; c++) line += `${encode(values[c])}\t`
  return `${line}${lineNo}\n`
}

export function encodeBatch(batch: Batch, longest?: {max: number}): string {
  const cols = batch.columns
  const width = cols.length
  let out = ''
  for (let r = 0; r < batch.count; r++) {
    let line = ''
    for (let c = 0; c < width; c++) line += `${encode(cols[c][r])}\t`
    line += `${batch.lines[r]}\n`
    if (longest && line.length > longest.max) longest.max = line.length
    out += line
  }
  return out
}

export interface StageResult {
  rows: number
  /** the first KEPT_REJECTS rejected lines (messages, samples, the format guess); all of them are in rejectsFile */
  rejects: Reject[]
  /** rejected lines in all */
  rejected: number
  /** every rejected line as a staging TSV (line, reason, raw), when there is one */
  rejectsFile?: string
  /** the longest staging line written, in UTF-16 code units (at most 3 bytes each); sizes DuckDB's line buffer */
  maxLine?: number
  /** ALB lines staged by the fast path (alb.ts) in their own file; `rows` counts them too */
  fast?: {file: string; rows: number; maxLine: number}
  /**
   * the object's plain bytes for DuckDB to parse (raw.ts); `rows` is then its non-blank lines, and rows, rejects
   * and the reject rule are settled in the commit
   */
  raw?: RawFile
}

const FLUSH_CHARS = 1 << 20

/** Rejected lines kept in memory per object; the others are only in its rejects file. */
export const KEPT_REJECTS = 50

/**
 * The rejected lines of one object, written to `<file>.rejects` as they come (a wrong --format on a 2 GB object
 * rejects every line: memory must not hold them), the first KEPT_REJECTS also kept for messages.
 */
class RejectSpill {
  count = 0
  readonly kept: Reject[] = []
  private out: ReturnType<typeof createWriteStream> | undefined
  private failed: Promise<never> | undefined
  private buf = ''

  constructor(private readonly file: string) {}

  add(r: Reject): void {
    this.count++
    if (this.kept.length < KEPT_REJECTS) this.kept.push(r)
    this.buf += `${r.line}\t${encode(r.reason)}\t${encode(r.raw)}\n`
  }

  /** Writes what is buffered; waits while the file is behind (backpressure). */
  async flush(force = false): Promise<void> {
    if (this.buf.length === 0 || (!force && this.buf.length < FLUSH_CHARS)) return
    if (!this.out) {
      this.out = createWriteStream(this.file, {highWaterMark: 1 << 20})
      this.failed = once(this.out, 'error').then(([err]) => {
        throw err
      })
      this.failed.catch(() => {})
    }
    const ok = this.out.write(this.buf)
    this.buf = ''
    if (!ok) await Promise.race([once(this.out, 'drain'), this.failed!])
  }

  /** Closes the file; its name when any line was rejected. */
  async close(): Promise<string | undefined> {
    await this.flush(true)
    if (!this.out) return undefined
    const closed = Promise.race([once(this.out, 'close'), this.failed!])
    this.out.end()
    await closed
    return this.file
  }
}

/** Writes the batches to a staging file; returns the row count and the rejected lines. */
export async function stageBatches(batches: AsyncIterable<Batch>, file: string): Promise<StageResult> {
  const out = createWriteStream(file, {highWaterMark: 1 << 20})
  const failed = once(out, 'error').then(([err]) => {
    throw err
  })
  let rows = 0
  const spill = new RejectSpill(`${file}.rejects`)
  const longest = {max: 0}
  let rejectsFile: string | undefined
  try {
    for await (const batch of batches) {
      rows += batch.count
      for (const r of batch.rejects) spill.add(r)
      await spill.flush()
      if (batch.count > 0 && !out.write(encodeBatch(batch, longest))) await Promise.race([once(out, 'drain'), failed])
    }
  } finally {
    out.end()
    await Promise.race([once(out, 'close'), failed])
    rejectsFile = await spill.close()
  }
  return {rows, rejects: spill.kept, rejected: spill.count, ...(rejectsFile ? {rejectsFile} : {}), maxLine: longest.max}
}

/**
 * The direct path: reads an object's bytes, parses each line and writes its staging line at once, with no
 * intermediate batch (what worker threads run). Same output as stageBatches(readBatches(...)).
 */
export async function stageObject(source: Readable, format: LogFormat, file: string, counters: ReadCounters, opts: {fast?: boolean} = {}): Promise<StageResult> {
  const out = createWriteStream(file, {highWaterMark: 1 << 20})
  const failed = once(out, 'error').then(([err]) => {
    throw err
  })
  let fast: {file: string; rows: number; maxLine: number; out: ReturnType<typeof createWriteStream>; failed: Promise<never>; writer: ByteWriter} | undefined
  let onBytes: ((b: Buffer, start: number, end: number, lineNo: number) => boolean) | undefined
  if (opts.fast && format.name === 'alb') {
    const fastOut = createWriteStream(`${file}.fast`, {highWaterMark: 1 << 20})
    const f = {
      file: `${file}.fast`,
      rows: 0,
      maxLine: 0,
      out: fastOut,
      failed: once(fastOut, 'error').then(([err]) => {
        throw err
      }),
      writer: new ByteWriter((b) => fastOut.write(b)),
    }
    f.failed.catch(() => {})
    fast = f
    onBytes = (b, start, end, lineNo) => {
      if (!stageAlbLine(b, start, end, lineNo, f.writer)) return false
      f.rows++
      if (end - start > f.maxLine) f.maxLine = end - start
      return true
    }
  }
  const spill = new RejectSpill(`${file}.rejects`)
  const {st, onLine} = lineStager(format, spill)
  const onBad: OnBadLine = (lineNo, reason, raw) => spill.add(rejectOf(raw, lineNo, reason))
  let rejectsFile: string | undefined
  try {
    for await (const _ of scanLines(source, counters, onLine, onBad, onBytes)) {
      await spill.flush()
      if (st.buf.length >= FLUSH_CHARS) {
        const ok = out.write(st.buf)
        st.buf = ''
        if (!ok) await Promise.race([once(out, 'drain'), failed])
      }
      if (fast?.out.writableNeedDrain) await Promise.race([once(fast.out, 'drain'), fast.failed])
    }
    if (st.buf.length > 0) out.write(st.buf)
    fast?.writer.drain()
  } finally {
    // listen for both closes before waiting on either: the second file may close while the first is awaited
    const closed = [Promise.race([once(out, 'close'), failed])]
    if (fast) closed.push(Promise.race([once(fast.out, 'close'), fast.failed]))
    out.end()
    fast?.out.end()
    await Promise.all(closed)
    rejectsFile = await spill.close()
  }
  const rejected = {rejects: spill.kept, rejected: spill.count, ...(rejectsFile ? {rejectsFile} : {})}
  const {rows, maxLine} = st
  if (!fast) return {rows, ...rejected, maxLine}
  return {rows: rows + fast.rows, ...rejected, maxLine, fast: {file: fast.file, rows: fast.rows, maxLine: fast.maxLine}}
}

/** Parses a line with the format into a staging line appended to `st.buf`, or a reject into the spill. */
function lineStager(format: LogFormat, spill: RejectSpill): {st: {rows: number; maxLine: number; buf: string}; onLine: (line: string, lineNo: number) => void} {
  const width = format.columns.length
  const st = {rows: 0, maxLine: 0, buf: ''}
  const onLine = (line: string, lineNo: number): void => {
    const r = format.parse(line)
    if (!r.ok) {
      spill.add(rejectOf(line, lineNo, r.reason))
      return
    }
    const v = r.values
    if (v.length > width) v.length = width
    const staged = encodeRow(v, lineNo)
    if (staged.length > st.maxLine) st.maxLine = staged.length
    st.buf += staged
    st.rows++
  }
  return {st, onLine}
}

/**
 * Lines of one object parsed with the format as they come (the raw path's fallback): rows into the staging file
 * `file`, rejects into `<file>.rejects`, both written to disk as they grow (every line of a 2 GB object may come).
 */
export class LineStager {
  private readonly spill: RejectSpill
  private readonly stager: ReturnType<typeof lineStager>
  private written = false

  constructor(
    format: LogFormat,
    readonly file: string,
  ) {
    this.spill = new RejectSpill(`${file}.rejects`)
    this.stager = lineStager(format, this.spill)
  }

  /** Parses one line; writes what is buffered when it is large. */
  async add(text: string, lineNo: number): Promise<void> {
    this.stager.onLine(text, lineNo)
    await this.spill.flush()
    if (this.stager.st.buf.length >= FLUSH_CHARS) await this.write()
  }

  private async write(): Promise<void> {
    const {st} = this.stager
    if (st.buf.length === 0) return
    await fs.appendFile(this.file, st.buf)
    st.buf = ''
    this.written = true
  }

  async close(): Promise<StageResult> {
    await this.write()
    const rejectsFile = await this.spill.close()
    const {st} = this.stager
    return {rows: st.rows, rejects: this.spill.kept, rejected: this.spill.count, ...(rejectsFile ? {rejectsFile} : {}), maxLine: st.maxLine}
  }

  /** whether any row was written to `file` */
  get hasRows(): boolean {
    return this.written
  }
}

/**
 * The raw path (raw.ts): the object's plain bytes written once for DuckDB to parse; an object DuckDB would not
 * number line by line as the scanner does is staged from those bytes by stageObject instead.
 */
export async function stageRaw(source: Readable, format: LogFormat, file: string, counters: ReadCounters): Promise<StageResult> {
  // ALB and ELB lines are numbered in the file (DuckDB's CSV reader takes them on all its threads), JSON lines not
  const numbered = csvFormat(format.name)
  const raw = await rawPlainFile(source, `${file}.raw`, counters, numbered)
  if (raw.clean) return {rows: raw.lines, rejects: [], rejected: 0, raw: {file: raw.file, lines: raw.lines, maxLine: raw.maxLine, csv: raw.csv && numbered}}
  try {
    const again = {...counters}
    // the object's bytes again: the file without the line numbers written before each line
    const plain = numbered ? pipeline(createReadStream(raw.file), unnumbered(), () => {}) : createReadStream(raw.file)
    const staged = await stageObject(plain, format, file, again, {fast: true})
    counters.lines = again.lines
    return staged
  } finally {
    await fs.rm(raw.file, {force: true})
  }
}

/** The read_csv call over a rejects file (line, reason, raw) as RejectSpill writes it, its name in $file. */
export function stagedRejectsRead(): string {
  return `read_csv($file, delim = '\t', quote = '${Q}', escape = '${Q}', header = false, nullstr = '\\N', allow_quoted_nulls = false, auto_detect = false, new_line = '\\n', columns = {'line': 'BIGINT', 'reason': 'VARCHAR', 'raw': 'VARCHAR'})`
}

const READ_TYPES: Record<ColumnType, string> = {
  string: 'VARCHAR',
  int: 'INTEGER',
  bigint: 'BIGINT',
  double: 'DOUBLE',
  timestamp: 'BIGINT',
  json: 'VARCHAR',
}

/** DuckDB's default max_line_size (2 MB): staging files with longer lines get a larger line buffer. */
const DUCKDB_DEFAULT_MAX_LINE = 2_000_000

/**
 * The read_csv options a staging file needs for its longest line: none for ordinary files; for long lines
 * (seneka accepts log lines up to 16 MB, a staged line can be a few times that in bytes) a max_line_size and a
 * buffer that holds it.
 */
export function lineSizeOptions(maxLine: number | undefined): string {
  if (maxLine === undefined || maxLine * 3 + 64 <= DUCKDB_DEFAULT_MAX_LINE) return ''
  const bytes = maxLine * 3 + 1024
  return `, max_line_size = ${bytes}, buffer_size = ${Math.max(bytes * 2, 32 << 20)}`
}

/** The SELECT list and read_csv call that turn a staging file back into typed columns. */
export function stagedSelect(columns: ReadonlyArray<{name: string; type: ColumnType}>, quoteIdent: (s: string) => string, maxLine?: number): {select: string; read: string} {
  const defs = columns.map((c, i) => `'c${i}': '${READ_TYPES[c.type]}'`)
  defs.push(`'line': 'BIGINT'`)
  const select = columns.map((c, i) => (c.type === 'timestamp' ? `make_timestamp(c${i}) AS ${quoteIdent(c.name)}` : `c${i} AS ${quoteIdent(c.name)}`)).join(', ')
  const read = `read_csv($file, delim = '\t', quote = '${Q}', escape = '${Q}', header = false, nullstr = '\\N', allow_quoted_nulls = false, auto_detect = false, new_line = '\\n', columns = {${defs.join(', ')}}${lineSizeOptions(maxLine)})`
  return {select, read}
}

/**
 * Staging folders are named `.seneka-stage-<host>-<pid>-<random>` (host: a short hash of the host name), next to
 * the DuckDB file. A run killed with -9 cannot remove its folder; the next run that opens a loader there does.
 */
export const STAGE_PREFIX = '.seneka-stage-'
/** a folder untouched this long is abandoned whatever its owner (a live loader touches it with every object) */
export const STAGE_LEASE_MS = 24 * 3600_000

const HOST = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8)
const OWNED = /^\.seneka-stage-([0-9a-f]{8})-(\d+)-/

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' // alive, another user's
  }
}

/**
 * Removes the staging folders in `parent` left by runs that are gone: those of this host whose process no longer
 * exists, and any (older names, other hosts) not touched for STAGE_LEASE_MS. Returns the folders removed.
 */
export async function removeStaleStageDirs(parent: string, now = Date.now()): Promise<string[]> {
  let names: string[]
  try {
    names = (await fs.readdir(parent)).filter((n) => n.startsWith(STAGE_PREFIX))
  } catch {
    return []
  }
  const removed: string[] = []
  for (const name of names) {
    const dir = path.join(parent, name)
    const m = OWNED.exec(name)
    let stale = m !== null && m[1] === HOST && Number(m[2]) !== process.pid && !pidAlive(Number(m[2]))
    if (!stale) {
      const st = await fs.stat(dir).catch(() => undefined)
      stale = st !== undefined && now - st.mtimeMs > STAGE_LEASE_MS && !(m && m[1] === HOST && Number(m[2]) === process.pid)
    }
    if (!stale) continue
    await fs.rm(dir, {recursive: true, force: true}).catch(() => {})
    removed.push(dir)
  }
  return removed
}

/** Cleans up abandoned staging folders in `parent`, then creates this run's own. */
export async function openStageDir(parent: string): Promise<string> {
  await removeStaleStageDirs(parent)
  return fs.mkdtemp(path.join(parent, `${STAGE_PREFIX}${HOST}-${process.pid}-`))
}
