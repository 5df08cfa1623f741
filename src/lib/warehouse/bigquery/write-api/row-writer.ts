import protobuf from 'protobufjs'
import 'protobufjs/ext/descriptor/index.js'
import type {Value} from '../../../formats/types.js'
import {LANE_REQUEST_BYTES} from '../../../cost/quotas.js'

/**
 * Write API rows encoded straight from parsed columns into one growing buffer: no object per row and no
 * protobufjs message in between. Light on imports (protobufjs only) so that a parse worker thread loads it
 * cheaply. The bytes are those protobufjs writes for the same values (fields in number order, a NULL left out,
 * INT64 as a varint, DOUBLE as 8 bytes little endian, STRING as length-prefixed UTF-8); a value of another
 * JavaScript type than its field's (a decimal string in an INT64 field, a number in a STRING field) goes
 * through protobufjs itself, so it is converted, or refused, exactly as before.
 */

/** The service refuses requests of 10 MB or more (the quotas page says 20 MB: design for the stricter). */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024
/** Rows per request are cut well below the limit: the request carries the writer schema and framing too. */
export const REQUEST_BYTES_BUDGET = LANE_REQUEST_BYTES
/** Framing counted per row when sizing a request. */
const ROW_OVERHEAD = 16

/** Where requests are cut, from the rows' sizes: below the byte budget and at most maxRows rows each. */
export class RequestSplitter {
  /** rows in each request cut so far */
  readonly sizes: number[] = []
  private current = 0
  private bytes = 0
  rows = 0

  constructor(
    private readonly budget = REQUEST_BYTES_BUDGET,
    private readonly maxRows = 50_000,
  ) {}

  /** Whether a row of this many bytes fits a request at all (a row alone above the budget is refused). */
  fits(length: number): boolean {
    return length + ROW_OVERHEAD <= this.budget
  }

  /** Counts one row that fits; returns true when it begins a new request. */
  add(length: number): boolean {
    const cut = this.current > 0 && (this.bytes + length + ROW_OVERHEAD > this.budget || this.current >= this.maxRows)
    if (cut) {
      this.sizes.push(this.current)
      this.current = 0
      this.bytes = 0
    }
    this.current++
    this.bytes += length + ROW_OVERHEAD
    this.rows++
    return cut
  }

  /** The rows of each request, the last one included. */
  done(): number[] {
    if (this.current > 0) {
      this.sizes.push(this.current)
      this.current = 0
    }
    return this.sizes
  }
}

/** protobuf wire types and the field kinds seneka's schemas use (descriptor.proto FieldDescriptorProto.Type) */
export const KIND = {TYPE_DOUBLE: 1, TYPE_INT64: 3, TYPE_BOOL: 8, TYPE_STRING: 9} as const
type Kind = (typeof KIND)[keyof typeof KIND] | 0

interface Field {
  name: string
  kind: Kind
  /** the field's tag (number and wire type), written as a varint */
  tag: number
}

/**
 * The growing output: rows back to back, in chunks that are never copied to grow (a row is never split: the row
 * being written moves to the next chunk whole), joined once by take(). Growing one buffer by doubling copied each
 * object's rows about twice more (a tenth of a parse worker's time on ALB objects).
 */
export class ByteSink {
  buf: Buffer
  pos = 0
  /** where the row being written starts in buf */
  rowStart = 0
  private readonly done: Buffer[] = []
  private doneBytes = 0

  constructor(private readonly chunkBytes = 1 << 16) {
    this.buf = Buffer.allocUnsafe(chunkBytes)
  }

  /** A row starts at the current position. */
  row(): void {
    this.rowStart = this.pos
  }

  /** the bytes written so far (the end of the last row, counted from the first byte of the output) */
  get length(): number {
    return this.doneBytes + this.pos
  }

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const partial = this.pos - this.rowStart
    const next = Buffer.allocUnsafe(Math.max(this.chunkBytes, 2 * (partial + n)))
    this.buf.copy(next, 0, this.rowStart, this.pos)
    if (this.rowStart > 0) {
      this.done.push(this.buf.subarray(0, this.rowStart))
      this.doneBytes += this.rowStart
    }
    this.buf = next
    this.pos = partial
    this.rowStart = 0
  }

  /** the bytes written, in a buffer of their own (transferable) */
  take(): Uint8Array {
    const out = new Uint8Array(this.length)
    let at = 0
    for (const b of this.done) {
      out.set(b, at)
      at += b.length
    }
    out.set(this.buf.subarray(0, this.pos), at)
    return out
  }
}

/** A (safe) integer as a protobuf int64 varint; negative ones take 10 bytes (two's complement). */
function writeInt64(s: ByteSink, v: number): void {
  s.reserve(10)
  const b = s.buf
  let p = s.pos
  if (v >= 0) {
    while (v > 0x7fffffff) {
      b[p++] = (v % 128) | 128
      v = Math.floor(v / 128)
    }
    while (v > 127) {
      b[p++] = (v & 127) | 128
      v >>>= 7
    }
    b[p++] = v
  } else {
    let x = BigInt.asUintN(64, BigInt(v))
    while (x > 127n) {
      b[p++] = Number(x & 127n) | 128
      x >>= 7n
    }
    b[p++] = Number(x)
  }
  s.pos = p
}

function writeVarint32(s: ByteSink, v: number): void {
  const b = s.buf
  let p = s.pos
  while (v > 127) {
    b[p++] = (v & 127) | 128
    v >>>= 7
  }
  b[p++] = v
  s.pos = p
}

/** bytes of a 32-bit varint */
const varintBytes = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5)

function writeString(s: ByteSink, v: string): void {
  const len = v.length
  // a short string (under 43 UTF-16 units: under 128 bytes, one length byte) is copied here when it is ASCII: a
  // call into C++ per short string costs more than the copy
  if (len < 43) {
    s.reserve(1 + len * 3)
    const b = s.buf
    const at = s.pos
    let i = 0
    for (; i < len; i++) {
      const c = v.charCodeAt(i)
      if (c >= 0x80) break
      b[at + 1 + i] = c
    }
    const n = i === len ? len : i + b.write(v.slice(i), at + 1 + i)
    b[at] = n
    s.pos = at + 1 + n
    return
  }
  // a longer one by Buffer's UTF-8 encoder, after room for the longest length prefix it may need (moved back
  // when the bytes turn out fewer)
  const head = varintBytes(len * 3)
  s.reserve(head + len * 3)
  const b = s.buf
  const at = s.pos
  const n = b.write(v, at + head)
  const need = varintBytes(n)
  if (need < head) b.copyWithin(at + need, at + head, at + head + n)
  writeVarint32(s, n)
  s.pos = at + need + n
}

/**
 * Encodes rows of a message type (a DescriptorProto, as protobuf bytes: what the worker threads are sent) into a
 * ByteSink, from an array of values in field order.
 */
export class RowWriter {
  readonly fields: readonly Field[]
  private readonly type: protobuf.Type

  constructor(descriptor: Uint8Array) {
    this.type = (protobuf.Type as unknown as {fromDescriptor(d: Uint8Array): protobuf.Type}).fromDescriptor(descriptor)
    const byId = this.type.fieldsArray.slice().sort((a, b) => a.id - b.id)
    // values come in the table schema's column order, which the descriptor numbers 1, 2, ...
    if (byId.some((f, i) => f.id !== i + 1)) throw new Error(`the row descriptor ${this.type.name} does not number its fields 1 to ${byId.length}`)
    this.fields = byId.map((f) => {
      const kind = ({double: KIND.TYPE_DOUBLE, int64: KIND.TYPE_INT64, bool: KIND.TYPE_BOOL, string: KIND.TYPE_STRING} as Record<string, Kind>)[f.type] ?? 0
      const wire = kind === KIND.TYPE_DOUBLE ? 1 : kind === KIND.TYPE_STRING ? 2 : 0
      return {name: f.name, kind, tag: (f.id << 3) | wire}
    })
  }

  /** The index of a field by name (-1: the schema has none). */
  index(name: string): number {
    return this.fields.findIndex((f) => f.name === name)
  }

  /**
   * Appends one row (values in field order; null or undefined: left out). Throws, writing nothing, when
   * protobufjs refuses a value of an unexpected type.
   */
  write(s: ByteSink, values: ArrayLike<Value | boolean | undefined>): void {
    s.row()
    if (!this.writeFrom(s, values, 0)) this.slow(s, values)
  }

  /**
   * Appends the fields from `from` on to the row being written; false (part of them written) when a value is of
   * another type than its field's, which only protobufjs converts (RowWriter.write then writes the whole row so).
   */
  writeFrom(s: ByteSink, values: ArrayLike<Value | boolean | undefined>, from: number): boolean {
    const fields = this.fields
    for (let i = from; i < fields.length; i++) {
      const v = values[i]
      if (v === null || v === undefined) continue
      const f = fields[i]
      switch (f.kind) {
        case KIND.TYPE_STRING:
          if (typeof v !== 'string') return false
          s.reserve(5)
          writeVarint32(s, f.tag)
          writeString(s, v)
          break
        case KIND.TYPE_INT64:
          if (typeof v !== 'number' || !Number.isSafeInteger(v)) return false
          this.int64Field(s, i, v)
          break
        case KIND.TYPE_DOUBLE:
          if (typeof v !== 'number') return false
          this.doubleField(s, i, v)
          break
        case KIND.TYPE_BOOL:
          if (typeof v !== 'boolean') return false
          s.reserve(6)
          writeVarint32(s, f.tag)
          s.buf[s.pos++] = v ? 1 : 0
          break
        default:
          return false
      }
    }
    return true
  }

  /** Field i (a STRING) of the row being written: the UTF-8 bytes b[start..end), as they are. */
  bytesField(s: ByteSink, i: number, b: Buffer, start: number, end: number): void {
    const n = end - start
    s.reserve(10 + n)
    writeVarint32(s, this.fields[i].tag)
    writeVarint32(s, n)
    // a short field copied here: a call into C++ per field costs more than the copy (as writeString)
    if (n < 32) {
      const out = s.buf
      let at = s.pos
      for (let k = start; k < end; k++) out[at++] = b[k]
      s.pos = at
    } else s.pos += b.copy(s.buf, s.pos, start, end)
  }

  /** Field i (an INT64) of the row being written: a safe integer. */
  int64Field(s: ByteSink, i: number, v: number): void {
    s.reserve(15)
    writeVarint32(s, this.fields[i].tag)
    writeInt64(s, v)
  }

  /** Field i (a DOUBLE) of the row being written. */
  doubleField(s: ByteSink, i: number, v: number): void {
    s.reserve(13)
    writeVarint32(s, this.fields[i].tag)
    s.pos = s.buf.writeDoubleLE(v, s.pos)
  }

  /** The row through protobufjs (conversions and refusals as it does them), in place of what was written. */
  private slow(s: ByteSink, values: ArrayLike<Value | boolean | undefined>): void {
    s.pos = s.rowStart
    const o: Record<string, unknown> = {}
    for (let i = 0; i < this.fields.length; i++) {
      const v = values[i]
      if (v !== null && v !== undefined) o[this.fields[i].name] = v
    }
    const bytes = this.type.encode(this.type.fromObject(o)).finish()
    s.reserve(bytes.length)
    s.buf.set(bytes, s.pos)
    s.pos += bytes.length
  }
}
