import {createRequire} from 'node:module'
import {managedwriter, protos} from '@google-cloud/bigquery-storage'
import {StreamConnection} from '@google-cloud/bigquery-storage/build/src/managedwriter/stream_connection.js'
import {UserError} from '../../../errors.js'
import {withRetry} from '../../../retry.js'
import {appendRequestHead, encodeAppendRequest} from './append-request.js'

/**
 * The Storage Write API calls seneka makes, over the real client (`@google-cloud/bigquery-storage`
 * managedwriter), with ONE owner of retries: this module. The client's own write retries stay off (its default),
 * so a connection error reaches here and the append resumes from the last acknowledged offset. Appends to a
 * stream of seneka's own go on AppendRows calls opened on the client's channel with requests seneka serializes
 * (AppendCall, append-request.ts: the rows are protobuf already); the ledger's default-stream appends go through
 * the client's Writer.
 *
 * How errors come back, as the Node client reports them: an error in an append's response (ALREADY_EXISTS,
 * OUT_OF_RANGE, row errors) RESOLVES the pending write with `error` set, except a transient code, which rejects it;
 * a connection-level failure REJECTS it (the schema mismatch comes that way, its details in the storage-error
 * trailer).
 */

type WriteStream = protos.google.cloud.bigquery.storage.v1.IWriteStream
type AppendRowsResponse = protos.google.cloud.bigquery.storage.v1.IAppendRowsResponse
type IDescriptorProto = protos.google.protobuf.IDescriptorProto

/** gRPC status codes seneka looks at */
export const GrpcCode = {CANCELLED: 1, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, RESOURCE_EXHAUSTED: 8, ABORTED: 10, OUT_OF_RANGE: 11, INTERNAL: 13, UNAVAILABLE: 14} as const
/** google.cloud.bigquery.storage.v1.StorageError.StorageErrorCode */
export const StorageErrorCode = {STREAM_ALREADY_COMMITTED: 2, STREAM_NOT_FOUND: 3, SCHEMA_MISMATCH_EXTRA_FIELDS: 7} as const

/** A storage error code as the client decodes it (the enum's name) or as a number. */
export function storageCode(code: unknown): number | undefined {
  if (typeof code === 'number') return code
  if (typeof code === 'string') return (STORAGE_ERROR_NAMES as Record<string, number>)[code]
  return undefined
}
const STORAGE_ERROR_NAMES = {STREAM_ALREADY_COMMITTED: 2, STREAM_NOT_FOUND: 3, INVALID_STREAM_TYPE: 4, INVALID_STREAM_STATE: 5, STREAM_FINALIZED: 6, SCHEMA_MISMATCH_EXTRA_FIELDS: 7, OFFSET_ALREADY_EXISTS: 8, OFFSET_OUT_OF_RANGE: 9}

const TRANSIENT = new Set<number>([GrpcCode.CANCELLED, GrpcCode.DEADLINE_EXCEEDED, GrpcCode.RESOURCE_EXHAUSTED, GrpcCode.ABORTED, GrpcCode.INTERNAL, GrpcCode.UNAVAILABLE])

/** A dropped connection, an overloaded or briefly unavailable service: worth another attempt. */
export function isWriteTransient(err: unknown): boolean {
  const code = (err as {code?: unknown})?.code
  return typeof code === 'number' && TRANSIENT.has(code)
}

/** Appends at once on one connection (responses come back in request order). */
const WINDOW = 4

export interface WriteApiOptions {
  project: string
  /** HOST:PORT of a plaintext endpoint (BIGQUERY_STORAGE_EMULATOR_HOST); undefined: Google's, with ADC */
  emulatorHost?: string
  retries: number
  retryBaseDelayMs: number
}

interface GaxGrpc {
  credentials: {createInsecure(): unknown}
  Metadata: new () => {set(key: string, value: string): void}
}

let grpcOfGax: GaxGrpc | undefined

/** The gRPC module of the client's own google-gax (credentials and metadata must come from the same grpc-js). */
function gaxGrpc(): GaxGrpc {
  if (!grpcOfGax) {
    const req = createRequire(createRequire(import.meta.url).resolve('@google-cloud/bigquery-storage/package.json'))
    grpcOfGax = (req('google-gax') as {grpc: GaxGrpc}).grpc
  }
  return grpcOfGax
}

/** What seneka uses of the client's gRPC stub (a grpc-js client holding the channel and its credentials). */
interface WriteStub {
  appendRows: {path: string; responseDeserialize(bytes: Buffer): AppendRowsResponse}
  makeBidiStreamRequest(path: string, serialize: (b: Buffer) => Buffer, deserialize: (b: Buffer) => AppendRowsResponse, metadata: unknown, options: object): AppendDuplex
}

interface AppendDuplex {
  on(event: 'data', fn: (r: AppendRowsResponse) => void): void
  on(event: 'error' | 'end', fn: (err?: unknown) => void): void
  removeAllListeners(): void
  write(bytes: Buffer): boolean
  end(): void
  cancel(): void
}

/**
 * One AppendRows call on the client's own channel (its credentials, its endpoint), carrying requests seneka
 * serialized (append-request.ts); the service answers in request order. A connection error rejects every request
 * waiting, as the client's StreamConnection does.
 */
class AppendCall {
  private readonly waiting: Array<{resolve: (r: AppendRowsResponse) => void; reject: (err: unknown) => void}> = []
  private broken: unknown

  constructor(private readonly call: AppendDuplex) {
    call.on('data', (r) => {
      const w = this.waiting.shift()
      const code = r.error?.code
      // a transient code in a response rejects that request, as the client's StreamConnection does: the retry
      // owner (appendPending) sends again from the last acknowledged offset
      if (code && RESPONSE_RETRIED.has(code)) w?.reject(Object.assign(new Error(r.error?.message ?? `AppendRows answered code ${code}`), {code}))
      else w?.resolve(r)
    })
    call.on('error', (err) => this.fail(err))
    call.on('end', () => this.fail(Object.assign(new Error('the AppendRows call ended with requests unanswered'), {code: GrpcCode.UNAVAILABLE})))
  }

  private fail(err: unknown): void {
    this.broken ??= err
    for (const w of this.waiting.splice(0)) w.reject(err)
  }

  send(request: Buffer): Promise<AppendRowsResponse> {
    if (this.broken) return Promise.reject(this.broken)
    return new Promise((resolve, reject) => {
      this.waiting.push({resolve, reject})
      this.call.write(request)
    })
  }

  close(): void {
    this.call.removeAllListeners()
    this.call.on('error', () => {})
    this.call.end()
    this.call.cancel()
  }
}

/** response codes the client's StreamConnection turns into a rejected write */
const RESPONSE_RETRIED = new Set<number>([GrpcCode.ABORTED, GrpcCode.UNAVAILABLE, GrpcCode.CANCELLED, GrpcCode.INTERNAL, GrpcCode.DEADLINE_EXCEEDED])

/** names this writer in the service's logs, as the client's Writer does with its own */
const TRACE_ID = 'seneka'

/** What google-gax asks of its auth when the channel has its own (plaintext) credentials. */
function emulatorAuth(project: string): object {
  return {getUniverseDomain: async () => 'googleapis.com', getProjectId: async () => project, getClient: async () => ({}), getRequestHeaders: async () => ({})}
}

function toDate(t: {seconds?: unknown; nanos?: number | null} | null | undefined): Date | null {
  if (!t || t.seconds === undefined || t.seconds === null) return null
  return new Date(Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6))
}

export class WriteApi {
  private readonly client: InstanceType<typeof managedwriter.WriterClient>
  private ready: Promise<void> | undefined
  private readonly open = new Set<{close(): void}>()
  private readonly descriptors = new WeakMap<IDescriptorProto, Uint8Array>()
  private readonly defaults = new Map<string, Promise<StreamConnection>>()
  private closed = false

  constructor(private readonly opts: WriteApiOptions) {
    const host = opts.emulatorHost
    const m = host ? /^(.*):(\d+)$/.exec(host) : null
    if (host && !m) throw new UserError(`BIGQUERY_STORAGE_EMULATOR_HOST "${host}" is not HOST:PORT.`, {suggestion: 'For example BIGQUERY_STORAGE_EMULATOR_HOST=127.0.0.1:9060'})
    this.client = new managedwriter.WriterClient({
      projectId: opts.project,
      // an emulator or test double: plaintext, and no credentials lookup (no metadata-server probe)
      ...(m ? {servicePath: m[1], port: Number(m[2]), sslCreds: gaxGrpc().credentials.createInsecure() as never, auth: emulatorAuth(opts.project) as never} : {}),
    })
  }

  /** projects/P/datasets/D/tables/T */
  tablePath(datasetId: string, tableId: string): string {
    return `projects/${this.opts.project}/datasets/${datasetId}/tables/${tableId}`
  }

  private retry<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, {retries: this.opts.retries, baseDelayMs: this.opts.retryBaseDelayMs, isRetryable: isWriteTransient})
  }

  private init(): Promise<void> {
    this.ready ??= this.client.initialize()
    return this.ready
  }

  async createPendingStream(parent: string): Promise<{name: string; createdAt: Date}> {
    return this.createStream(parent, managedwriter.PendingStream)
  }

  /** A COMMITTED-type stream: each acknowledged append is visible at once (the committed lane). */
  async createCommittedStream(parent: string): Promise<{name: string; createdAt: Date}> {
    return this.createStream(parent, managedwriter.CommittedStream)
  }

  private async createStream(parent: string, streamType: string): Promise<{name: string; createdAt: Date}> {
    await this.init()
    const s: WriteStream = await this.retry(() => this.client.createWriteStreamFullResponse({streamType: streamType as never, destinationTable: parent}))
    return {name: String(s.name), createdAt: toDate(s.createTime as never) ?? new Date()}
  }

  /** commit_time of a stream (null: not committed); undefined when the stream does not exist (any more). */
  async commitTime(name: string): Promise<Date | null | undefined> {
    return (await this.streamInfo(name))?.commitTime
  }

  /** A stream's type and commit_time (GetWriteStream); undefined when it does not exist (any more). */
  async streamInfo(name: string): Promise<{committedType: boolean; commitTime: Date | null} | undefined> {
    await this.init()
    try {
      const s: WriteStream = await this.retry(() => this.client.getWriteStream({streamId: name, view: 1 /* BASIC */}))
      return {committedType: s.type === 'COMMITTED' || s.type === 1, commitTime: toDate(s.commitTime as never)}
    } catch (err) {
      if ((err as {code?: number}).code === GrpcCode.NOT_FOUND) return undefined
      throw err
    }
  }

  /**
   * Fences a committed-type stream: after FinalizeWriteStream no append lands in it, so what its table holds of it
   * then is all it will ever hold. Returns the stream's rows (finalize's row_count), or undefined when the stream
   * was finalized before or is gone (its TTL): fenced too, but only the table can say what landed.
   */
  async fence(name: string): Promise<number | undefined> {
    await this.init()
    try {
      const r = await this.retry(() => this.client.finalizeWriteStream({name}))
      return r.rowCount === undefined || r.rowCount === null ? undefined : Number(r.rowCount)
    } catch (err) {
      if (isWriteTransient(err)) throw err
      return undefined
    }
  }

  async finalize(name: string): Promise<number> {
    await this.init()
    const r = await this.retry(() => this.client.finalizeWriteStream({name}))
    return Number(r.rowCount ?? 0)
  }

  /**
   * Commits finalized PENDING streams of one table, atomically. A stream committed before (a retry after a lost
   * reply, or another worker settling the same entry) counts as done: each stream commits once, so this is
   * exactly once whoever commits.
   */
  async commit(parent: string, names: string[]): Promise<void> {
    await this.init()
    let todo = names
    for (let round = 0; todo.length > 0; round++) {
      const r = await this.retry(() => this.client.batchCommitWriteStream({parent, writeStreams: todo}))
      if (r.commitTime) return
      const errors = r.streamErrors ?? []
      const isAlready = (e: (typeof errors)[number]) => storageCode(e.code) === StorageErrorCode.STREAM_ALREADY_COMMITTED
      const already = new Set(errors.filter(isAlready).map((e) => String(e.entity)))
      const other = errors.find((e) => !isAlready(e))
      if (other || already.size === 0 || round > 1) {
        const e = other ?? errors[0]
        throw Object.assign(new Error(`BigQuery did not commit write stream ${e?.entity ?? names.join(', ')}: ${e?.errorMessage ?? 'no commit time in the reply'}`), {storageCode: e?.code})
      }
      // the batch is all or nothing: commit the others again without the committed ones
      todo = todo.filter((n) => !already.has(n))
    }
  }

  private connection(streamId: string): StreamConnection {
    const conn = new StreamConnection(streamId, this.client)
    // errors reach the pending writes; without a listener a non-retryable one would be thrown from an event
    conn.onConnectionError(() => {})
    this.open.add(conn)
    return conn
  }

  /** An AppendRows call of seneka's own serialized requests to this stream. */
  private async appendCall(streamId: string): Promise<AppendCall> {
    const stub = await (this.client.getClient() as unknown as {bigQueryWriteStub: Promise<WriteStub>}).bigQueryWriteStub
    const metadata = new (gaxGrpc().Metadata)()
    // routes the call to the stream's region, as the client's StreamConnection does
    metadata.set('x-goog-request-params', `write_stream=${streamId}`)
    const call = new AppendCall(stub.makeBidiStreamRequest(stub.appendRows.path, (b) => b, (b) => stub.appendRows.responseDeserialize(b), metadata, {}))
    this.open.add(call)
    return call
  }

  private descriptorBytes(descriptor: IDescriptorProto): Uint8Array {
    let bytes = this.descriptors.get(descriptor)
    if (!bytes) {
      // fromObject: the descriptor may name its enums (TYPE_STRING), which encode() alone writes as 0
      const {DescriptorProto} = protos.google.protobuf
      bytes = DescriptorProto.encode(DescriptorProto.fromObject(descriptor as Record<string, unknown>)).finish()
      this.descriptors.set(descriptor, bytes)
    }
    return bytes
  }

  private release(conn: {close(): void}): void {
    conn.close()
    this.open.delete(conn)
  }

  /**
   * Appends the requests to a stream, the first row at `firstOffset`, each request with its offset. Up to
   * WINDOW requests are in flight; ALREADY_EXISTS means that request landed before (done); OUT_OF_RANGE means an
   * earlier one did not: everything after the last acknowledged request is sent again. A connection error
   * reconnects and resumes from the last acknowledged request. Returns the rows appended.
   */
  async appendPending(name: string, descriptor: IDescriptorProto, requests: Uint8Array[][], describe: (request: number, response: AppendRowsResponse) => Error, firstOffset = 0): Promise<number> {
    // nothing to send (an object without rows): no connection. One opened and closed unused left its call open at
    // the server, and the client's socket with it: the process stayed about 25 s after its work
    if (requests.length === 0) return 0
    await this.init()
    const offsets: number[] = []
    let total = firstOffset
    for (const r of requests) {
      offsets.push(total)
      total += r.length
    }
    let acked = 0
    let resends = 0
    const head = appendRequestHead(name, this.descriptorBytes(descriptor), TRACE_ID)
    await this.retry(async () => {
      const conn = await this.appendCall(name)
      try {
        type Outcome = {res?: AppendRowsResponse; err?: unknown}
        const inflight: Array<{i: number; p: Promise<Outcome>}> = []
        let next = acked
        while (acked < requests.length) {
          while (next < requests.length && inflight.length < WINDOW) {
            const p = conn.send(encodeAppendRequest(head, offsets[next], requests[next]))
            inflight.push({i: next, p: p.then((res) => ({res}), (err) => ({err}))})
            next++
          }
          const {i, p} = inflight.shift()!
          const {res, err} = await p
          if (err) {
            await Promise.all(inflight.map((x) => x.p))
            throw err
          }
          const code = res?.error?.code
          if (!code || code === GrpcCode.ALREADY_EXISTS) {
            acked = i + 1
            continue
          }
          if (code === GrpcCode.OUT_OF_RANGE && resends++ < this.opts.retries) {
            await Promise.all(inflight.map((x) => x.p))
            inflight.length = 0
            next = acked
            continue
          }
          await Promise.all(inflight.map((x) => x.p))
          throw describe(i, res!)
        }
      } finally {
        this.release(conn)
      }
    })
    return total - firstOffset
  }

  /** Appends rows to a table's default stream (visible at once, at least once: callers' rows are idempotent). */
  async appendDefault(parent: string, descriptor: IDescriptorProto, rows: Uint8Array[]): Promise<void> {
    await this.init()
    await this.retry(async () => {
      let pending = this.defaults.get(parent)
      if (!pending) {
        pending = Promise.resolve(this.connection(`${parent}/streams/_default`))
        this.defaults.set(parent, pending)
      }
      const conn = await pending
      const writer = new managedwriter.Writer({connection: conn, protoDescriptor: descriptor})
      try {
        const res = await writer.appendRows({serializedRows: rows}).getResult()
        if (res.error?.code) throw Object.assign(new Error(`BigQuery refused rows for ${parent}: ${res.error.message}`), {code: res.error.code === GrpcCode.ALREADY_EXISTS ? 0 : res.error.code})
      } catch (err) {
        // a broken connection is replaced on the next attempt
        this.defaults.delete(parent)
        this.release(conn)
        throw err
      }
    })
  }

  /** Connections seneka holds open now (tests and the soak check that this returns to 0). */
  get openConnections(): number {
    return this.open.size
  }

  /** Closes every connection and the gRPC client itself (WriterClient.close() alone leaves the channel open). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const c of this.open) c.close()
    this.open.clear()
    this.defaults.clear()
    this.client.close()
    await this.client.getClient().close()
  }
}
