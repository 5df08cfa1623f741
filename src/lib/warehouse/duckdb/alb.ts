import {alb} from '../../formats/alb.js'
import {INT_MAX, validDate} from '../../formats/fields.js'

/**
 * The fast path of ALB logs into DuckDB: a byte-level scanner that splits a line's fields exactly as the ALB
 * parser does (formats/alb.ts, formats/fields.ts) and, when every field is ordinary, passes the line AS IT IS to
 * DuckDB's own CSV reader, after its line number (fields AWS appended beyond the known ones cut, missing trailing
 * ones written as "-"): one copy per line, no string per field, no number conversion in JavaScript. DuckDB splits
 * ip:port and the request in SQL (albFastSelect). Any line that is not plainly ordinary (escapes, unusual numbers
 * or timestamps, control characters, IPv6 or bracketed hosts, a request without exactly two spaces, empty fields,
 * too few fields, ...) is left to the ALB parser, so values and rejects are the same as the parser's (proved by
 * test/lib/warehouse/duckdb-alb.test.ts with EXCEPT ALL both ways).
 */

const SP = 0x20
const QUOTE = 0x22
const BACKSLASH = 0x5c
const DASH = 0x2d
const COLON = 0x3a

/** raw ALB fields the columns come from (ip:port and the request make 2 + 2 more columns); later ones are cut */
const KNOWN_FIELDS = alb.columns.length - 4
const MIN_FIELDS = 17
const TYPES = new Set(['http', 'https', 'h2', 'grpcs', 'ws', 'wss'])

type Kind = 'str' | 'ts' | 'hostport' | 'double' | 'int' | 'bigint' | 'request'
/** what each raw field becomes (alb.ts: the same order) */
const FIELD_KINDS: Kind[] = [
  'str', 'ts', 'str', 'hostport', 'hostport', 'double', 'double', 'double', 'int', 'int', 'bigint', 'bigint', 'request',
  'str', 'str', 'str', 'str', 'str', 'str', 'str', 'int', 'ts',
]
while (FIELD_KINDS.length < KNOWN_FIELDS) FIELD_KINDS.push('str')

/** Appends bytes to 1 MiB buffers handed to `flush` when full. */
export class ByteWriter {
  buf = Buffer.allocUnsafe(1 << 20)
  pos = 0
  constructor(private readonly flush: (b: Buffer) => void) {}
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    this.drain()
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n)
  }
  drain(): void {
    if (this.pos === 0) return
    this.flush(this.buf.subarray(0, this.pos))
    this.buf = Buffer.allocUnsafe(Math.max(1 << 20, this.buf.length))
    this.pos = 0
  }
  byte(c: number): void {
    this.buf[this.pos++] = c
  }
  copy(src: Buffer, start: number, end: number): void {
    this.pos += src.copy(this.buf, this.pos, start, end)
  }
  ascii(s: string): void {
    this.pos += this.buf.write(s, this.pos, 'latin1')
  }
}

const starts = new Int32Array(64)
const ends = new Int32Array(64)
const quoted = new Uint8Array(64)

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39

/** `-?digits`, at most maxDigits (1-based count) */
function plainInt(b: Buffer, s: number, e: number, maxDigits: number): boolean {
  if (s < e && b[s] === DASH) s++
  if (s >= e || e - s > maxDigits) return false
  for (let i = s; i < e; i++) if (!isDigit(b[i])) return false
  return true
}

function int32(b: Buffer, s: number, e: number): boolean {
  if (!plainInt(b, s, e, 10)) return false
  if (e - s < 10) return true
  // ten characters: compare the value (no allocation for the common short case)
  let n = 0
  const neg = b[s] === DASH
  for (let i = neg ? s + 1 : s; i < e; i++) n = n * 10 + (b[i] - 0x30)
  return neg ? n <= INT_MAX + 1 : n <= INT_MAX
}

/** `-?digits(.digits)?` */
function plainDouble(b: Buffer, s: number, e: number): boolean {
  if (e - s > 40) return false // hundreds of digits could overflow to Infinity (a reject)
  if (s < e && b[s] === DASH) s++
  let i = s
  while (i < e && isDigit(b[i])) i++
  if (i === s) return false
  if (i === e) return true
  if (b[i] !== 0x2e) return false
  const f = ++i
  while (i < e && isDigit(b[i])) i++
  return i === e && i > f
}

const num2 = (b: Buffer, i: number): number => (b[i] - 0x30) * 10 + (b[i + 1] - 0x30)

/** YYYY-MM-DDTHH:MM:SS(.f{1,6})?Z with a real date and a second below 60 */
function plainTimestamp(b: Buffer, s: number, e: number): boolean {
  const n = e - s
  if (n !== 20 && (n < 22 || n > 27)) return false
  for (const k of [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]) if (!isDigit(b[s + k])) return false
  if (b[s + 4] !== DASH || b[s + 7] !== DASH || b[s + 10] !== 0x54 || b[s + 13] !== COLON || b[s + 16] !== COLON || b[e - 1] !== 0x5a) return false
  if (n > 20) {
    if (b[s + 19] !== 0x2e) return false
    for (let i = s + 20; i < e - 1; i++) if (!isDigit(b[i])) return false
  }
  const y = num2(b, s) * 100 + num2(b, s + 2)
  return y > 0 && validDate(y, num2(b, s + 5), num2(b, s + 8)) && num2(b, s + 11) <= 23 && num2(b, s + 14) <= 59 && num2(b, s + 17) <= 59
}

/**
 * Writes the fast staging line of one ALB line (bytes b[s..e), no line break) and returns true, or writes
 * nothing and returns false when the line must go through the ALB parser.
 */
export function stageAlbLine(b: Buffer, s: number, e: number, lineNo: number, out: ByteWriter): boolean {
  // split exactly as splitFields does; give up on escapes, glued quotes, quotes inside bare fields, control bytes
  let nf = 0
  let i = s
  while (i < e) {
    if (nf === 64) return false
    if (b[i] === QUOTE) {
      let q = i + 1
      for (; q < e; q++) {
        const c = b[q]
        if (c === QUOTE) break
        if (c === BACKSLASH || c < SP) return false
      }
      if (q >= e) return false
      if (q + 1 < e && b[q + 1] !== SP) return false
      starts[nf] = i + 1
      ends[nf] = q
      quoted[nf++] = 1
      i = q + 2
    } else {
      let j = i
      for (; j < e; j++) {
        const c = b[j]
        if (c === SP) break
        if (c === QUOTE || c < SP) return false
      }
      starts[nf] = i
      ends[nf] = j
      quoted[nf++] = 0
      i = j + 1
    }
  }
  if (nf < MIN_FIELDS) return false
  if (!TYPES.has(b.toString('latin1', starts[0], ends[0]))) return false
  const used = Math.min(nf, KNOWN_FIELDS)
  // validate every typed field before writing anything
  for (let f = 1; f < used; f++) {
    const fs = starts[f]
    const fe = ends[f]
    const kind = FIELD_KINDS[f]
    // an empty field: the CSV reader's NULL/empty rules differ from the parser's
    if (fs === fe) return false
    if (kind === 'str') continue
    if (fe - fs === 1 && b[fs] === DASH) {
      if (f === 1) return false // time is missing: a reject
      continue
    }
    if (quoted[f] && kind !== 'request') return false
    switch (kind) {
      case 'ts':
        if (!plainTimestamp(b, fs, fe)) return false
        break
      case 'double':
        if (!plainDouble(b, fs, fe)) return false
        break
      case 'int':
        if (!int32(b, fs, fe)) return false
        break
      case 'bigint':
        if (!plainInt(b, fs, fe, 18)) return false
        break
      case 'hostport': {
        // host:port with ONE colon (split_part in SQL); IPv6 and bracketed hosts go through the parser
        const c = b.indexOf(COLON, fs)
        if (c <= fs || c >= fe) return false
        const c2 = b.indexOf(COLON, c + 1)
        if (c2 >= 0 && c2 < fe) return false
        if (!int32(b, c + 1, fe) || b[c + 1] === DASH) return false
        // an empty ip or "-" is a string for the parser, NULL for the CSV reader; brackets are cut by the parser
        if (b[fs] === 0x5b || (c - fs === 1 && b[fs] === DASH)) return false
        break
      }
      case 'request': {
        // trim() would remove leading/trailing white space of any kind: only plain ASCII ends here
        const c0 = b[fs]
        const c1 = b[fe - 1]
        if (c0 <= SP || c0 >= 0x80 || c1 <= SP || c1 >= 0x80) return false
        // exactly two spaces: VERB URL PROTO, split by split_part in SQL
        const s1 = b.indexOf(SP, fs)
        if (s1 < 0 || s1 >= fe) return false
        const s2 = b.indexOf(SP, s1 + 1)
        if (s2 < 0 || s2 >= fe) return false
        const s3 = b.indexOf(SP, s2 + 1)
        if (s3 >= 0 && s3 < fe) return false
        break
      }
    }
  }
  // the line as it is, cut after the last known field (a trailing space too: the CSV reader would read an empty
  // field there, the parser no field), padded with "-" for fields older lines do not have
  const last = used - 1
  const cut = ends[last] + quoted[last]
  out.ensure(cut - s + 24 + 2 * (KNOWN_FIELDS - used))
  out.ascii(String(lineNo))
  out.byte(SP)
  out.copy(b, s, cut)
  for (let f = used; f < KNOWN_FIELDS; f++) {
    out.byte(SP)
    out.byte(DASH)
  }
  out.byte(0x0a)
  return true
}

/** How DuckDB's CSV reader types each raw field of a fast staging line. */
const RAW_SQL: Record<Kind, string> = {str: 'VARCHAR', ts: 'TIMESTAMP', hostport: 'VARCHAR', double: 'DOUBLE', int: 'INTEGER', bigint: 'BIGINT', request: 'VARCHAR'}

/**
 * The SELECT list and read_csv call of a fast staging file, for the ALB columns `columns` (alb.ts order): the
 * raw fields f0.. as the line has them, ip:port and the request split here as the parser splits them.
 */
export function albFastSelect(
  columns: ReadonlyArray<{name: string; type: string}>,
  quoteIdent: (s: string) => string,
  lineSize: string,
): {select: string; read: string} {
  const defs = [`'line': 'BIGINT'`, ...FIELD_KINDS.map((k, i) => `'f${i}': '${RAW_SQL[k]}'`)]
  const exprs = FIELD_KINDS.flatMap((k, i) => {
    if (k === 'hostport') return [`split_part(f${i}, ':', 1)`, `CAST(split_part(f${i}, ':', 2) AS INTEGER)`]
    // text columns keep "" as the empty string, as DuckDB reads it; a request part that is empty or "-" is NULL
    // as in the parser (str() of each part)
    if (k === 'request') return [1, 2, 3].map((n) => `CASE WHEN split_part(f${i}, ' ', ${n}) IN ('', '-') THEN NULL ELSE split_part(f${i}, ' ', ${n}) END`)
    return [`f${i}`]
  })
  if (exprs.length !== columns.length) throw new Error(`ALB fast path: ${exprs.length} expressions for ${columns.length} columns`)
  const select = columns.map((c, i) => `${exprs[i]} AS ${quoteIdent(c.name)}`).join(', ')
  const read = `read_csv($file, delim = ' ', quote = '"', escape = '"', header = false, nullstr = '-', allow_quoted_nulls = true, auto_detect = false, new_line = '\\n', columns = {${defs.join(', ')}}${lineSize})`
  return {select, read}
}
