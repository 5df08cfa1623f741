import {protos} from '@google-cloud/bigquery-storage'
import {describe, expect, it} from 'vitest'
import {appendRequestHead, encodeAppendRequest} from '../../../src/lib/warehouse/bigquery/write-api/append-request.js'

const {AppendRowsRequest} = protos.google.cloud.bigquery.storage.v1
const {DescriptorProto} = protos.google.protobuf

const descriptor = {name: 'Row', field: [{name: 'a', number: 1, type: 9 /* TYPE_STRING */, label: 1}]}
const STREAM = 'projects/p/datasets/d/tables/t/streams/S000001'

/** What the client's Writer sends for the same rows: protobufjs encoding the request object. */
function reference(offset: number | undefined, rows: Uint8Array[]): Buffer {
  return Buffer.from(
    AppendRowsRequest.encode({
      writeStream: STREAM,
      ...(offset === undefined ? {} : {offset: {value: offset}}),
      protoRows: {writerSchema: {protoDescriptor: descriptor}, rows: {serializedRows: rows}},
      traceId: 'seneka',
    }).finish(),
  )
}

const row = (n: number, fill: number) => new Uint8Array(n).fill(fill)

describe('AppendRowsRequest written by hand', () => {
  const head = appendRequestHead(STREAM, DescriptorProto.encode(descriptor).finish(), 'seneka')

  it.each([
    ['offset 0, one empty row', 0, [row(0, 0)]],
    ['no offset (a default stream)', undefined, [row(3, 1)]],
    ['lengths across varint sizes (127, 128, 16,384 bytes)', 5, [row(127, 2), row(128, 3), row(16_384, 4), row(1, 5)]],
    ['an offset past 2^32 and 2^40', 2 ** 40 + 7, [row(10, 6), row(20, 7)]],
    ['no rows', 12, []],
  ])('is byte for byte what protobufjs writes: %s', (_name, offset, rows) => {
    expect(encodeAppendRequest(head, offset, rows).equals(reference(offset, rows))).toBe(true)
  })

  it('decodes to the stream, offset, schema and every row', () => {
    const rows = Array.from({length: 1000}, (_, i) => row(i % 300, i % 256))
    const req = AppendRowsRequest.decode(encodeAppendRequest(head, 42, rows))
    expect(req.writeStream).toBe(STREAM)
    expect(Number(req.offset?.value)).toBe(42)
    expect(req.protoRows?.writerSchema?.protoDescriptor?.name).toBe('Row')
    const got = req.protoRows?.rows?.serializedRows ?? []
    expect(got.length).toBe(1000)
    got.forEach((b, i) => expect(Buffer.from(b).equals(Buffer.from(rows[i]))).toBe(true))
  })
})
