import {adapt, type protos} from '@google-cloud/bigquery-storage'
import protobuf from 'protobufjs'
import descriptorProtos from 'protobufjs/ext/descriptor/index.js'
import type {BqField} from '../sql.js'
import {REQUEST_BYTES_BUDGET, RequestSplitter} from './row-writer.js'

/**
 * Protobuf rows for the Storage Write API, from a BigQuery table schema: the descriptor sent as the writer
 * schema, and one encoder. TIMESTAMP goes as INT64 microseconds since the epoch (what the service reads),
 * INT64 as int64 (a decimal string beyond 2^53 stays exact), FLOAT64 as double, STRING as string.
 */

export {MAX_REQUEST_BYTES, REQUEST_BYTES_BUDGET} from './row-writer.js'

export type RowValues = Record<string, string | number | null>

export class RowEncoder {
  readonly descriptor: protos.google.protobuf.IDescriptorProto
  /** the normalized descriptor as protobuf bytes: what a RowWriter (row-writer.ts, in a worker thread) is built from */
  readonly descriptorBytes: Uint8Array
  private readonly type: protobuf.Type

  constructor(readonly fields: readonly BqField[]) {
    const storage = adapt.convertBigQuerySchemaToStorageTableSchema({fields: fields.map((f) => ({name: f.name, type: f.type, mode: f.mode ?? 'NULLABLE'}))})
    const desc = adapt.convertStorageSchemaToProto2Descriptor(storage, 'root')
    this.descriptor = desc.toJSON() as protos.google.protobuf.IDescriptorProto
    const normalized = adapt.normalizeDescriptor(desc)
    this.descriptorBytes = (descriptorProtos as unknown as {DescriptorProto: {encode(d: unknown): protobuf.Writer}}).DescriptorProto.encode(normalized).finish()
    this.type = (protobuf.Type as unknown as {fromDescriptor(d: unknown): protobuf.Type}).fromDescriptor(normalized)
  }

  /** One row; null values are left out (NULL in the table). */
  encode(row: RowValues): Uint8Array {
    const o: Record<string, string | number> = {}
    for (const k in row) {
      const v = row[k]
      if (v !== null && v !== undefined) o[k] = v
    }
    return this.type.encode(this.type.fromObject(o)).finish()
  }
}

/** Splits encoded rows into requests below the byte budget (and at most maxRows rows each). */
export class RequestBuilder {
  readonly requests: Uint8Array[][] = []
  private current: Uint8Array[] = []
  private readonly splitter: RequestSplitter

  constructor(budget = REQUEST_BYTES_BUDGET, maxRows = 50_000) {
    this.splitter = new RequestSplitter(budget, maxRows)
  }

  get rows(): number {
    return this.splitter.rows
  }

  /** Adds one encoded row; a row alone above the budget is refused (the caller rejects its line). */
  add(row: Uint8Array): boolean {
    if (!this.splitter.fits(row.length)) return false
    if (this.splitter.add(row.length)) {
      this.requests.push(this.current)
      this.current = []
    }
    this.current.push(row)
    return true
  }

  done(): Uint8Array[][] {
    if (this.current.length > 0) this.requests.push(this.current)
    this.current = []
    return this.requests
  }
}
