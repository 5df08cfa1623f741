import {alb} from './alb.js'
import {daysFromCivil, INT_MAX, microsOf, validDate} from './fields.js'

/**
 * Load-balancer lines (ALB, ELB) read on their bytes: a scanner that splits a line's fields exactly as
 * splitFields does and says whether every field is plainly ordinary, with the values of such fields read straight
 * from the bytes. Used where a line need not become strings first: the DuckDB fast path (duckdb/alb.ts) and the
 * Write API rows (write-api/lb-rows.ts). A line that is not plainly ordinary (escapes, unusual numbers or
 * timestamps, control characters, IPv6 or bracketed hosts, a request without exactly two spaces, empty fields, too
 * few fields, ...) goes to the format's parser, so values and rejects stay the parser's (alb.ts, elb.ts).
 */

const SP = 0x20
const QUOTE = 0x22
const BACKSLASH = 0x5c
export const DASH = 0x2d
const COLON = 0x3a
const DOT = 0x2e

/** what each raw field becomes: `type` the ALB request type, `hostport` ip and port, `request` its 3 parts */
export type FieldKind = 'type' | 'str' | 'ts' | 'hostport' | 'double' | 'int' | 'bigint' | 'request'

export interface LbLayout {
  /** the kind of each field the columns come from, in order; fields after these are ignored */
  kinds: readonly FieldKind[]
  /** fewer fields than this: the parser's reject */
  minFields: number
  /** the timestamp field a row must have ("-" there: the parser's reject) */
  required: number
  /** the fields AWS writes in double quotes (the ordinary shape of a line for DuckDB's reader: duckdb/raw.ts) */
  quotedFields: readonly number[]
}

/** columns each field kind gives */
export const COLUMNS_OF: Record<FieldKind, number> = {type: 1, str: 1, ts: 1, hostport: 2, double: 1, int: 1, bigint: 1, request: 3}

const ALB_KINDS: FieldKind[] = [
  'type', 'ts', 'str', 'hostport', 'hostport', 'double', 'double', 'double', 'int', 'int', 'bigint', 'bigint', 'request',
  'str', 'str', 'str', 'str', 'str', 'str', 'str', 'int', 'ts',
]
// the text fields after request_creation_time, up to the last column (ip:port twice and the request make 4 more)
while (ALB_KINDS.length < alb.columns.length - 4) ALB_KINDS.push('str')

/** The layouts of the formats read on their bytes (alb.ts, elb.ts: the same order). */
export const LB_LAYOUTS: Record<string, LbLayout> = {
  alb: {kinds: ALB_KINDS, minFields: 17, required: 1, quotedFields: [12, 13, 17, 18, 19, 22, 23, 24, 25, 26, 27, 28, 30, 31, 32]},
  elb: {
    kinds: ['ts', 'str', 'hostport', 'hostport', 'double', 'double', 'double', 'int', 'int', 'bigint', 'bigint', 'request', 'str', 'str', 'str'],
    minFields: 11,
    required: 0,
    quotedFields: [11, 12],
  },
}

const TYPES = new Set(['http', 'https', 'h2', 'grpcs', 'ws', 'wss'])

/** where each field of the last split line starts and ends (b[starts[f]..ends[f])), and whether it was quoted */
export const starts = new Int32Array(64)
export const ends = new Int32Array(64)
export const quoted = new Uint8Array(64)

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39

/**
 * Splits b[s..e) as splitFields does into starts/ends/quoted and returns the number of fields, or -1 for a line
 * this scanner leaves to the parser: escapes, glued quotes, quotes inside bare fields, control bytes, 64+ fields.
 */
export function splitLine(b: Buffer, s: number, e: number): number {
  let nf = 0
  let i = s
  while (i < e) {
    if (nf === 64) return -1
    if (b[i] === QUOTE) {
      let q = i + 1
      for (; q < e; q++) {
        const c = b[q]
        if (c === QUOTE) break
        if (c === BACKSLASH || c < SP) return -1
      }
      if (q >= e) return -1
      if (q + 1 < e && b[q + 1] !== SP) return -1
      starts[nf] = i + 1
      ends[nf] = q
      quoted[nf++] = 1
      i = q + 2
    } else {
      let j = i
      for (; j < e; j++) {
        const c = b[j]
        if (c === SP) break
        if (c === QUOTE || c < SP) return -1
      }
      starts[nf] = i
      ends[nf] = j
      quoted[nf++] = 0
      i = j + 1
    }
  }
  return nf
}

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
  const n = Math.abs(intAt(b, s, e))
  return b[s] === DASH ? n <= INT_MAX + 1 : n <= INT_MAX
}

/** `-?digits(.digits)?` */
function plainDouble(b: Buffer, s: number, e: number): boolean {
  if (e - s > 40) return false // hundreds of digits could overflow to Infinity (a reject)
  if (s < e && b[s] === DASH) s++
  let i = s
  while (i < e && isDigit(b[i])) i++
  if (i === s) return false
  if (i === e) return true
  if (b[i] !== DOT) return false
  const f = ++i
  while (i < e && isDigit(b[i])) i++
  return i === e && i > f
}

const num2 = (b: Buffer, i: number): number => (b[i] - 0x30) * 10 + (b[i + 1] - 0x30)

/** where a timestamp's date and time digits are (YYYY-MM-DDTHH:MM:SS) */
const TS_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]

/** YYYY-MM-DDTHH:MM:SS(.f{1,6})?Z with a real date and a second below 60 */
function plainTimestamp(b: Buffer, s: number, e: number): boolean {
  const n = e - s
  if (n !== 20 && (n < 22 || n > 27)) return false
  for (const k of TS_DIGITS) if (!isDigit(b[s + k])) return false
  if (b[s + 4] !== DASH || b[s + 7] !== DASH || b[s + 10] !== 0x54 || b[s + 13] !== COLON || b[s + 16] !== COLON || b[e - 1] !== 0x5a) return false
  if (n > 20) {
    if (b[s + 19] !== DOT) return false
    for (let i = s + 20; i < e - 1; i++) if (!isDigit(b[i])) return false
  }
  const y = num2(b, s) * 100 + num2(b, s + 2)
  return y > 0 && validDate(y, num2(b, s + 5), num2(b, s + 8)) && num2(b, s + 11) <= 23 && num2(b, s + 14) <= 59 && num2(b, s + 17) <= 59
}

/**
 * Whether the `nf` fields of the last split line are plainly ordinary for `layout`: the parser would give a row,
 * and the readers below give its values. Nothing is checked of fields after the layout's (the parser ignores them).
 */
export function ordinaryFields(b: Buffer, layout: LbLayout, nf: number): boolean {
  if (nf < layout.minFields) return false
  const used = Math.min(nf, layout.kinds.length)
  for (let f = 0; f < used; f++) {
    const fs = starts[f]
    const fe = ends[f]
    const kind = layout.kinds[f]
    // an empty field: the CSV reader's NULL/empty rules differ from the parser's
    if (fs === fe) return false
    if (kind === 'type') {
      if (!TYPES.has(b.toString('latin1', fs, fe))) return false
      continue
    }
    if (kind === 'str') continue
    if (fe - fs === 1 && b[fs] === DASH) {
      if (f === layout.required) return false // the time is missing: a reject
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
        const c = colonOf(b, fs, fe)
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
        // exactly two spaces: VERB URL PROTO
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
  return true
}

/** the colon of an ordinary ip:port field b[s..e) (-1: none) */
export function colonOf(b: Buffer, s: number, e: number): number {
  const c = b.indexOf(COLON, s)
  return c < e ? c : -1
}

/** the value of ordinary integer digits b[s..e) (`-?digits`, at most 15 digits: exact) */
export function intAt(b: Buffer, s: number, e: number): number {
  const neg = b[s] === DASH
  let n = 0
  for (let i = neg ? s + 1 : s; i < e; i++) n = n * 10 + (b[i] - 0x30)
  return neg ? -n : n
}

/** 10^k for k up to 22: every one exact in a double */
const POW10 = Array.from({length: 23}, (_, k) => 10 ** k)

/**
 * The value Number() gives an ordinary decimal b[s..e) (`-?digits(.digits)?`). With at most 15 digits the digits
 * are an exact integer and 10^k an exact double, so their quotient, rounded once by the division, is the decimal
 * correctly rounded, as Number() rounds it; longer ones go through Number() itself.
 */
export function doubleAt(b: Buffer, s: number, e: number): number {
  const neg = b[s] === DASH
  let n = 0
  let digits = 0
  let frac = -1
  for (let i = neg ? s + 1 : s; i < e; i++) {
    const c = b[i]
    if (c === DOT) {
      frac = 0
      continue
    }
    n = n * 10 + (c - 0x30)
    digits++
    if (frac >= 0) frac++
  }
  if (digits > 15) return Number(b.toString('latin1', s, e))
  const v = frac > 0 ? n / POW10[frac] : n
  return neg ? -v : v
}

/**
 * Microseconds since the epoch of an ordinary timestamp b[s..e) (plainTimestamp), as isoMicros reads it; NaN when
 * isoMicros would give a decimal string (past the year 2255, beyond a double's exact integers).
 */
export function timestampAt(b: Buffer, s: number, e: number): number {
  const y = num2(b, s) * 100 + num2(b, s + 2)
  const seconds = daysFromCivil(y, num2(b, s + 5), num2(b, s + 8)) * 86400 + num2(b, s + 11) * 3600 + num2(b, s + 14) * 60 + num2(b, s + 17)
  let micros = 0
  let k = 0
  for (let i = s + 20; i < e - 1; i++, k++) micros = micros * 10 + (b[i] - 0x30)
  for (; k < 6; k++) micros *= 10
  const us = microsOf(seconds, micros)
  return typeof us === 'number' ? us : Number.NaN
}
