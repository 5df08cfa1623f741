/**
 * AppendRowsRequest bytes, written by hand: the rows are protobuf already (row-writer.ts), so the request is a few
 * bytes of framing around them. Through the client's Writer, protobufjs turned every row into a writer operation and
 * grpc-js copied the message again: most of the main thread's work in a backfill (docs/performance.md). The message
 * is the one `managedwriter.Writer.appendRows` sends, field for field (storage.proto, protobuf.proto):
 *
 *   AppendRowsRequest { string write_stream = 1; google.protobuf.Int64Value offset = 2;
 *                       ProtoData proto_rows = 4; string trace_id = 6; }
 *   ProtoData { ProtoSchema writer_schema = 1; ProtoRows rows = 2; }
 *   ProtoSchema { google.protobuf.DescriptorProto proto_descriptor = 1; }
 *   ProtoRows { repeated bytes serialized_rows = 1; }
 *   Int64Value { int64 value = 1; }
 */

/** wire type 2 (length-delimited) of a field */
const LEN = (field: number) => (field << 3) | 2

function varintSize(n: number): number {
  let size = 1
  while (n >= 128) {
    n = Math.floor(n / 128)
    size++
  }
  return size
}

function writeVarint(buf: Uint8Array, at: number, n: number): number {
  while (n >= 128) {
    buf[at++] = (n % 128) | 128
    n = Math.floor(n / 128)
  }
  buf[at++] = n
  return at
}

/** tag + length + body */
const fieldSize = (bodySize: number) => 1 + varintSize(bodySize) + bodySize

export interface AppendRequestHead {
  /** the write stream's name (UTF-8 bytes) */
  stream: Uint8Array
  /** google.protobuf.DescriptorProto of the rows, encoded */
  descriptor: Uint8Array
  /** trace_id (UTF-8 bytes) */
  trace: Uint8Array
}

export function appendRequestHead(stream: string, descriptor: Uint8Array, trace: string): AppendRequestHead {
  return {stream: Buffer.from(stream, 'utf8'), descriptor, trace: Buffer.from(trace, 'utf8')}
}

/** One AppendRowsRequest: these rows (each a serialized row message) at this offset (undefined: none sent). */
export function encodeAppendRequest(head: AppendRequestHead, offset: number | undefined, rows: readonly Uint8Array[]): Buffer {
  let rowsSize = 0
  for (const r of rows) rowsSize += fieldSize(r.length)
  const schemaSize = fieldSize(head.descriptor.length)
  const dataSize = fieldSize(schemaSize) + fieldSize(rowsSize)
  const offsetSize = offset === undefined ? 0 : 1 + varintSize(offset)
  const size = fieldSize(head.stream.length) + (offset === undefined ? 0 : fieldSize(offsetSize)) + fieldSize(dataSize) + fieldSize(head.trace.length)
  const buf = Buffer.allocUnsafe(size)
  let at = 0
  const open = (field: number, bodySize: number) => {
    buf[at++] = LEN(field)
    at = writeVarint(buf, at, bodySize)
  }
  const bytes = (field: number, b: Uint8Array) => {
    open(field, b.length)
    buf.set(b, at)
    at += b.length
  }
  bytes(1, head.stream)
  if (offset !== undefined) {
    open(2, offsetSize)
    buf[at++] = 0x08 // Int64Value.value, varint
    at = writeVarint(buf, at, offset)
  }
  open(4, dataSize)
  open(1, schemaSize)
  bytes(1, head.descriptor)
  open(2, rowsSize)
  for (const r of rows) bytes(1, r)
  bytes(6, head.trace)
  if (at !== size) throw new Error(`AppendRowsRequest: wrote ${at} bytes of ${size}`)
  return buf
}
