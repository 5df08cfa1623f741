import {adapt, type protos} from '@google-cloud/bigquery-storage'
import protobuf from 'protobufjs'
import 'protobufjs/ext/descriptor/index.js'
import type {BqField} from '../sql.js'

/**
 * Protobuf rows for the Storage Write API, from a BigQuery table schema: the descriptor sent as the writer
 * schema, and one encoder. TIMESTAMP goes as INT64 microseconds since the epoch (what the service reads),
 * INT64 as int64 (a decimal string beyond 2^53 stays exact), FLOAT64 as double, STRING as string.
 */

/** The service refuses requests of 10 MB or more (the quotas page says 20 MB: design for the stricter). */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024
/** Rows per request are cut well below the limit: the request carries the writer schema and framing too. */
export const REQUEST_BYTES_BUDGET = 9 * 1024 * 1024

export type RowValues = Record<string, string | number | null>

export class RowEncoder {
  readonly descriptor: protos.google.protobuf.IDescriptorProto
  private readonly type: protobuf.Type

  constructor(readonly fields: readonly BqField[]) {
    const storage = adapt.convertBigQuerySchemaToStorageTableSchema({fields: fields.map((f) => ({name: f.name, type: f.type, mode: f.mode ?? 'NULLABLE'}))})
    const desc = adapt.convertStorageSchemaToProto2Descriptor(storage, 'root')
    this.descriptor = desc.toJSON() as protos.google.protobuf.IDescriptorProto
    this.type = (protobuf.Type as unknown as {fromDescriptor(d: unknown): protobuf.Type}).fromDescriptor(adapt.normalizeDescriptor(desc))
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
  private bytes = 0
  rows = 0

  constructor(
    private readonly budget = REQUEST_BYTES_BUDGET,
    private readonly maxRows = 50_000,
  ) {}

  /** Adds one encoded row; a row alone above the budget is refused (the caller rejects its line). */
  add(row: Uint8Array): boolean {
    if (row.length + 16 > this.budget) return false
    if (this.current.length > 0 && (this.bytes + row.length + 16 > this.budget || this.current.length >= this.maxRows)) this.cut()
    this.current.push(row)
    this.bytes += row.length + 16
    this.rows++
    return true
  }

  private cut(): void {
    this.requests.push(this.current)
    this.current = []
    this.bytes = 0
  }

  done(): Uint8Array[][] {
    if (this.current.length > 0) this.cut()
    return this.requests
  }
}
