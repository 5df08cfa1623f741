import {randomBytes} from 'node:crypto'
import {once} from 'node:events'
import {createGzip} from 'node:zlib'
import pLimit from 'p-limit'
import {estimateUsd, MIN_BILLED_BYTES} from '../../cost/bigquery.js'
import {LOAD_JOBS_TIMES, type LoadJobsModel} from '../../cost/load-methods.js'
import {type Column, type LogFormat, tableColumns, type Value} from '../../formats/types.js'
import {isGcpTransient} from '../../gcp/errors.js'
import {parseBatches} from '../../loader/parse-report.js'
import {withRetry} from '../../retry.js'
import {formatDuration} from '../../time.js'
import {createGcsClient, GcsStore} from '../../store/gcs.js'
import {type BqField, bqSchema, DAILY_LOAD_JOBS_PER_TABLE, joinScript, ledgerCheckSql, ledgerFromRow, mergeBatchStatements, replacedRange, STAGING_EXTRA} from './sql.js'
import type {BigQueryLoadHost, BqParams} from './types.js'
import {type AwaitingOutcome, isCurrentEntry, type LedgerEntry, type LoadEstimate, type ObjectLoader, type ObjectLoadOutcome, type ObjectLoadRequest} from '../types.js'

export interface LoaderSettings {
  /** objects parsed and staged at once */
  concurrency: number
  staging: {bucket: string; prefix: string}
  /** objects per load job (BigQuery allows 10,000 source URIs per job) */
  maxObjectsPerJob: number
  /** staged (gzip) bytes per load job */
  maxBytesPerJob: number
  /** how long an incomplete batch waits for more objects once nothing else is being staged */
  lingerMs: number
  /**
   * stream: a batch is committed when it is full or when its first object has waited this long, whatever
   * else arrives (undefined: after lingerMs of quiet, as a backfill wants). Bounds the batches, hence the load
   * jobs and billed statements, per day: at most one batch per table per maxLatencyMs below a full batch.
   */
  maxLatencyMs?: number
  /** load jobs into one staging table before the next one is used (BigQuery: 1,500 per table per day) */
  loadJobsPerStagingTable: number
  /** time source of the flush timers and staging rotation (tests run a simulated day) */
  clock: LoaderClock
  /** told when batches queue behind the merge chain for longer than maxLatencyMs (at most once an hour) */
  onWarning?: (message: string) => void
}

export {DEFAULT_STREAM_MAX_LATENCY_MS} from './defaults.js'

/** What the loader needs of time: the wall clock and timers. */
export interface LoaderClock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const REAL_CLOCK: LoaderClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
}

/** billed statements per batch: ledger check; in the merge script row insert, reject insert, ledger merge, result (replacing adds two deletes) */
export const STATEMENTS_PER_BATCH = 5

export const LOADER_DEFAULTS = {
  maxObjectsPerJob: 1000,
  maxBytesPerJob: 4 * 1024 ** 3,
  lingerMs: 100,
  // failed load jobs count too: a margin below the quota for retries
  loadJobsPerStagingTable: DAILY_LOAD_JOBS_PER_TABLE - 100,
  clock: REAL_CLOCK,
}

/** What a stream worker on BigQuery will use per day at most, from its flush interval (printed at start). */
export interface StreamDayPlan {
  maxLatencyMs: number
  /** batches (= load jobs = merge transactions) per table per day, while under a full batch per interval */
  batchesPerDay: number
  /** objects per interval above which batches flush by size instead (more batches, each full) */
  objectsPerBatch: number
  /** billed statements per day (ledger check + merge script statements), each at least 10 MB */
  statementsPerDay: number
  /** bytes billed per day at least (the statements' minimums; the staged rows are read once on top) */
  minBytesBilledPerDay: number
  minUsdPerDay: number
  /** staging tables used per day (each takes at most loadJobsPerStagingTable load jobs) */
  stagingTablesPerDay: number
  dailyLoadJobLimit: number
}

interface Staged extends AwaitingOutcome {
  key: string
  uri: string
  bytes: number
  rows: number
  rejected: number
}

interface Pending {
  table: string
  format: LogFormat
  items: Staged[]
  bytes: number
}

/** Microseconds since the epoch -> RFC 3339 with microseconds, as BigQuery's JSON loader reads it. */
export function microsToIso(us: number): string {
  const ms = Math.floor(us / 1000)
  const rest = us - ms * 1000
  return `${new Date(ms).toISOString().slice(0, -1)}${String(Math.round(rest)).padStart(3, '0')}Z`
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/**
 * A value as BigQuery's JSON loader reads it. Timestamps as RFC 3339 with microseconds; integers outside
 * +-2^53 as decimal strings (the loader reads a quoted INT64 exactly, a JSON number would be rounded).
 */
export function jsonValue(v: Value, type: Column['type']): Value {
  if (v === null) return null
  if (type === 'timestamp') return microsToIso(v as number)
  if ((type === 'bigint' || type === 'int') && (typeof v === 'string' || !Number.isSafeInteger(v))) {
    const s = String(v).trim()
    if (!/^[+-]?\d+$/.test(s)) throw new TypeError(`"${s}" is not an INT64`)
    const n = BigInt(s)
    if (n < INT64_MIN || n > INT64_MAX) throw new RangeError(`${s} is outside the INT64 range`)
    return n.toString()
  }
  return v
}

/**
 * Gzip NDJSON built as it is written: memory holds the compressed bytes (about a tenth of the lines), never
 * the object's lines as strings.
 */
class GzipLines {
  private readonly gz = createGzip()
  private readonly chunks: Buffer[] = []
  private pending = ''

  constructor() {
    this.gz.on('data', (c: Buffer) => this.chunks.push(c))
  }

  push(line: string): void {
    this.pending += `${line}\n`
  }

  /** Hands what is pending to gzip once it is a megabyte (called per batch, not per line); waits while gzip is behind. */
  async flush(): Promise<void> {
    if (this.pending.length < 1 << 20) return
    const ok = this.gz.write(this.pending)
    this.pending = ''
    if (!ok) await once(this.gz, 'drain')
  }

  async end(): Promise<Buffer> {
    const done = once(this.gz, 'end')
    this.gz.end(this.pending)
    await done
    return Buffer.concat(this.chunks)
  }
}

/** The staged NDJSON of one object, gzipped: its rows, its rejected lines, and one "object" row for its ledger entry. */
export async function stageGzip(req: ObjectLoadRequest): Promise<{body: Buffer; rows: number; rejected: number}> {
  const lines = new GzipLines()
  const {object} = req
  const modified = microsToIso(object.lastModified.getTime() * 1000)
  const gcsCreated = object.gcsCreatedAt ? microsToIso(object.gcsCreatedAt.getTime() * 1000) : null
  let rows = 0
  let rejected = 0
  const cols = req.format.columns
  // event-time range of the rows (kept in the ledger: a later replace deletes within it only)
  const timeCol = cols.findIndex((c) => c.name === 'event_time' && c.type === 'timestamp')
  let minEvent = Infinity
  let maxEvent = -Infinity
  let untimed = timeCol < 0
  for await (const batch of parseBatches(req.open, req.format, req.report)) {
    if (timeCol >= 0) {
      const times = batch.columns[timeCol]
      for (let i = 0; i < batch.count; i++) {
        const t = times[i]
        if (t === null) untimed = true
        else {
          if ((t as number) < minEvent) minEvent = t as number
          if ((t as number) > maxEvent) maxEvent = t as number
        }
      }
    }
    for (let i = 0; i < batch.count; i++) {
      const o: Record<string, Value> = {}
      for (let k = 0; k < cols.length; k++) o[cols[k].name] = jsonValue(batch.columns[k][i], cols[k].type)
      o._source_uri = object.uri
      o._line = batch.lines[i]
      o._load_id = req.loadId
      o._object_modified_at = modified
      o._gcs_created_at = gcsCreated
      o._load_path = req.path
      o._stg_kind = 'row'
      lines.push(JSON.stringify(o))
    }
    rows += batch.count
    for (const r of batch.rejects) {
      lines.push(JSON.stringify({_source_uri: object.uri, _line: r.line, _load_id: req.loadId, _stg_kind: 'reject', _stg_reason: r.reason, _stg_raw: r.raw}))
      rejected++
    }
    await lines.flush()
  }
  lines.push(
    JSON.stringify({
      _source_uri: object.uri,
      _load_id: req.loadId,
      _object_modified_at: modified,
      _load_path: req.path,
      _stg_kind: 'object',
      _stg_etag: object.etag,
      _stg_size: object.size,
      _stg_rows: rows,
      _stg_rejected: rejected,
      _stg_sequencer: req.sequencer ?? null,
      _stg_min_event: untimed || rows === 0 ? null : microsToIso(minEvent),
      _stg_max_event: untimed || rows === 0 ? null : microsToIso(maxEvent),
    }),
  )
  return {body: await lines.end(), rows, rejected}
}

function safeId(s: string): string {
  return s.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 80)
}

/**
 * Loads objects into BigQuery in batches: each object is parsed and written as one gzip NDJSON file under
 * the staging prefix; a batch (up to maxObjectsPerJob files) is loaded into a staging table by ONE load job
 * and merged into the target, the rejects and the ledger by ONE transaction keyed by the ledger. Each
 * load() resolves when its batch is committed, so callers see the same per-object outcomes as on DuckDB.
 */
export class BigQueryLoader implements ObjectLoader {
  readonly maxInFlight: number
  private readonly store: GcsStore
  private readonly stageLimit
  private readonly pending = new Map<string, Pending>()
  private readonly stagingTables = new Map<string, string>()
  private commitChain: Promise<void> = Promise.resolve()
  private staging = 0
  private fileSeq = 0
  private batchSeq = 0
  private queueWarnedAt = Number.NEGATIVE_INFINITY
  private lingerTimer: unknown
  private readonly deadlines = new Map<string, unknown>()
  private readonly stagingUse = new Map<string, {loads: number; seq: number}>()
  private readonly runId = randomBytes(4).toString('hex')

  private constructor(
    private readonly wh: BigQueryLoadHost,
    private readonly settings: LoaderSettings,
  ) {
    this.maxInFlight = Math.max(settings.concurrency, settings.maxObjectsPerJob * 2)
    this.stageLimit = pLimit(Math.max(1, settings.concurrency))
    this.store = new GcsStore(settings.staging.bucket, {
      client: wh.opts.storage ?? createGcsClient({gcsEndpoint: wh.opts.gcsEndpoint}),
      retries: wh.opts.retries,
      retryBaseDelayMs: wh.opts.retryBaseDelayMs,
    })
  }

  static async open(wh: BigQueryLoadHost, s: Partial<LoaderSettings> & Pick<LoaderSettings, 'concurrency' | 'staging'>): Promise<BigQueryLoader> {
    return new BigQueryLoader(wh, {...LOADER_DEFAULTS, ...s})
  }

  /** The most a stream worker flushing every maxLatencyMs uses per table per day, and its least cost. */
  static streamDay(s: Partial<Omit<LoaderSettings, 'staging'>> & {maxLatencyMs: number}): StreamDayPlan {
    const perJob = s.maxObjectsPerJob ?? LOADER_DEFAULTS.maxObjectsPerJob
    const perTable = s.loadJobsPerStagingTable ?? LOADER_DEFAULTS.loadJobsPerStagingTable
    const batches = Math.ceil(86_400_000 / Math.max(1, s.maxLatencyMs))
    const statements = batches * STATEMENTS_PER_BATCH
    const bytes = statements * MIN_BILLED_BYTES
    return {
      maxLatencyMs: s.maxLatencyMs,
      batchesPerDay: batches,
      objectsPerBatch: perJob,
      statementsPerDay: statements,
      minBytesBilledPerDay: bytes,
      minUsdPerDay: Number(estimateUsd(bytes).toFixed(4)),
      stagingTablesPerDay: Math.max(1, Math.ceil(batches / perTable)),
      dailyLoadJobLimit: DAILY_LOAD_JOBS_PER_TABLE,
    }
  }

  /** The loader's batching as the cost model of the two load methods takes it (compareLoadMethods). */
  static model(s: Partial<Omit<LoaderSettings, 'staging'>>): LoadJobsModel {
    return {
      maxLatencyMs: s.maxLatencyMs,
      maxObjectsPerJob: s.maxObjectsPerJob ?? LOADER_DEFAULTS.maxObjectsPerJob,
      maxBytesPerJob: s.maxBytesPerJob ?? LOADER_DEFAULTS.maxBytesPerJob,
      statementsPerBatch: STATEMENTS_PER_BATCH,
      loadJobsPerStagingTable: s.loadJobsPerStagingTable ?? LOADER_DEFAULTS.loadJobsPerStagingTable,
      ...LOAD_JOBS_TIMES,
    }
  }

  /** Load jobs (and merge transactions) a plan needs: one per batch of objects. */
  static estimate(plan: {objects: number; bytes: number}, s: Partial<Omit<LoaderSettings, 'staging'>> & {staging?: string}): LoadEstimate {
    const perJob = s.maxObjectsPerJob ?? LOADER_DEFAULTS.maxObjectsPerJob
    const bytesPerJob = s.maxBytesPerJob ?? LOADER_DEFAULTS.maxBytesPerJob
    const jobs = plan.objects === 0 ? 0 : Math.max(Math.ceil(plan.objects / perJob), Math.ceil(plan.bytes / bytesPerJob))
    const billed = jobs * STATEMENTS_PER_BATCH * MIN_BILLED_BYTES + plan.bytes
    return {
      loadJobs: jobs,
      mergeQueries: jobs,
      ledgerQueries: jobs,
      objectsPerJob: perJob,
      dailyLoadJobLimit: DAILY_LOAD_JOBS_PER_TABLE,
      staging: s.staging ?? null,
      bytesBilledEstimate: billed,
      usd: Number(estimateUsd(billed).toFixed(4)),
      notes: [
        `Cost: the merges read the staged rows once (about the uncompressed size of the objects; the estimate counts the stored size) plus at least 10 MB per statement (${STATEMENTS_PER_BATCH} per batch).`,
        `Load jobs are free; each batch also runs one ledger check and one merge transaction, each billed at least 10 MB.`,
        `Load jobs go to a per-run staging table (BigQuery allows ${DAILY_LOAD_JOBS_PER_TABLE} per table per day); the target table receives none.`,
      ],
    }
  }

  private key(): string {
    const p = this.settings.staging.prefix
    return `${p ? `${p}/` : ''}seneka/${this.runId}/${String(++this.fileSeq).padStart(7, '0')}.ndjson.gz`
  }

  async load(req: ObjectLoadRequest): Promise<ObjectLoadOutcome> {
    this.staging++
    this.cancelLinger()
    let staged: Omit<Staged, 'resolve' | 'reject'>
    try {
      staged = await this.stageLimit(async () => {
        const {body, rows, rejected} = await stageGzip(req)
        const key = this.key()
        await this.store.write(key, body)
        return {req, key, uri: this.store.uri(key), bytes: body.length, rows, rejected}
      })
    } finally {
      this.staging--
      // an object that failed to stage may have been the last one staging: the batch waiting for it must still
      // be committed (without this, a failed read left the others waiting for ever)
      if (this.staging === 0 && this.pending.size > 0 && this.settings.maxLatencyMs === undefined) this.scheduleLinger()
    }
    return new Promise<ObjectLoadOutcome>((resolve, reject) => {
      this.enqueue({...staged, resolve, reject})
    })
  }

  /** objects staged and handed to a batch so far (a batch's deadline runs from its first one) */
  get batched(): number {
    return this.batchedCount
  }

  private batchedCount = 0

  private enqueue(item: Staged): void {
    this.batchedCount++
    const table = item.req.table
    let p = this.pending.get(table)
    if (p && p.items.some((i) => i.req.object.uri === item.req.object.uri)) {
      this.flush(table) // the same object twice in one batch: the later version goes in the next batch
      p = undefined
    }
    if (!p) {
      p = {table, format: item.req.format, items: [], bytes: 0}
      this.pending.set(table, p)
      const wait = this.settings.maxLatencyMs
      if (wait !== undefined) {
        this.deadlines.set(
          table,
          this.settings.clock.setTimeout(() => {
            this.deadlines.delete(table)
            this.flush(table)
          }, wait),
        )
      }
    }
    p.items.push(item)
    p.bytes += item.bytes
    if (p.items.length >= this.settings.maxObjectsPerJob || p.bytes >= this.settings.maxBytesPerJob) this.flush(table)
    else if (this.settings.maxLatencyMs === undefined) this.scheduleLinger()
  }

  private cancelLinger(): void {
    if (this.lingerTimer !== undefined) this.settings.clock.clearTimeout(this.lingerTimer)
    this.lingerTimer = undefined
  }

  /** When nothing is being staged, the batch will not grow: commit it after a short linger. */
  private scheduleLinger(): void {
    this.cancelLinger()
    if (this.staging > 0) return
    this.lingerTimer = this.settings.clock.setTimeout(() => {
      this.lingerTimer = undefined
      if (this.staging === 0) for (const t of [...this.pending.keys()]) this.flush(t)
    }, this.settings.lingerMs)
  }

  private flush(table: string): void {
    const p = this.pending.get(table)
    const deadline = this.deadlines.get(table)
    if (deadline !== undefined) this.settings.clock.clearTimeout(deadline)
    this.deadlines.delete(table)
    if (!p || p.items.length === 0) return
    this.pending.delete(table)
    const batchNo = ++this.batchSeq
    const flushedAt = this.settings.clock.now()
    this.commitChain = this.commitChain.then(() =>
      this.commit(p, batchNo, flushedAt).catch((err) => {
        for (const i of p.items) i.reject(err)
      }),
    )
  }

  /**
   * The staging table of a target table for the next load job. Each takes at most loadJobsPerStagingTable
   * load jobs (BigQuery counts 1,500 per table per day, failed ones included); then the next one is created
   * and the full one dropped, so a worker that runs for months never meets the quota.
   */
  private async stagingTable(p: Pending): Promise<{name: string; fields: BqField[]}> {
    const fields = bqSchema([...tableColumns(p.format), ...STAGING_EXTRA])
    const use = this.stagingUse.get(p.table) ?? {loads: 0, seq: 0}
    let name = this.stagingTables.get(p.table)
    if (name && use.loads >= this.settings.loadJobsPerStagingTable) {
      await this.wh.dropTable(name).catch(() => {})
      this.stagingTables.delete(p.table)
      name = undefined
      use.loads = 0
    }
    if (!name) {
      use.seq++
      name = `_seneka_stg_${safeId(p.table)}_${this.runId}${use.seq > 1 ? `_${use.seq}` : ''}`
      // expires by itself if this run dies before close() drops it
      await this.wh.createTable(name, fields, {expirationTime: String(this.settings.clock.now() + 2 * 24 * 3600_000), description: 'seneka load staging (temporary)'})
      this.stagingTables.set(p.table, name)
    }
    this.stagingUse.set(p.table, use)
    return {name, fields}
  }

  /**
   * A batch that waited longer than --max-latency for the batches before it (their load jobs and merges run one
   * after another): the worker is not keeping up, and latency grows while it lasts. Said at most once an hour.
   */
  private checkQueue(batchNo: number, flushedAt: number): void {
    const max = this.settings.maxLatencyMs
    const now = this.settings.clock.now()
    if (max === undefined || now - flushedAt <= max || now - this.queueWarnedAt < 3_600_000) return
    this.queueWarnedAt = now
    this.settings.onWarning?.(
      `BigQuery batches are queueing: batch ${batchNo} waited ${formatDuration(now - flushedAt)} for the load jobs and merges before it, longer than --max-latency ${formatDuration(max)}, so latency grows while this lasts; raise --max-latency, run fewer workers on this dataset, or load with the Storage Write API (--load-method write-api).`,
    )
  }

  private async commit(p: Pending, batchNo: number, flushedAt: number): Promise<void> {
    this.checkQueue(batchNo, flushedAt)
    try {
      await this.apply(p, batchNo)
    } finally {
      // the staged files are not needed any more, whether the batch committed or failed before its merge
      // (a failed batch is staged again when its objects are retried; a lifecycle rule catches what a crash leaves)
      const limit = pLimit(8)
      await Promise.all(p.items.map((i) => limit(() => this.store.remove(i.key).catch(() => {}))))
    }
  }

  private async apply(p: Pending, batchNo: number): Promise<void> {
    const {table} = p
    // 1. the ledger now (the plan's snapshot may be stale): skip what is current, remember what we saw
    const rows = await this.wh.runQuery(ledgerCheckSql(this.wh.dialect), {table, uris: p.items.map((i) => i.req.object.uri)}, `ledger check (batch ${batchNo})`)
    const seen = new Map<string, LedgerEntry>()
    for (const r of rows) seen.set(String(r.object_uri), {...ledgerFromRow(r), table})
    const apply: Array<Staged & {prev: LedgerEntry | undefined}> = []
    for (const i of p.items) {
      const e = seen.get(i.req.object.uri)
      if (e && e.loadId === i.req.loadId && e.etag === i.req.object.etag) {
        // committed by an earlier attempt of this same run whose reply was lost
        i.resolve({status: 'loaded', rows: e.rows, rejected: e.rejected})
      } else if (e && isCurrentEntry(i.req, e)) {
        i.resolve({status: 'skipped', entry: e})
      } else apply.push({...i, prev: e})
    }
    if (apply.length === 0) return
    // 2. one load job: every staged file of the batch into the staging table (replacing its last batch)
    const stg = await this.stagingTable(p)
    const ref = this.wh.ref(stg.name)
    const use = this.stagingUse.get(table)!
    await withRetry(
      () => {
        // every attempt counts against the staging table's daily quota, a failed one too
        use.loads++
        return this.wh.runJob(
          {
            load: {
              sourceUris: apply.map((a) => a.uri),
              sourceFormat: 'NEWLINE_DELIMITED_JSON',
              destinationTable: {projectId: this.wh.project, datasetId: ref.datasetId, tableId: ref.tableId},
              schema: {fields: stg.fields},
              writeDisposition: 'WRITE_TRUNCATE',
              createDisposition: 'CREATE_NEVER',
              maxBadRecords: 0,
              ignoreUnknownValues: false,
            },
            labels: {seneka: 'load', seneka_load_id: safeId(apply[0].req.loadId).toLowerCase().slice(0, 63)},
          },
          'load',
        )
      },
      {retries: 3, baseDelayMs: 1000, isRetryable: isGcpTransient},
    )
    // 3. one transaction: delete replaced versions (within their event-time range), insert rows and rejects, upsert the ledger
    const replaced = apply.flatMap((a) => (a.prev ? [a.prev] : []))
    const range = replacedRange(replaced)
    const script = joinScript(
      mergeBatchStatements(this.wh.dialect, {table, staging: stg.name, columns: tableColumns(p.format), replacing: replaced.length > 0, replaceRange: range !== null}),
    )
    const params: BqParams = {
      table,
      expected: apply.map((a) => ({uri: a.req.object.uri, prev: a.prev?.loadId ?? '', load: a.req.loadId, etag: a.req.object.etag})),
      ...(range ? {replace_since: range.min, replace_until: range.max} : {}),
    }
    const applied = await withRetry(() => this.wh.runQuery(script, params, `merge (batch ${batchNo})`), {retries: 4, baseDelayMs: 1000, isRetryable: isGcpTransient})
    const done = new Set(applied.map((r) => String(r.object_uri)))
    for (const a of apply) {
      if (done.has(a.req.object.uri)) a.resolve({status: a.prev ? 'replaced' : 'loaded', rows: a.rows, rejected: a.rejected})
      else
        a.reject(
          Object.assign(new Error(`the ledger entry of ${a.req.object.uri} changed while it was being loaded (another loader?)`), {
            $retryable: {throttling: false},
          }),
        )
    }
  }

  async close(): Promise<void> {
    this.cancelLinger()
    for (const d of this.deadlines.values()) this.settings.clock.clearTimeout(d)
    this.deadlines.clear()
    for (const t of [...this.pending.keys()]) this.flush(t)
    await this.commitChain
    for (const name of this.stagingTables.values()) {
      await this.wh.dropTable(name).catch(() => {})
    }
    this.stagingTables.clear()
  }
}
