import type {Http2Server, Http2Session} from 'node:http2'
import {createRequire} from 'node:module'
import path from 'node:path'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import protobuf from 'protobufjs'
import {afterAll, beforeAll} from 'vitest'
import 'protobufjs/ext/descriptor/index.js'
import {DuckDbStandIn} from './bigquery-on-duckdb.js'
import {type GcpDouble, startGcpDouble} from './gcp-doubles.js'

/**
 * An in-process gRPC double of google.cloud.bigquery.storage.v1.BigQueryWrite, as strict as the service where
 * seneka relies on it: PENDING streams are invisible until finalized and batch-committed; a batch commit is
 * atomic per table and all-or-nothing (any stream error commits none); a stream commits once; appends carry
 * offsets (a repeat is ALREADY_EXISTS, a gap OUT_OF_RANGE); a finalized stream takes no append; a request over
 * 10 MB is refused; rows with a field the table lacks are refused (SCHEMA_MISMATCH_EXTRA_FIELDS); commit_time is
 * set only by a commit. The `_default` stream is visible at once and takes no offsets; a COMMITTED-type stream is
 * visible at once, takes offsets, and takes no append once finalized. Committed rows go into the
 * BigQuery REST double's tables (and its DuckDB stand-in, when it has one) so queries see them.
 */

const require = createRequire(import.meta.url)
const PROTOS = path.join(path.dirname(require.resolve('@google-cloud/bigquery-storage/package.json')), 'build', 'protos')
// google/api and google/rpc come with the client's google-gax (build/src/index.js -> build/protos)
const GAX_PROTOS = path.join(path.dirname(createRequire(require.resolve('@google-cloud/bigquery-storage/package.json')).resolve('google-gax')), '..', 'protos')

export const MAX_REQUEST_BYTES = 10 * 1024 * 1024
/** the HTTP/2 receive window the double advertises per stream (and 4x that for a connection) */
const WINDOW_BYTES = 8 * 1024 * 1024

const Code = grpc.status
const StorageErrorCode = {STREAM_ALREADY_COMMITTED: 2, STREAM_NOT_FOUND: 3, INVALID_STREAM_TYPE: 4, INVALID_STREAM_STATE: 5, STREAM_FINALIZED: 6, SCHEMA_MISMATCH_EXTRA_FIELDS: 7, OFFSET_ALREADY_EXISTS: 8, OFFSET_OUT_OF_RANGE: 9}
const TYPE = {COMMITTED: 1, PENDING: 2, BUFFERED: 3} as const

export interface DoubleStream {
  name: string
  /** dataset.table in the REST double */
  table: string
  type: number
  createTime: Date
  commitTime?: Date
  finalized: boolean
  rows: Array<Record<string, unknown>>
}

export interface WriteApiDouble {
  /** HOST:PORT, for BIGQUERY_STORAGE_EMULATOR_HOST */
  host: string
  streams: Map<string, DoubleStream>
  /** calls by method name, in order */
  calls: Array<{method: string; request: any}>
  /** AppendRows connections opened and not yet closed by either side */
  openConnections: number
  /** the stream each open AppendRows connection writes to (undefined: no request yet) */
  openStreams(): Array<string | undefined>
  connectionsOpened: number
  /** the next N appends (matching) are applied, then the connection breaks before the reply (a lost reply) */
  loseAppendReplies(n: number, match?: (streamName: string) => boolean): void
  /** the next N appends (matching) are not applied and answered with this error in the response (INTERNAL ...) */
  failAppends(n: number, code: number, match?: (streamName: string) => boolean): void
  /** the next matching append is refused with a row error on its row `index` (as the service refuses a bad value) */
  refuseRow(index: number, match?: (streamName: string) => boolean): void
  /** told after every applied batch commit, with the number applied so far */
  onCommitted?: (count: number) => void
  /** decodes the rows of a table kept serialized (lazyRows) in place; throws on the first row that fails */
  materialize(table: string): void
  /** the next batch commit is applied and never answered; `onHeld` is told (a test then kills the client) */
  holdNextCommitReply(onHeld: () => void): void
  /** the next N batch commits are applied, then answered UNAVAILABLE (a lost reply) */
  loseCommitReplies(n: number): void
  /** the next N calls of a unary method fail with UNAVAILABLE before doing anything */
  failCalls(method: string, n: number): void
  close(): Promise<void>
}

function loadService(): grpc.ServiceDefinition {
  const def = protoLoader.loadSync('google/cloud/bigquery/storage/v1/storage.proto', {includeDirs: [PROTOS, GAX_PROTOS], keepCase: false, longs: String, enums: Number, defaults: false, oneofs: true})
  const pkg = grpc.loadPackageDefinition(def) as any
  return pkg.google.cloud.bigquery.storage.v1.BigQueryWrite.service
}

const ts = (d: Date) => ({seconds: String(Math.floor(d.getTime() / 1000)), nanos: (d.getTime() % 1000) * 1e6})

function grpcError(code: number, message: string, storage?: {code: number; entity: string}): grpc.ServiceError {
  const md = new grpc.Metadata()
  if (storage) {
    const root = protobuf.Root.fromJSON({nested: {StorageError: {fields: {code: {type: 'int32', id: 1}, entity: {type: 'string', id: 2}, errorMessage: {type: 'string', id: 3}}}}})
    const T = root.lookupType('StorageError')
    md.add('google.cloud.bigquery.storage.v1.storageerror-bin', Buffer.from(T.encode(T.create({...storage, errorMessage: message})).finish()))
  }
  return Object.assign(new Error(message), {code, details: message, metadata: md}) as grpc.ServiceError
}

/** projects/P/datasets/D/tables/T -> D.T */
function tableKey(parent: string): string | undefined {
  const m = /^projects\/[^/]+\/datasets\/([^/]+)\/tables\/([^/]+)$/.exec(parent)
  return m ? `${m[1]}.${m[2]}` : undefined
}

/** A row kept as it was sent (WriteApiDoubleOptions.lazyRows), decoded when read. */
class LazyRow {
  constructor(
    readonly table: string,
    readonly type: protobuf.Type,
    readonly buf: Uint8Array,
    readonly index: number,
  ) {}
}

export interface WriteApiDoubleOptions {
  /**
   * Tables whose appended rows are kept serialized and decoded only when read (`materialize`), not on arrival:
   * for the bench only, where decoding every row would take the benchmarked worker's own cores for work the real
   * service does on Google's machines. Everything else stays as strict on every append (writer schema, extra
   * fields, request size, offsets, finalize, commit); a row that does not decode or lacks a REQUIRED field fails
   * at `materialize` instead of its append. Tests keep the default: every row decoded as it arrives.
   */
  lazyRows?: (table: string) => boolean
}

export async function startWriteApiDouble(bq: GcpDouble, options: WriteApiDoubleOptions = {}): Promise<WriteApiDouble> {
  const streams = new Map<string, DoubleStream>()
  const calls: WriteApiDouble['calls'] = []
  const lostAppends: Array<{match: (s: string) => boolean}> = []
  const failedAppends: Array<{match: (s: string) => boolean; code: number}> = []
  const refusedRows: Array<{match: (s: string) => boolean; index: number}> = []
  let lostCommits = 0
  let commits = 0
  let holdCommit: (() => void) | undefined
  const failing = new Map<string, number>()
  let seq = 0
  /** writer schemas seen, decoded once */
  const types = new Map<string, protobuf.Type>()
  const sockets = new Set<grpc.ServerDuplexStream<any, any>>()

  /** push(...src) of a big batch overflows the call stack (over about 120,000 rows) */
  function appendAll<T>(dst: T[], src: readonly T[]): void {
    for (const x of src) dst.push(x)
  }

  /** A table's rows get the committed rows, with BigQuery's REST cell types (TIMESTAMP as micros). */
  async function publish(table: string, rows: Array<Record<string, unknown>>): Promise<void> {
    const t = bq.tables.get(table)!
    appendAll(t.rows, rows)
    if (bq.sql && rows.length > 0) {
      const [ds, name] = table.split('.')
      const fields = t.metadata.schema.fields as Array<{name: string; type: string}>
      await bq.sql.insertRows(ds, name, fields, rows)
    }
  }

  function fieldsOf(table: string): Array<{name: string; type: string; mode?: string}> | undefined {
    return bq.tables.get(table)?.metadata.schema?.fields
  }

  /** The writer schema of a request as a protobuf type, checked against the table's schema (no extra field). */
  function writerType(table: string, schema: any): {type?: protobuf.Type; error?: grpc.ServiceError} {
    const fields = fieldsOf(table)!
    const byName = new Map(fields.map((f) => [f.name.toLowerCase(), f]))
    const desc = schema?.protoDescriptor
    if (!desc) return {error: grpcError(Code.INVALID_ARGUMENT, 'Invalid proto schema: the first request on a connection must carry writer_schema')}
    const extra = (desc.field ?? []).map((f: any) => String(f.name)).filter((n: string) => !byName.has(n.toLowerCase()))
    if (extra.length > 0) {
      return {error: grpcError(Code.INVALID_ARGUMENT, `Input schema has more fields than BigQuery schema, extra fields: '${extra.join(',')}'`, {code: StorageErrorCode.SCHEMA_MISMATCH_EXTRA_FIELDS, entity: extra.join(',')})}
    }
    const key = JSON.stringify(desc)
    let type = types.get(key)
    if (!type) {
      type = protobuf.Type.fromDescriptor(desc)
      types.set(key, type)
    }
    return {type}
  }

  /** One serialized row as the table's row (REST cell types), or its row error. */
  function decodeRow(fields: Array<{name: string; type: string; mode?: string}>, type: protobuf.Type, buf: Uint8Array, index: number): {row?: Record<string, unknown>; rowError?: any} {
    let msg: any
    try {
      msg = type.toObject(type.decode(buf), {longs: String, defaults: false})
    } catch (err) {
      return {rowError: {index: String(index), code: 1, message: `cannot decode the row: ${(err as Error).message}`}}
    }
    const row: Record<string, unknown> = {}
    for (const f of fields) {
      const v = msg[f.name] ?? msg[f.name.toLowerCase()]
      if (v === undefined || v === null) {
        if (f.mode === 'REQUIRED') return {rowError: {index: String(index), code: 1, message: `Field ${f.name} is required but missing`}}
        row[f.name] = null
      } else if (f.type === 'TIMESTAMP' || f.type === 'INTEGER' || f.type === 'INT64') row[f.name] = Number(v)
      else row[f.name] = v
    }
    return {row}
  }

  /** Decodes a request's rows with its writer schema; checks them against the table's schema. */
  function decodeRows(table: string, req: any, schema: any): {rows?: Array<Record<string, unknown>>; error?: grpc.ServiceError; rowErrors?: any[]} {
    const {type, error} = writerType(table, schema)
    if (error) return {error}
    const serialized: Buffer[] = req.protoRows?.rows?.serializedRows ?? []
    // the bench's mode: the rows stay serialized until read (materialize); each is decoded then, as strictly
    if (options.lazyRows?.(table)) return {rows: serialized.map((buf, index) => new LazyRow(table, type!, buf, index) as unknown as Record<string, unknown>)}
    const fields = fieldsOf(table)!
    const rows: Array<Record<string, unknown>> = []
    const rowErrors: any[] = []
    serialized.forEach((buf, index) => {
      const d = decodeRow(fields, type!, buf, index)
      if (d.rowError) rowErrors.push(d.rowError)
      else rows.push(d.row!)
    })
    if (rowErrors.length > 0) return {rowErrors}
    return {rows}
  }

  function unary(method: string, fn: (req: any) => Promise<any> | any) {
    return (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
      calls.push({method, request: call.request})
      const left = failing.get(method) ?? 0
      if (left > 0) {
        failing.set(method, left - 1)
        return cb(grpcError(Code.UNAVAILABLE, `simulated: ${method} unavailable`))
      }
      Promise.resolve()
        .then(() => fn(call.request))
        .then(
          (res) => cb(null, res),
          (err) => cb(err),
        )
    }
  }

  function resource(s: DoubleStream, full = false): any {
    return {
      name: s.name,
      type: s.type,
      createTime: ts(s.createTime),
      ...(s.commitTime ? {commitTime: ts(s.commitTime)} : {}),
      writeMode: 1,
      location: 'EU',
      ...(full ? {tableSchema: {fields: (fieldsOf(s.table) ?? []).map((f) => ({name: f.name, type: f.type === 'INTEGER' ? 'INT64' : f.type, mode: f.mode === 'REQUIRED' ? 2 : 1}))}} : {}),
    }
  }

  function defaultStream(name: string): DoubleStream | undefined {
    const m = /^(projects\/[^/]+\/datasets\/[^/]+\/tables\/[^/]+)\/streams\/_default$/.exec(name)
    if (!m) return undefined
    const table = tableKey(m[1])
    if (!table || !bq.tables.has(table)) return undefined
    return {name, table, type: TYPE.COMMITTED, createTime: new Date(0), finalized: false, rows: []}
  }

  const impl: grpc.UntypedServiceImplementation = {
    CreateWriteStream: unary('CreateWriteStream', (req) => {
      const table = tableKey(req.parent)
      if (!table || !bq.tables.has(table)) throw grpcError(Code.NOT_FOUND, `Requested entity was not found. Entity: ${req.parent}`)
      const type = Number(req.writeStream?.type ?? 0)
      if (type !== TYPE.PENDING && type !== TYPE.COMMITTED && type !== TYPE.BUFFERED) throw grpcError(Code.INVALID_ARGUMENT, 'Invalid stream type')
      const s: DoubleStream = {name: `${req.parent}/streams/S${String(++seq).padStart(6, '0')}`, table, type, createTime: new Date(), finalized: false, rows: []}
      streams.set(s.name, s)
      return resource(s)
    }),
    GetWriteStream: unary('GetWriteStream', (req) => {
      const s = streams.get(req.name)
      if (!s) throw grpcError(Code.NOT_FOUND, `Requested entity was not found. Entity: ${req.name}`, {code: StorageErrorCode.STREAM_NOT_FOUND, entity: req.name})
      return resource(s, Number(req.view) === 2)
    }),
    FinalizeWriteStream: unary('FinalizeWriteStream', (req) => {
      const s = streams.get(req.name)
      if (!s) throw grpcError(Code.NOT_FOUND, `Requested entity was not found. Entity: ${req.name}`, {code: StorageErrorCode.STREAM_NOT_FOUND, entity: req.name})
      if (s.type === TYPE.COMMITTED && s.name.endsWith('/_default')) throw grpcError(Code.INVALID_ARGUMENT, 'Cannot finalize the default stream')
      // the stricter reading of an undocumented case: a committed-type stream is finalized once
      if (s.type === TYPE.COMMITTED && s.finalized) throw grpcError(Code.INVALID_ARGUMENT, `Stream is already finalized: ${s.name}`, {code: StorageErrorCode.STREAM_FINALIZED, entity: s.name})
      s.finalized = true
      return {rowCount: String(s.rows.length)}
    }),
    BatchCommitWriteStreams: unary('BatchCommitWriteStreams', async (req) => {
      const table = tableKey(req.parent)
      if (!table || !bq.tables.has(table)) throw grpcError(Code.NOT_FOUND, `Requested entity was not found. Entity: ${req.parent}`)
      const names: string[] = req.writeStreams ?? []
      if (names.length === 0) throw grpcError(Code.INVALID_ARGUMENT, 'write_streams is required')
      if (names.length > 10_000) throw grpcError(Code.INVALID_ARGUMENT, 'at most 10,000 streams per commit')
      const streamErrors: any[] = []
      for (const n of names) {
        const s = streams.get(n)
        if (!s) streamErrors.push({code: StorageErrorCode.STREAM_NOT_FOUND, entity: n, errorMessage: 'stream not found'})
        else if (s.table !== table) streamErrors.push({code: StorageErrorCode.INVALID_STREAM_STATE, entity: n, errorMessage: 'stream belongs to another table'})
        else if (s.type !== TYPE.PENDING) streamErrors.push({code: StorageErrorCode.INVALID_STREAM_TYPE, entity: n, errorMessage: 'only PENDING streams are committed'})
        else if (s.commitTime) streamErrors.push({code: StorageErrorCode.STREAM_ALREADY_COMMITTED, entity: n, errorMessage: 'stream already committed'})
        else if (!s.finalized) streamErrors.push({code: StorageErrorCode.INVALID_STREAM_STATE, entity: n, errorMessage: 'stream is not finalized'})
      }
      // all or nothing: any stream error commits none, and the response has no commit_time
      if (streamErrors.length > 0) return {streamErrors}
      const now = new Date()
      for (const n of names) {
        const s = streams.get(n)!
        s.commitTime = now
        await publish(table, s.rows)
      }
      double.onCommitted?.(++commits)
      if (holdCommit) {
        const told = holdCommit
        holdCommit = undefined
        told()
        return new Promise(() => {})
      }
      if (lostCommits > 0) {
        lostCommits--
        throw grpcError(Code.UNAVAILABLE, 'simulated: the commit was applied, its reply lost')
      }
      return {commitTime: ts(now)}
    }),
    FlushRows: unary('FlushRows', () => {
      throw grpcError(Code.UNIMPLEMENTED, 'FlushRows is not used by seneka')
    }),
    AppendRows: (call: grpc.ServerDuplexStream<any, any>) => {
      sockets.add(call)
      double.openConnections++
      double.connectionsOpened++
      let closed = false
      const done = () => {
        if (closed) return
        closed = true
        sockets.delete(call)
        double.openConnections--
      }
      call.on('end', () => {
        done()
        call.end()
      })
      call.on('error', done)
      call.on('cancelled', done)
      call.on('close', done)
      let streamName: string | undefined
      const named = call as grpc.ServerDuplexStream<any, any> & {streamName?: string}
      let schema: any
      let chain = Promise.resolve()
      call.on('data', (req: any) => {
        chain = chain.then(async () => {
          calls.push({method: 'AppendRows', request: req})
          if (req.writeStream) streamName = named.streamName = req.writeStream
          if (req.protoRows?.writerSchema) schema = req.protoRows.writerSchema
          const reply = (r: any) => !closed && call.write({...r, writeStream: streamName ?? ''})
          const replyError = (code: number, message: string) => reply({error: {code, message}})
          if (!streamName) return replyError(Code.INVALID_ARGUMENT, 'write_stream is required on the first request')
          const s = streams.get(streamName) ?? defaultStream(streamName)
          if (!s) return replyError(Code.NOT_FOUND, `Requested entity was not found. Entity: ${streamName}`)
          const size = (req.protoRows?.rows?.serializedRows ?? []).reduce((n: number, b: Buffer) => n + b.length, 0)
          if (size >= MAX_REQUEST_BYTES) return replyError(Code.INVALID_ARGUMENT, `AppendRows request too large: ${size} bytes, the limit is ${MAX_REQUEST_BYTES}`)
          if (s.finalized || s.commitTime) return replyError(Code.INVALID_ARGUMENT, `Stream is finalized: ${s.name}`)
          const isDefault = s.name.endsWith('/_default')
          const offset = req.offset ? Number(req.offset.value ?? 0) : undefined
          if (isDefault && offset !== undefined) return replyError(Code.INVALID_ARGUMENT, 'offset is not supported on the default stream')
          if (offset !== undefined && offset < s.rows.length) return replyError(Code.ALREADY_EXISTS, `The offset is within stream, expected offset ${s.rows.length}, received ${offset}`)
          if (offset !== undefined && offset > s.rows.length) return replyError(Code.OUT_OF_RANGE, `The offset is beyond stream, expected offset ${s.rows.length}, received ${offset}`)
          const failed = failedAppends.findIndex((f) => f.match(s.name))
          if (failed >= 0) {
            const [f] = failedAppends.splice(failed, 1)
            return replyError(f.code, 'simulated: the append was not applied')
          }
          const decoded = decodeRows(s.table, req, schema)
          if (decoded.error) {
            // a schema mismatch ends the connection, with the storage error in the trailers
            if (!closed) call.emit('error', decoded.error)
            return
          }
          const refused = refusedRows.findIndex((f) => f.match(s.name))
          if (refused >= 0) {
            const [f] = refusedRows.splice(refused, 1)
            decoded.rowErrors = [{index: String(f.index), code: 1, message: `Field event_time: value out of range`}]
          }
          if (decoded.rowErrors) return reply({error: {code: Code.INVALID_ARGUMENT, message: 'Errors found in the rows of the request, none appended'}, rowErrors: decoded.rowErrors})
          const start = isDefault ? 0 : s.rows.length
          if (isDefault) await publish(s.table, decoded.rows!)
          else {
            appendAll(s.rows, decoded.rows!)
            // a COMMITTED-type stream: visible as soon as the append is applied
            if (s.type === TYPE.COMMITTED) await publish(s.table, decoded.rows!)
          }
          const lost = lostAppends.findIndex((l) => l.match(s.name))
          if (lost >= 0) {
            lostAppends.splice(lost, 1)
            if (!closed) call.emit('error', grpcError(Code.UNAVAILABLE, 'simulated: the append was applied, the connection broke before its reply'))
            return
          }
          reply({appendResult: isDefault ? {} : {offset: {value: String(start)}}})
        }).then(() => undefined)
      })
    },
  }

  // the service takes requests up to its own limit (checked above), not grpc's 4 MB default
  const server = new grpc.Server({'grpc.max_receive_message_length': 64 * 1024 * 1024})
  server.addService(loadService(), impl)
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))))
  // HTTP/2 windows of 8 MiB a stream: Node's default (64 KiB), which grpc-js's server keeps and has no option for,
  // made each 9 MiB append wait on about 140 window updates from this process's event loop: the double's own
  // limit, not the service's (docs/performance.md)
  for (const h2 of (server as unknown as {http2Servers: Map<Http2Server, unknown>}).http2Servers.keys()) {
    h2.updateSettings({initialWindowSize: WINDOW_BYTES})
    h2.on('session', (session: Http2Session) => session.setLocalWindowSize(4 * WINDOW_BYTES))
  }
  const double: WriteApiDouble = {
    host: `127.0.0.1:${port}`,
    streams,
    calls,
    openConnections: 0,
    connectionsOpened: 0,
    openStreams: () => [...sockets].map((c) => (c as {streamName?: string}).streamName),
    loseAppendReplies(n, match = () => true) {
      for (let i = 0; i < n; i++) lostAppends.push({match})
    },
    failAppends(n, code, match = () => true) {
      for (let i = 0; i < n; i++) failedAppends.push({match, code})
    },
    refuseRow(index, match = () => true) {
      refusedRows.push({match, index})
    },
    materialize(table) {
      const t = bq.tables.get(table)
      if (!t) return
      const fields = fieldsOf(table)!
      t.rows.forEach((r, i) => {
        if (!(r instanceof LazyRow)) return
        const d = decodeRow(fields, r.type, r.buf, r.index)
        if (d.rowError) throw new Error(`row ${i} of ${table}: ${d.rowError.message}`)
        t.rows[i] = d.row!
      })
    },
    holdNextCommitReply(onHeld) {
      holdCommit = onHeld
    },
    loseCommitReplies(n) {
      lostCommits += n
    },
    failCalls(method, n) {
      failing.set(method, (failing.get(method) ?? 0) + n)
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of sockets) c.end()
        // a held reply would keep a graceful shutdown waiting
        server.forceShutdown()
        resolve()
      }),
  }
  return double
}

/** The Google stand-ins together: the REST double with its DuckDB stand-in (queries really run) and the Write API double. */
export interface GoogleStandIns {
  g: GcpDouble
  sql: DuckDbStandIn
  w: WriteApiDouble
  close(): Promise<void>
}

export async function startGoogleStandIns(options: WriteApiDoubleOptions = {}): Promise<GoogleStandIns> {
  const [g, sql] = await Promise.all([startGcpDouble(), DuckDbStandIn.open()])
  g.sql = sql
  g.pollsUntilDone = 0
  const w = await startWriteApiDouble(g, options)
  return {
    g,
    sql,
    w,
    close: async () => {
      await w.close()
      sql.close()
      await g.close()
    },
  }
}

/** The stand-ins of a test file: started before its tests, closed after them. */
export function useGoogleStandIns(): GoogleStandIns {
  const holder = {} as GoogleStandIns
  beforeAll(async () => {
    Object.assign(holder, await startGoogleStandIns())
  })
  afterAll(() => holder.close())
  return holder
}
