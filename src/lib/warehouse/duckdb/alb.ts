import {DASH, type FieldKind, ends, LB_LAYOUTS, ordinaryFields, quoted, splitLine} from '../../formats/lb-bytes.js'

/**
 * The fast path of ALB logs into DuckDB: the byte-level scanner (formats/lb-bytes.ts) splits a line's fields exactly
 * as the ALB parser does (formats/alb.ts, formats/fields.ts) and, when every field is ordinary, passes the line AS IT IS to
 * DuckDB's own CSV reader, after its line number (fields AWS appended beyond the known ones cut, missing trailing
 * ones written as "-"): one copy per line, no string per field, no number conversion in JavaScript. DuckDB splits
 * ip:port and the request in SQL (albFastSelect). Any line that is not plainly ordinary (escapes, unusual numbers
 * or timestamps, control characters, IPv6 or bracketed hosts, a request without exactly two spaces, empty fields,
 * too few fields, ...) is left to the ALB parser, so values and rejects are the same as the parser's (proved by
 * test/lib/warehouse/duckdb-alb.test.ts with EXCEPT ALL both ways).
 */

const SP = 0x20

/** raw ALB fields the columns come from (ip:port and the request make 2 + 2 more columns); later ones are cut */
const LAYOUT = LB_LAYOUTS.alb
const KNOWN_FIELDS = LAYOUT.kinds.length

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

/**
 * Writes the fast staging line of one ALB line (bytes b[s..e), no line break) and returns true, or writes
 * nothing and returns false when the line must go through the ALB parser.
 */
export function stageAlbLine(b: Buffer, s: number, e: number, lineNo: number, out: ByteWriter): boolean {
  const nf = splitLine(b, s, e)
  if (nf < 0 || !ordinaryFields(b, LAYOUT, nf)) return false
  const used = Math.min(nf, KNOWN_FIELDS)
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
const RAW_SQL: Record<FieldKind, string> = {type: 'VARCHAR', str: 'VARCHAR', ts: 'TIMESTAMP', hostport: 'VARCHAR', double: 'DOUBLE', int: 'INTEGER', bigint: 'BIGINT', request: 'VARCHAR'}

/**
 * The SELECT list and read_csv call of a fast staging file, for the ALB columns `columns` (alb.ts order): the
 * raw fields f0.. as the line has them, ip:port and the request split here as the parser splits them.
 */
export function albFastSelect(
  columns: ReadonlyArray<{name: string; type: string}>,
  quoteIdent: (s: string) => string,
  lineSize: string,
): {select: string; read: string} {
  const defs = [`'line': 'BIGINT'`, ...LAYOUT.kinds.map((k, i) => `'f${i}': '${RAW_SQL[k]}'`)]
  const exprs = LAYOUT.kinds.flatMap((k, i) => {
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
