import {isUtf8} from 'node:buffer'
import {createWriteStream} from 'node:fs'
import {once} from 'node:events'
import type {Readable} from 'node:stream'
import {MAX_LINE, plainBytes, type ReadCounters} from '../../loader/read-object.js'

/**
 * The raw path of ALB logs into DuckDB: the object's bytes are decompressed once (zlib) and written as they are
 * to a file that DuckDB reads itself, one line per row, numbered by position (`row_number() OVER ()` over one
 * file keeps its order), and split and typed in SQL (albRawSelect). No JavaScript looks at a field: Node only
 * proves the file is one DuckDB numbers exactly as the line scanner does (rawPlainFile: valid UTF-8, no CR, NUL or
 * U+0001, no line over MAX_LINE); an object that is not is staged by the JavaScript
 * path instead. A line SQL cannot prove ordinary (rawOrdinaryRegex and the typed checks) goes to the ALB parser
 * in the commit, so rows, values and rejects are the parser's (test/lib/warehouse/duckdb-alb.test.ts).
 */

/** the object's plain bytes on disk, and what DuckDB needs to read them */
export interface RawFile {
  file: string
  /** non-blank lines (rows or rejects) */
  lines: number
  /** the longest line in bytes */
  maxLine: number
}

const NL = 0x0a
const CR = 0x0d

/**
 * Writes the object's plain bytes to `file` and says whether DuckDB's line reader numbers its lines as scanLines
 * does (`clean`). Counts bytes and lines into `counters` as scanLines would.
 */
export async function rawPlainFile(source: Readable, file: string, counters: ReadCounters): Promise<RawFile & {clean: boolean}> {
  const plain = await plainBytes(source, counters)
  const out = createWriteStream(file, {highWaterMark: 1 << 20})
  const failed = once(out, 'error').then(([err]) => {
    throw err
  })
  failed.catch(() => {})
  let clean = true
  let lines = 0
  let nonBlank = 0
  let maxLine = 0
  /** bytes of the line under way before this chunk */
  let carry = 0
  /** the bytes after the last line feed so far, for the UTF-8 check (a character may be cut between chunks) */
  let tail: Buffer[] = []
  let first = true
  try {
    for await (const chunk of plain as AsyncIterable<Buffer>) {
      counters.bytes += chunk.length
      if (first) {
        first = false
        // a UTF-8 BOM is not data (both readers drop it): the first line is that much shorter
        if (chunk.length < 3) clean = false
        else if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) carry = -3
      }
      if (!out.write(chunk)) await Promise.race([once(out, 'drain'), failed])
      if (!clean) continue
      // DuckDB's line reader takes a CR for a line break of its own (CRLF too: an extra empty row), NUL and
      // U+0001 (its delimiter) cut a line: objects with any of them are staged by the line scanner
      if (chunk.indexOf(CR) >= 0 || chunk.indexOf(0) >= 0 || chunk.indexOf(1) >= 0) clean = false
      let start = 0
      for (let nl = chunk.indexOf(NL); nl >= 0; nl = chunk.indexOf(NL, start)) {
        const len = carry + nl - start
        lines++
        if (len > 0) nonBlank++
        if (len > maxLine) maxLine = len
        carry = 0
        start = nl + 1
      }
      carry += chunk.length - start
      // UTF-8 of whole lines only
      const lastNl = chunk.lastIndexOf(NL)
      if (lastNl >= 0) {
        const region = tail.length > 0 ? Buffer.concat([...tail, chunk.subarray(0, lastNl + 1)]) : chunk.subarray(0, lastNl + 1)
        if (!isUtf8(region)) clean = false
        tail = lastNl + 1 < chunk.length ? [Buffer.from(chunk.subarray(lastNl + 1))] : []
      } else {
        tail.push(Buffer.from(chunk))
      }
      if (maxLine > MAX_LINE || carry > MAX_LINE) clean = false
    }
    if (carry > 0) {
      lines++
      nonBlank++
      if (carry > maxLine) maxLine = carry
      if (!isUtf8(Buffer.concat(tail))) clean = false
    }
    if (maxLine > MAX_LINE) clean = false
  } finally {
    const closed = Promise.race([once(out, 'close'), failed])
    out.end()
    await closed
  }
  counters.lines = lines
  return {file, lines: nonBlank, maxLine, clean}
}

/**
 * The raw path is taken with SENEKA_DUCKDB_RAW=1; by default ALB lines take the JavaScript fast path, which costs
 * less CPU for now (docs/performance.md: splitting and typing a whole line in SQL costs more than the scan).
 */
export function rawEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.SENEKA_DUCKDB_RAW === '1'
}

/** where a line SQL could not prove ordinary waits for the parser: never a load path's name */
export const FALLBACK_MARK = '\u0002fallback'

const B = String.raw`[^ "\\\x00-\x1f]+`
const Q = String.raw`"[^"\\\x00-\x1f]*"`
const TS = String.raw`\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?Z`
const DBL = String.raw`(?:-|-?\d{1,20}(?:\.\d{1,19})?)`
const INT = String.raw`(?:-|-?\d{1,10})`
const BIG = String.raw`(?:-|-?\d{1,18})`
const HP = String.raw`(?:-|[^ "\\\x00-\x1f:\[\]]*:\d{1,10})`
const REQ_END = String.raw`[!#-\[\]-~]`
const REQ_MID = String.raw`[^ "\\\x00-\x1f]*`
const REQ = `"${REQ_END}${REQ_MID} ${REQ_MID} ${REQ_MID}${REQ_END}"`

/**
 * An ordinary ALB line as AWS writes it: every field in its place, quoted where AWS quotes it, no escapes or
 * control characters, numbers and timestamps in their plain forms; fields appended later are allowed (and cut).
 */
export const ALB_ORDINARY = [
  '(?:http|https|h2|grpcs|ws|wss)', TS, B, HP, HP, DBL, DBL, DBL, INT, INT, BIG, BIG, REQ, Q, B, B, B, Q, Q, Q, INT,
  `(?:-|${TS})`, Q, Q, Q, Q, Q, Q, Q, B, Q, Q, Q,
].join(' ') + `(?: (?:${B}|${Q}))*`

/**
 * How the ALB columns (alb.ts order) come from one raw file read by rawRead (columns `line`, `l`): `inner` splits
 * a line, `ordinary` (over inner's columns) says whether SQL types it as the parser would, and `select` (over
 * inner's columns and `seneka_ord`, the ordinary flag) gives the values; a line that is not ordinary keeps its
 * text in `elb` for the parser.
 */
export function albRawSelect(columns: ReadonlyArray<{name: string}>, quoteIdent: (s: string) => string): {select: string; ordinary: string; inner: string} {
  // quote-separated segments: s[1] holds f0..f11, s[5] f14..f16, s[11] f20..f21, s[25] f29; the others are quoted fields
  const inner = `line, l, regexp_full_match(l, '${ALB_ORDINARY}') AS seneka_ok, string_split(l, '"') AS s, string_split(s[1], ' ') AS b1, string_split(s[5], ' ') AS b5, string_split(s[11], ' ') AS b11, string_split(s[25], ' ') AS b25`
  const text = (x: string): string => `CASE WHEN ${x} = '-' THEN NULL ELSE ${x} END`
  const ip = (x: string): string => `CASE WHEN ${x} = '-' THEN NULL ELSE split_part(${x}, ':', 1) END`
  const port = (x: string): string => `TRY_CAST(split_part(${x}, ':', 2) AS INTEGER)`
  const part = (n: number): string => `CASE WHEN split_part(s[2], ' ', ${n}) IN ('', '-') THEN NULL ELSE split_part(s[2], ' ', ${n}) END`
  const exprs = [
    'b1[1]', 'TRY_CAST(b1[2] AS TIMESTAMP)', `CASE WHEN seneka_ord THEN ${text('b1[3]')} ELSE l END`, ip('b1[4]'), port('b1[4]'), ip('b1[5]'), port('b1[5]'),
    'TRY_CAST(b1[6] AS DOUBLE)', 'TRY_CAST(b1[7] AS DOUBLE)', 'TRY_CAST(b1[8] AS DOUBLE)', 'TRY_CAST(b1[9] AS INTEGER)', 'TRY_CAST(b1[10] AS INTEGER)',
    'TRY_CAST(b1[11] AS BIGINT)', 'TRY_CAST(b1[12] AS BIGINT)', part(1), part(2), part(3),
    text('s[4]'), text('b5[2]'), text('b5[3]'), text('b5[4]'), text('s[6]'), text('s[8]'), text('s[10]'), 'TRY_CAST(b11[2] AS INTEGER)', 'TRY_CAST(b11[3] AS TIMESTAMP)',
    ...[12, 14, 16, 18, 20, 22, 24].map((i) => text(`s[${i}]`)), text('b25[2]'), ...[26, 28, 30].map((i) => text(`s[${i}]`)),
  ]
  if (exprs.length !== columns.length) throw new Error(`ALB raw path: ${exprs.length} expressions for ${columns.length} columns`)
  // what the regular expression cannot say: real dates, years from 1, ports and integers in range
  const typedOrDash = (raw: string, typed: string): string => `(${raw} = '-' OR ${typed} IS NOT NULL)`
  const ordinary = [
    'seneka_ok',
    `b1[2] >= '0001'`,
    'TRY_CAST(b1[2] AS TIMESTAMP) IS NOT NULL',
    typedOrDash('b1[4]', port('b1[4]')),
    typedOrDash('b1[5]', port('b1[5]')),
    typedOrDash('b1[9]', 'TRY_CAST(b1[9] AS INTEGER)'),
    typedOrDash('b1[10]', 'TRY_CAST(b1[10] AS INTEGER)'),
    typedOrDash('b11[2]', 'TRY_CAST(b11[2] AS INTEGER)'),
    `(b11[3] = '-' OR (b11[3] >= '0001' AND TRY_CAST(b11[3] AS TIMESTAMP) IS NOT NULL))`,
  ].join(' AND ')
  const select = columns.map((c, i) => `${exprs[i]} AS ${quoteIdent(c.name)}`).join(', ')
  return {select, ordinary, inner}
}

/** DuckDB's default max_line_size */
const DUCKDB_DEFAULT_MAX_LINE = 2_000_000

/** read_csv of a raw file as one VARCHAR column `l` per line (blank lines NULL), numbered `line` by position. */
export function rawRead(fileLiteral: string, maxLine: number): string {
  const size = maxLine + 64 <= DUCKDB_DEFAULT_MAX_LINE ? '' : `, max_line_size = ${maxLine + 1024}, buffer_size = ${Math.max((maxLine + 1024) * 2, 32 << 20)}`
  return `(SELECT row_number() OVER () AS line, l FROM read_csv(${fileLiteral}, columns = {'l': 'VARCHAR'}, delim = '\u0001', quote = '', escape = '', header = false, auto_detect = false, strict_mode = false, new_line = '\\n'${size}))`
}
