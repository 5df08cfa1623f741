import {isUtf8} from 'node:buffer'
import {type FileHandle, open} from 'node:fs/promises'
import {type Readable, Transform} from 'node:stream'
import {MAX_LINE, plainBytes, type ReadCounters} from '../../loader/read-object.js'
import {LB_LAYOUTS} from '../../formats/lb-bytes.js'
import type {Column} from '../../formats/types.js'
import {jsonlRawFormat, jsonlSelect, type JsonlRawOptions} from './jsonl-raw.js'

/**
 * The raw path of ALB and ELB logs (and JSON lines: jsonl-raw.ts) into DuckDB: the object's bytes are decompressed once (zlib) and written
 * to a file that DuckDB reads itself, one line per row, each line after its number and a space (rawPlainFile: the
 * number is a column DuckDB reads, so no statement depends on the order rows come in and DuckDB reads and inserts
 * on all its threads), and split and typed in SQL (rawSelect). No JavaScript looks at a field: Node only proves
 * the file is one DuckDB splits into lines exactly as the line scanner does (rawPlainFile: valid UTF-8, no CR,
 * NUL or U+0001, no line over MAX_LINE); an object that is not is staged by the JavaScript path instead, from the
 * same file without the numbers (unnumbered). A line SQL cannot prove ordinary (ordinaryRegex and the typed
 * checks) goes to the format's parser in the commit, so rows, values and rejects are the parser's
 * (test/lib/warehouse/duckdb-alb.test.ts).
 */

/** the object's plain bytes on disk, and what DuckDB needs to read them */
export interface RawFile {
  file: string
  /** non-blank lines (rows or rejects) */
  lines: number
  /** the longest line in bytes */
  maxLine: number
  /** no blank line and no BOM: DuckDB's CSV reader numbers its rows as the lines (csvRead) */
  csv: boolean
}

const NL = 0x0a
const CR = 0x0d
const SP = 0x20
/** the longest line number Node writes before a line, with its space */
const NUMBER_BYTES = 17

/**
 * Writes a raw file: each line after its number (1-based, blank lines counted) and a space, through one buffer
 * reused for the whole file (no garbage per chunk in the parse workers).
 */
class NumberedWriter {
  private readonly buf = Buffer.allocUnsafe(1 << 20)
  private pos = 0
  private n = 0
  private atStart = true
  /** `numbered` false: the bytes as they are (JSON lines: DuckDB numbers them in order, lineThreads) */
  constructor(
    private readonly fh: FileHandle,
    private readonly numbered: boolean,
  ) {}

  private async writeAll(b: Buffer, start: number, end: number): Promise<void> {
    for (let off = start; off < end; ) off += (await this.fh.write(b, off, end - off)).bytesWritten
  }

  private async flush(): Promise<void> {
    await this.writeAll(this.buf, 0, this.pos)
    this.pos = 0
  }

  /** bytes written as they are (a BOM before the first number) */
  async plain(b: Buffer): Promise<void> {
    await this.flush()
    await this.writeAll(b, 0, b.length)
  }

  /** `chunk` from `from`, each line started in it after its number */
  async add(chunk: Buffer, from: number): Promise<void> {
    let start = from
    if (!this.numbered) {
      if (this.pos + chunk.length - start > this.buf.length) await this.flush()
      if (chunk.length - start > this.buf.length) await this.writeAll(chunk, start, chunk.length)
      else this.pos += chunk.copy(this.buf, this.pos, start, chunk.length)
      return
    }
    while (start < chunk.length) {
      if (this.atStart) {
        if (this.pos + NUMBER_BYTES > this.buf.length) await this.flush()
        this.pos += this.buf.write(String(++this.n), this.pos, 'latin1')
        this.buf[this.pos++] = SP
        this.atStart = false
      }
      const nl = chunk.indexOf(NL, start)
      const end = nl < 0 ? chunk.length : nl + 1
      if (this.pos + end - start > this.buf.length) {
        await this.flush()
        if (end - start > this.buf.length) await this.writeAll(chunk, start, end)
        else this.pos += chunk.copy(this.buf, this.pos, start, end)
      } else {
        this.pos += chunk.copy(this.buf, this.pos, start, end)
      }
      start = end
      if (nl >= 0) this.atStart = true
    }
  }

  async close(): Promise<void> {
    try {
      await this.flush()
    } finally {
      await this.fh.close()
    }
  }
}

/**
 * The bytes of a raw file as the object had them: every line's number and space taken off (a BOM the object
 * started with is written before the first number, and kept).
 */
export function unnumbered(): Transform {
  let first = true
  let bomLeft = 0
  let skip = true
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      let i = 0
      if (first && chunk.length > 0) {
        first = false
        if (chunk[0] === 0xef) bomLeft = 3
      }
      if (bomLeft > 0) {
        i = Math.min(bomLeft, chunk.length)
        this.push(chunk.subarray(0, i))
        bomLeft -= i
      }
      while (i < chunk.length) {
        if (skip) {
          const sp = chunk.indexOf(SP, i)
          if (sp < 0) break
          i = sp + 1
          skip = false
          continue
        }
        const nl = chunk.indexOf(NL, i)
        if (nl < 0) {
          this.push(chunk.subarray(i))
          break
        }
        this.push(chunk.subarray(i, nl + 1))
        i = nl + 1
        skip = true
      }
      cb()
    },
  })
}

/**
 * Writes the object's plain bytes to `file`, each line after its number and a space unless `numbered` is false
 * (csvFormat: ALB and ELB; a BOM stays first, before the first number, where DuckDB's reader drops it), and says whether DuckDB's line reader splits its
 * lines as scanLines does (`clean`). Counts bytes and lines into `counters` as scanLines would.
 */
export async function rawPlainFile(source: Readable, file: string, counters: ReadCounters, numbered = true): Promise<RawFile & {clean: boolean}> {
  const plain = await plainBytes(source, counters)
  const out = new NumberedWriter(await open(file, 'w'), numbered)
  let clean = true
  let lines = 0
  let nonBlank = 0
  let maxLine = 0
  /** bytes of the line under way before this chunk */
  let carry = 0
  /** the bytes after the last line feed so far, for the UTF-8 check (a character may be cut between chunks) */
  let tail: Buffer[] = []
  let first = true
  let bom = false
  try {
    for await (const chunk of plain as AsyncIterable<Buffer>) {
      counters.bytes += chunk.length
      let from = 0
      if (first) {
        first = false
        // a UTF-8 BOM is not data (both readers drop it): the first line is that much shorter
        if (chunk.length < 3) clean = false
        else if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) {
          carry = -3
          bom = true
          from = 3
          await out.plain(chunk.subarray(0, 3))
        }
      }
      await out.add(chunk, from)
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
        // the line cut by the previous chunk is joined (a character may straddle the cut), the rest checked in place
        const firstNl = chunk.indexOf(NL)
        const head = tail.length > 0 ? Buffer.concat([...tail, chunk.subarray(0, firstNl + 1)]) : chunk.subarray(0, firstNl + 1)
        if (!isUtf8(head) || !isUtf8(chunk.subarray(firstNl + 1, lastNl + 1))) clean = false
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
    await out.close()
  }
  counters.lines = lines
  return {file, lines: nonBlank, maxLine, clean, csv: !bom && lines > 0 && nonBlank === lines}
}

/**
 * The raw path is the default for ALB, ELB and JSON lines; SENEKA_DUCKDB_RAW=0 takes the JavaScript path instead
 * (alb.ts, the JSON-lines parser; for comparison: docs/performance.md).
 */
export function rawEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.SENEKA_DUCKDB_RAW !== '0'
}

/** where a line SQL could not prove ordinary waits for the parser: never a load path's name */
export const FALLBACK_MARK = '\u0002fallback'

const B = String.raw`[^ "\\\x00-\x1f]+`
/** a quoted field's text: spaces allowed (user agents), no escape, no control character */
const QT = String.raw`[^"\\\x00-\x1f]+`
const Q = `"(?:${QT})?"`
const TS = String.raw`\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?Z`
const REQ_END = String.raw`[!#-\[\]-~]`
const REQ_MID = String.raw`[^ "\\\x00-\x1f]*`

/**
 * What one field of an ordinary line is (its plain form, unquoted unless `quoted`) and what it becomes: `type`
 * the ALB request type as it is, `ts` a timestamp that must be there, `tsOrDash` one that may be `-`, `text` a
 * string (`-` is NULL), `hostport` ip and port, `double`/`int`/`bigint` numbers or `-`, `request` its 3 parts.
 */
type FieldKind = 'type' | 'ts' | 'tsOrDash' | 'text' | 'hostport' | 'double' | 'int' | 'bigint' | 'request'
type Field = {kind: FieldKind; quoted: boolean}

const PLAIN: Record<FieldKind, string> = {
  type: '(?:http|https|h2|grpcs|ws|wss)',
  ts: TS,
  tsOrDash: `(?:-|${TS})`,
  text: B,
  hostport: String.raw`(?:-|[^ "\\\x00-\x1f:\[\]]*:\d{1,10})`,
  double: String.raw`(?:-|-?\d{1,20}(?:\.\d{1,19})?)`,
  int: String.raw`(?:-|-?\d{1,10})`,
  bigint: String.raw`(?:-|-?\d{1,18})`,
  request: `${REQ_END}${REQ_MID} ${REQ_MID} ${REQ_MID}${REQ_END}`,
}

/**
 * The fields of an ordinary line per format, from the byte scanner's layouts (formats/lb-bytes.ts): text is `text`,
 * the timestamp a row must have `ts` and any other `tsOrDash`, quoted where AWS quotes.
 */
const LAYOUTS: Record<string, Field[]> = Object.fromEntries(
  Object.entries(LB_LAYOUTS).map(([name, layout]) => [
    name,
    layout.kinds.map((k, i): Field => ({kind: k === 'str' ? 'text' : k === 'ts' && i !== layout.required ? 'tsOrDash' : k, quoted: layout.quotedFields.includes(i)})),
  ]),
)

/** what the raw path needs to know of a format */
export type RawFormat = {name: string; columns: readonly Column[]; options?: Record<string, unknown>}

/** Formats DuckDB can parse itself: ALB, ELB, and JSON lines whose fields have plain names (jsonl-raw.ts). */
export function rawFormat(format: RawFormat): boolean {
  return format.name in LAYOUTS || (format.name === 'jsonl' && jsonlRawFormat(format.columns, format.options as JsonlRawOptions | undefined))
}

/** Formats whose objects DuckDB's CSV reader may split (csvRead); the others are read line by line. */
export function csvFormat(name: string): boolean {
  return name in LAYOUTS
}

/** The regular expression of an ordinary line: every field in its place and plain form; appended fields allowed. */
export function ordinaryRegex(format: string): string {
  return LAYOUTS[format].map((f) => (f.quoted ? `"${f.kind === 'text' ? QT : PLAIN[f.kind]}"` : PLAIN[f.kind])).join(' ') + `(?: (?:${B}|${Q}))*`
}

/**
 * The SQL of each column of a format from its raw fields (`ref(i, field)` is field i's text): `exprs` per column,
 * `checks` that the typed values are the parser's (real dates, integer ranges), `holder` the first text column.
 */
function fieldSql(format: string, columns: ReadonlyArray<{name: string}>, ref: (i: number, f: Field) => string): {exprs: string[]; checks: string[]; holder: number} {
  const text = (x: string): string => `CASE WHEN ${x} = '-' THEN NULL ELSE ${x} END`
  const port = (x: string): string => `TRY_CAST(split_part(${x}, ':', 2) AS INTEGER)`
  const timestamp = (x: string): string => `(${x} >= '0001' AND TRY_CAST(${x} AS TIMESTAMP) IS NOT NULL)`
  const exprs: string[] = []
  const checks: string[] = []
  let holder = -1
  for (const [i, f] of LAYOUTS[format].entries()) {
    const x = ref(i, f)
    switch (f.kind) {
      case 'type':
        exprs.push(x)
        break
      case 'ts':
      case 'tsOrDash':
        exprs.push(`TRY_CAST(${x} AS TIMESTAMP)`)
        checks.push(f.kind === 'ts' ? timestamp(x) : `(${x} = '-' OR ${timestamp(x)})`)
        break
      case 'text':
        if (holder < 0) holder = exprs.length
        exprs.push(text(x))
        break
      case 'hostport':
        exprs.push(`CASE WHEN ${x} = '-' THEN NULL ELSE split_part(${x}, ':', 1) END`, port(x))
        checks.push(`(${x} = '-' OR ${port(x)} IS NOT NULL)`)
        break
      case 'double':
      case 'int':
      case 'bigint': {
        const sql = {double: 'DOUBLE', int: 'INTEGER', bigint: 'BIGINT'}[f.kind]
        exprs.push(`TRY_CAST(${x} AS ${sql})`)
        if (f.kind === 'int') checks.push(`(${x} = '-' OR TRY_CAST(${x} AS INTEGER) IS NOT NULL)`)
        break
      }
      case 'request':
        // a part that is empty or "-" is NULL, as the parser's str() of each part
        for (const n of [1, 2, 3]) exprs.push(`CASE WHEN split_part(${x}, ' ', ${n}) IN ('', '-') THEN NULL ELSE split_part(${x}, ' ', ${n}) END`)
        break
    }
  }
  if (exprs.length !== columns.length) throw new Error(`${format} raw path: ${exprs.length} expressions for ${columns.length} columns`)
  return {exprs, checks, holder}
}

const selectList = (exprs: string[], columns: ReadonlyArray<{name: string}>, quoteIdent: (s: string) => string): string =>
  columns.map((c, i) => `${exprs[i]} AS ${quoteIdent(c.name)}`).join(', ')

/**
 * How a format's columns come from one raw file read by rawRead (columns `line`, `l`): `inner` splits a line at
 * its quotes (segment s[k] is a quoted field when k is even, else the bare fields between quotes, split again at
 * spaces as b<k>), `ordinary` (over inner's columns) says whether SQL types the line as the parser would, and
 * `select` (over inner's columns and `seneka_ord`, the ordinary flag) gives the values; a line that is not
 * ordinary keeps its text in the column `holder` for the parser.
 */
export function rawSelect(format: string, columns: ReadonlyArray<{name: string}>, quoteIdent: (s: string) => string): {select: string; ordinary: string; inner: string; holder: string} {
  const splits = new Set<number>()
  let seg = 1
  let pos = 1
  const {exprs, checks, holder} = fieldSql(format, columns, (_i, f) => {
    if (f.quoted) {
      const x = `s[${seg + 1}]`
      seg += 2
      pos = 2
      return x
    }
    splits.add(seg)
    return `b${seg}[${pos++}]`
  })
  exprs[holder] = `CASE WHEN seneka_ord THEN ${exprs[holder]} ELSE l END`
  const inner = [`line, l, string_split(l, '"') AS s`, ...[...splits].map((k) => `string_split(s[${k}], ' ') AS b${k}`)].join(', ')
  const ordinary = [`regexp_full_match(l, '${ordinaryRegex(format)}')`, ...checks].join(' AND ')
  return {select: selectList(exprs, columns, quoteIdent), ordinary, inner, holder: columns[holder].name}
}

/**
 * A format's columns from one raw file read by rawRead (columns `line`, `l`): `from(src)` is the relation of
 * `line`, what `select` reads and `seneka_ord` (true when SQL gives the parser's row); `holder` is the column that
 * keeps the text of a line that is not ordinary, for the parser.
 */
export function lineSelect(format: RawFormat, columns: readonly Column[], quoteIdent: (s: string) => string): {select: string; from: (src: string) => string; holder: string} {
  if (format.name === 'jsonl') return jsonlSelect(columns, format.options as JsonlRawOptions | undefined, quoteIdent)
  const {select, ordinary, inner, holder} = rawSelect(format.name, columns, quoteIdent)
  return {select, holder, from: (src) => `(SELECT *, ${ordinary} AS seneka_ord FROM (SELECT ${inner} FROM ${src} WHERE l IS NOT NULL))`}
}

/**
 * The CSV reader's split of a raw file (csvRead: columns f0.. as the line has them, numbered `line`), for objects
 * Node found free of blank lines: `select` gives the values and `ordinary` holds when the line is one the parser
 * splits the same way and SQL types as the parser would (every field in its plain form, text without quotes or
 * backslashes). The CSV reader skips what it cannot read and may join lines at an
 * unterminated quote: the caller counts each object's rows against its lines, and loads an object that does not
 * add up (or holds a line that is not ordinary) by rawSelect instead.
 */
export function csvSelect(format: string, columns: ReadonlyArray<{name: string}>, quoteIdent: (s: string) => string): {select: string; ordinary: string} {
  const plain: string[] = []
  const {exprs, checks} = fieldSql(format, columns, (i, f) => {
    const x = `f${i}`
    // text: not empty, no quote (a CSV escape, glued text) and no backslash (the parser's escapes); a control
    // character reads the same both ways (NUL, U+0001 and CR never reach here: rawPlainFile)
    plain.push(f.kind === 'text' ? `(${x} <> '' AND NOT contains(${x}, '"') AND NOT contains(${x}, '\\'))` : `regexp_full_match(${x}, '${PLAIN[f.kind]}')`)
    return x
  })
  // every field of the layout there (a shorter line goes line by line); fields AWS appended are ignored as the
  // parser ignores them, once they hold no quote or backslash (which the parser would split otherwise)
  const last = `f${LAYOUTS[format].length - 1} IS NOT NULL`
  const appended = Array.from({length: APPENDED}, (_, i) => `(x${i} IS NULL OR NOT (contains(x${i}, '"') OR contains(x${i}, '\\')))`)
  return {select: selectList(exprs, columns, quoteIdent), ordinary: [last, ...plain, ...appended, ...checks].join(' AND ')}
}

/** fields AWS may have appended after a format's layout that the CSV path reads (and ignores); more: line by line */
const APPENDED = 8

/** DuckDB's default max_line_size */
const DUCKDB_DEFAULT_MAX_LINE = 2_000_000

/** read_csv options for a raw file whose longest line is maxLine bytes */
function rawSize(maxLine: number): string {
  return maxLine + 64 <= DUCKDB_DEFAULT_MAX_LINE ? '' : `, max_line_size = ${maxLine + 1024}, buffer_size = ${Math.max((maxLine + 1024) * 2, 32 << 20)}`
}

/**
 * read_csv of raw files (`filesLiteral`: one or a list) split at spaces and quotes into the line's number `line`,
 * the format's fields f0.. and up to APPENDED more x0.. as VARCHAR, missing ones NULL (strict: a line with more
 * fields, or quotes out of place, is skipped), with each row's `filename`; an empty field is '' (nullstr is a byte
 * the file cannot hold). The number is the one Node wrote before the line: no order needed.
 */
export function csvRead(format: string, filesLiteral: string, maxLine: number): string {
  const cols = [`'line': 'BIGINT'`, ...LAYOUTS[format].map((_, i) => `'f${i}': 'VARCHAR'`), ...Array.from({length: APPENDED}, (_, i) => `'x${i}': 'VARCHAR'`)].join(', ')
  return `read_csv(${filesLiteral}, columns = {${cols}}, filename = true, delim = ' ', quote = '"', escape = '"', header = false, auto_detect = false, ignore_errors = true, null_padding = true, nullstr = '\u0001', new_line = '\\n'${rawSize(maxLine + NUMBER_BYTES)})`
}

/**
 * read_csv of a raw file as one VARCHAR column `l` per line (blank lines NULL), with the number Node wrote before it
 * as `line`; a file written without numbers (`numbered` false) is numbered by position, which needs its order
 * (`preserve_insertion_order`, lineThreads).
 */
export function rawRead(fileLiteral: string, maxLine: number, numbered: boolean): string {
  // each line whole, as one VARCHAR column (U+0001, the delimiter, is a byte the file cannot hold)
  const lines = (column: string) => `read_csv(${fileLiteral}, columns = {'${column}': 'VARCHAR'}, delim = '\u0001', quote = '', escape = '', header = false, auto_detect = false, strict_mode = false, new_line = '\\n'${rawSize(maxLine + NUMBER_BYTES)})`
  if (!numbered) return `(SELECT row_number() OVER () AS line, l FROM ${lines('l')})`
  return `(SELECT CAST(split_part(seneka_l, ' ', 1) AS BIGINT) AS line, nullif(substr(seneka_l, strpos(seneka_l, ' ') + 1), '') AS l FROM ${lines('seneka_l')})`
}
