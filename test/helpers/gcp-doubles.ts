import {createHash} from 'node:crypto'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {gunzipSync} from 'node:zlib'
import {CRC32C} from '@google-cloud/storage'
import {LEDGER_SCHEMA} from '../../src/lib/warehouse/bigquery/sql.js'
import type {DuckDbStandIn, TypedParam} from './bigquery-on-duckdb.js'
import {bigQuerySyntaxError} from './bigquery-sql.js'

/**
 * HTTP test doubles of the GCS JSON API and the BigQuery REST API on 127.0.0.1, for the real Google client
 * libraries. They record every request, can fail chosen requests (429/503), and the BigQuery double
 * simulates the statements seneka generates (ledger reads, load jobs from the GCS double, merge scripts),
 * so loads can be checked end to end. It does not run arbitrary SQL: other queries get `onQuery`'s answer.
 */

export interface RecordedRequest {
  method: string
  path: string
  query: Record<string, string>
  body: any
}

interface StoredObject {
  data: Buffer
  generation: string
  updated: string
  md5Hash: string
  crc32c: string
}

interface FakeTable {
  metadata: any
  rows: Array<Record<string, unknown>>
}

interface FakeJob {
  resource: any
  polls: number
  result?: {fields: Array<{name: string; type: string}>; rows: Array<Record<string, unknown>>}
}

export interface QueryAnswer {
  fields: Array<{name: string; type: string}>
  rows: Array<Record<string, unknown>>
}

export interface NotificationConfig {
  kind: 'storage#notification'
  id: string
  topic: string
  payload_format: string
  event_types?: string[]
  object_name_prefix?: string
  custom_attributes?: Record<string, string>
  etag: string
  selfLink: string
}

const NOTIFICATION_TOPIC = /^\/\/pubsub\.googleapis\.com\/projects\/[^/]+\/topics\/[^/]+$/
const NOTIFICATION_EVENTS = new Set(['OBJECT_FINALIZE', 'OBJECT_METADATA_UPDATE', 'OBJECT_DELETE', 'OBJECT_ARCHIVE'])

export interface FailRule {
  match: (r: RecordedRequest) => boolean
  status: number
  times: number
  reason?: string
  /** do the request, then answer with the failure (a lost reply) */
  afterHandling?: boolean
}

export interface GcpDouble {
  endpoint: string
  requests: RecordedRequest[]
  objects: Map<string, StoredObject>
  tables: Map<string, FakeTable>
  /** answer for queries the double does not simulate */
  onQuery?: (sql: string, params: Record<string, unknown>) => QueryAnswer | undefined
  /** when set, the queries the double does not simulate are executed there, in their session (onQuery is not asked) */
  sql?: DuckDbStandIn
  /** dataset -> location; jobs about a dataset listed here must run in its location, as in BigQuery */
  datasetLocations: Map<string, string>
  /** session id -> the location it was created in */
  sessions: Map<string, string>
  /** sessions ended by CALL BQ.ABORT_SESSION(): no job runs in them any more */
  endedSessions: Set<string>
  /** totalBytesProcessed reported by dry runs */
  bytesFor: (sql: string) => number
  /** polls a job needs before it reports DONE */
  pollsUntilDone: number
  /** make the next merge scripts commit and then report a failure (a lost reply) */
  loseMergeReplies: number
  fail(rule: Omit<FailRule, 'times'> & {times?: number}): void
  /** drops every fail rule not used up yet */
  clearFailures(): void
  /** drops every delay rule */
  clearDelays(): void
  /** delay the answers to matching requests by `ms` (slow reads), or hold them until `until` settles */
  delay(rule: {match: (r: RecordedRequest) => boolean; ms?: number; until?: Promise<unknown>; times?: number}): void
  /** resumable upload sessions completed */
  resumableUploads: number
  /** keep overwritten generations readable (?generation=), as a bucket with object versioning does */
  versioning: boolean
  putObject(bucket: string, name: string, data: Buffer | string): void
  /**
   * Pub/Sub notification configurations per bucket (notifications.insert/list/get/delete), as GCS answers them
   * (snake_case fields, ids "1", "2" ... per bucket). Strict: the topic must be //pubsub.googleapis.com/projects/P/topics/T
   * (400 otherwise), event types and payload format must be known, at most 100 per bucket; identical
   * configurations are allowed (GCS keeps duplicates and then publishes twice).
   */
  notifications: Map<string, NotificationConfig[]>
  /**
   * Whether GCS may publish to a topic (its service agent has roles/pubsub.publisher and the topic exists):
   * 'forbidden' answers the insert with GCS's 403. Default: every topic is fine.
   */
  topicCheck?: (topic: string) => 'ok' | 'forbidden'
  jobs(kind?: 'query' | 'load' | 'dry'): any[]
  close(): Promise<void>
}

const SESSION_CONTROL = /^\s*(?:(?:BEGIN|COMMIT|ROLLBACK) TRANSACTION|CALL BQ\.ABORT_SESSION\(\))\s*;?\s*$/

function typedParams(qp: any[] = []): Record<string, TypedParam> {
  const scalar = qp.filter((p) => p.parameterType.type !== 'ARRAY').map((p) => [p.name, {type: p.parameterType.type, value: p.parameterValue.value ?? null}])
  // ARRAY<STRING> parameters (the stand-in inlines them as list literals)
  const lists = qp.filter((p) => p.parameterType.type === 'ARRAY' && p.parameterType.arrayType.type === 'STRING').map((p) => [p.name, {type: 'ARRAY', value: (p.parameterValue.arrayValues ?? []).map((v: any) => v.value)}])
  return Object.fromEntries([...scalar, ...lists])
}

/** The datasets a statement names (`project.dataset.table`). */
function datasetsIn(sql: string): string[] {
  return [...sql.matchAll(/`[^`.]+\.([^`.]+)\.[^`.]+`/g)].map((m) => m[1])
}

function decodeParams(qp: any[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const p of qp) {
    const t = p.parameterType
    if (t.type === 'ARRAY') {
      out[p.name] = (p.parameterValue.arrayValues ?? []).map((v: any) =>
        t.arrayType.type === 'STRUCT' ? Object.fromEntries(Object.entries(v.structValues).map(([k, x]: [string, any]) => [k, x.value])) : v.value,
      )
    } else out[p.name] = p.parameterValue.value ?? null
  }
  return out
}

function micros(v: unknown): number | null {
  if (v === null || v === undefined) return null
  if (typeof v === 'number') return v
  const s = String(v)
  const m = /\.(\d{1,6})/.exec(s)
  const frac = m ? Number(m[1].padEnd(6, '0')) % 1000 : 0
  return Date.parse(s) * 1000 + frac
}

function toCell(v: unknown, type: string): string | null {
  if (v === null || v === undefined) return null
  if (type === 'TIMESTAMP') return String(v)
  return String(v)
}

/** The statements of a script ("stmt;\nstmt;..."), as seneka joins them. */
export function scriptStatements(sql: string): string[] {
  return sql.split(/;\s*\n/).map((x) => x.trim().replace(/;$/, '')).filter(Boolean)
}

const DDL = /^\s*(CREATE|ALTER|DROP|TRUNCATE)\b/i

/**
 * What BigQuery's dry run of a query covers: a script's dry run stops at its first DDL statement (it is
 * validated, the statements after it are not estimated), and CREATE TEMP TABLE cannot be dry-run at all.
 * bytesFor() is asked about the statements covered only.
 */
export function dryRunCoverage(sql: string): {sql: string} | {error: string} {
  const statements = scriptStatements(sql)
  const first = statements.findIndex((x) => DDL.test(x))
  if (first < 0) return {sql}
  if (/^\s*CREATE\s+(TEMP|TEMPORARY)\s+TABLE\b/i.test(statements[first])) return {error: 'Dry run is not supported for CREATE TEMP TABLE statements in a multi-statement query.'}
  return {sql: statements.slice(0, first).map((x) => `${x};`).join('\n')}
}

export async function startGcpDouble(): Promise<GcpDouble> {
  const requests: RecordedRequest[] = []
  const objects = new Map<string, StoredObject>()
  const tables = new Map<string, FakeTable>()
  const jobsById = new Map<string, FakeJob>()
  const rules: FailRule[] = []
  const delays: Array<{match: (r: RecordedRequest) => boolean; ms?: number; until?: Promise<unknown>; times: number}> = []
  /** every generation written, by "bucket/name#generation" */
  const versions = new Map<string, StoredObject>()
  let generation = 1000
  const uploads = new Map<string, {bucket: string; name: string; cond?: string; chunks: Buffer[]}>()
  let uploadSeq = 0

  const double: GcpDouble = {
    endpoint: '',
    requests,
    objects,
    tables,
    datasetLocations: new Map(),
    sessions: new Map(),
    endedSessions: new Set(),
    bytesFor: () => 1_000_000,
    pollsUntilDone: 1,
    loseMergeReplies: 0,
    fail(rule) {
      rules.push({times: 1, ...rule})
    },
    clearFailures() {
      rules.length = 0
    },
    clearDelays() {
      delays.length = 0
    },
    delay(rule) {
      delays.push({times: Infinity, ...rule})
    },
    versioning: false,
    resumableUploads: 0,
    notifications: new Map(),
    putObject(bucket, name, data) {
      const buf = Buffer.from(data)
      const stored: StoredObject = {
        data: buf,
        generation: String(++generation),
        updated: new Date().toISOString(),
        md5Hash: createHash('md5').update(buf).digest('base64'),
        crc32c: (() => {
          const c = new CRC32C()
          c.update(buf)
          return c.toString()
        })(),
      }
      objects.set(`${bucket}/${name}`, stored)
      versions.set(`${bucket}/${name}#${stored.generation}`, stored)
    },
    jobs(kind) {
      const all = requests.filter((r) => r.method === 'POST' && /\/projects\/[^/]+\/jobs$/.test(r.path)).map((r) => r.body)
      if (!kind) return all
      if (kind === 'dry') return all.filter((j) => j.configuration?.dryRun)
      return all.filter((j) => !j.configuration?.dryRun && j.configuration?.[kind])
    },
    close: () => new Promise((r) => server.close(() => r())),
  }

  const objectResource = (bucket: string, name: string, o: StoredObject) => ({
    kind: 'storage#object',
    bucket,
    name,
    size: String(o.data.length),
    generation: o.generation,
    timeCreated: o.updated,
    updated: o.updated,
    md5Hash: o.md5Hash,
    crc32c: o.crc32c,
    etag: `E${o.generation}`,
  })

  function simulateLoad(cfg: any): void {
    const dest = cfg.destinationTable
    const t = tables.get(`${dest.datasetId}.${dest.tableId}`)
    if (!t) throw new Error(`load into missing table ${dest.tableId}`)
    const types = new Map<string, string>(cfg.schema.fields.map((f: any) => [f.name, f.type]))
    const rows: Array<Record<string, unknown>> = []
    for (const uri of cfg.sourceUris) {
      const m = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri)!
      const o = objects.get(`${m[1]}/${m[2]}`)
      if (!o) throw new Error(`no such staged file ${uri}`)
      const text = gunzipSync(o.data).toString('utf8')
      for (const line of text.split('\n')) {
        if (!line) continue
        const rec = JSON.parse(line)
        for (const [k, v] of Object.entries(rec)) if (types.get(k) === 'TIMESTAMP') rec[k] = micros(v)
        rows.push(rec)
      }
    }
    if (cfg.writeDisposition === 'WRITE_TRUNCATE') t.rows = rows
    else for (const r of rows) t.rows.push(r)
  }

  function ledgerRows(): Array<Record<string, unknown>> {
    return [...tables.entries()].find(([k]) => k.endsWith('._seneka_ledger'))?.[1].rows ?? []
  }

  function tableFromSql(ref: string): FakeTable {
    const parts = ref.split('.')
    const t = tables.get(`${parts[1]}.${parts[2]}`)
    if (!t) throw new Error(`no table ${ref}`)
    return t
  }

  /**
   * The load path's statements (batch merge, ledger reads), which the double simulates itself; a ledger read that
   * reduces the rows in SQL (QUALIFY: the current version per object) really runs on the stand-in, when there is one.
   */
  function isSimulated(sql: string): boolean {
    const reduced = double.sql !== undefined && /\bQUALIFY\b/.test(sql)
    return (sql.includes('BEGIN TRANSACTION') && !SESSION_CONTROL.test(sql)) || (sql.includes('_seneka_ledger') && !reduced && (sql.includes('IN UNNEST(@uris)') || sql.includes('STARTS_WITH(object_uri, @prefix)')))
  }

  /** The statements seneka generates, simulated; anything else goes to onQuery. */
  function simulateQuery(sql: string, params: Record<string, unknown>): QueryAnswer {
    const ledgerFields = LEDGER_SCHEMA.map((f) => ({name: f.name, type: f.type}))
    // session transaction control statements (Warehouse.transaction): nothing to simulate
    if (SESSION_CONTROL.test(sql)) return {fields: [], rows: []}
    if (sql.includes('BEGIN TRANSACTION')) {
      const target = tableFromSql(/INSERT INTO `([^`]+)` \(/.exec(sql)![1])
      const stg = tableFromSql(/FROM `([^`]+)` AS s WHERE s\._stg_kind = 'row'/.exec(sql)![1])
      const rejects = [...tables.entries()].find(([k]) => k.endsWith('._seneka_rejects'))![1]
      const ledger = [...tables.entries()].find(([k]) => k.endsWith('._seneka_ledger'))![1]
      const table = String(params.table)
      const expected = params.expected as Array<{uri: string; prev: string; load?: string; etag?: string}>
      const current = (uri: string) => ledger.rows.find((r) => r.target_table === table && r.object_uri === uri)
      const apply = expected.filter((e) => String(current(e.uri)?.load_id ?? '') === e.prev)
      const uris = new Set(apply.map((a) => a.uri))
      const replaced = new Set(apply.filter((a) => a.prev !== '').map((a) => a.uri))
      if (sql.includes('DELETE FROM')) {
        // a DELETE bounded by @replace_since/@replace_until removes the replaced rows within that range only
        const lo = params.replace_since === undefined ? -Infinity : micros(params.replace_since)!
        const hi = params.replace_until === undefined ? Infinity : micros(params.replace_until)!
        const inRange = (r: Record<string, unknown>) => r.event_time !== null && r.event_time !== undefined && (r.event_time as number) >= lo && (r.event_time as number) < hi
        target.rows = target.rows.filter((r) => !(replaced.has(String(r._source_uri)) && (params.replace_since === undefined || inRange(r))))
        rejects.rows = rejects.rows.filter((r) => !(r.target_table === table && replaced.has(String(r.object_uri))))
      }
      const now = Date.now() * 1000
      const cols = target.metadata.schema.fields.map((f: any) => f.name)
      for (const s of stg.rows) {
        if (!uris.has(String(s._source_uri))) continue
        if (s._stg_kind === 'row') target.rows.push(Object.fromEntries(cols.map((c: string) => [c, c === '_ingested_at' ? now : (s[c] ?? null)])))
        if (s._stg_kind === 'reject') rejects.rows.push({target_table: table, object_uri: s._source_uri, line: s._line, reason: s._stg_reason, raw: s._stg_raw, load_id: s._load_id, rejected_at: now})
        if (s._stg_kind === 'object') {
          ledger.rows = ledger.rows.filter((r) => !(r.target_table === table && r.object_uri === s._source_uri))
          ledger.rows.push({
            target_table: table,
            object_uri: s._source_uri,
            etag: s._stg_etag,
            size: s._stg_size,
            last_modified: s._object_modified_at,
            rows: s._stg_rows,
            rejected: s._stg_rejected,
            load_id: s._load_id,
            path: s._load_path,
            loaded_at: now,
            sequencer: s._stg_sequencer ?? null,
            min_event_time: s._stg_min_event ?? null,
            max_event_time: s._stg_max_event ?? null,
          })
        }
      }
      // the script's last statement: the objects whose ledger entry now carries this load of this version
      const now2 = expected.filter((e) => (e.load === undefined ? uris.has(e.uri) : current(e.uri)?.load_id === e.load && current(e.uri)?.etag === e.etag))
      return {fields: [{name: 'object_uri', type: 'STRING'}], rows: now2.map((a) => ({object_uri: a.uri}))}
    }
    if (sql.includes('_seneka_ledger') && sql.includes('IN UNNEST(@uris)')) {
      const uris = new Set(params.uris as string[])
      return {fields: ledgerFields, rows: ledgerRows().filter((r) => r.target_table === params.table && uris.has(String(r.object_uri)))}
    }
    if (sql.includes('_seneka_ledger') && sql.includes('STARTS_WITH(object_uri, @prefix)')) {
      return {fields: ledgerFields, rows: ledgerRows().filter((r) => r.target_table === params.table && String(r.object_uri).startsWith(String(params.prefix)))}
    }
    return double.onQuery?.(sql, params) ?? {fields: [], rows: []}
  }

  function jobResource(project: string, id: string, job: FakeJob, done: boolean) {
    return {...job.resource, jobReference: {projectId: project, jobId: id, location: job.resource.jobReference?.location ?? 'US'}, status: done ? job.resource.status : {state: 'RUNNING'}}
  }

  async function handleBigQuery(r: RecordedRequest, res: http.ServerResponse, send: (status: number, body: unknown) => void): Promise<void> {
    const p = r.path.replace(/^\/bigquery\/v2/, '')
    let m: RegExpExecArray | null
    if (r.method === 'GET' && (m = /^\/projects\/([^/]+)\/datasets\/([^/]+)$/.exec(p))) {
      return send(200, {kind: 'bigquery#dataset', datasetReference: {projectId: m[1], datasetId: m[2]}, location: double.datasetLocations.get(m[2]) ?? 'US'})
    }
    if (r.method === 'POST' && (m = /^\/projects\/([^/]+)\/jobs$/.exec(p))) {
      const body = r.body
      const id = body.jobReference?.jobId ?? `job${jobsById.size}`
      const location = body.jobReference?.location ?? 'US'
      const q = body.configuration.query
      // GoogleSQL is strict: reserved words as aliases, unknown syntax and the like fail the job at once
      const syntax = q ? bigQuerySyntaxError(q.query) : null
      if (syntax) return send(400, {error: {code: 400, message: `Syntax error: ${syntax}`, errors: [{reason: 'invalidQuery', message: `Syntax error: ${syntax}`}]}})
      // a job runs in one location: the datasets it names must live there
      const named = q ? datasetsIn(q.query) : body.configuration.load ? [body.configuration.load.destinationTable.datasetId] : []
      const elsewhere = named.find((ds: string) => double.datasetLocations.has(ds) && double.datasetLocations.get(ds) !== location)
      if (elsewhere) {
        const message = `Not found: Dataset ${m[1]}:${elsewhere} was not found in location ${location}`
        return send(404, {error: {code: 404, message, errors: [{reason: 'notFound', message}]}})
      }
      if (body.configuration.dryRun) {
        const covered = dryRunCoverage(q.query)
        if ('error' in covered) return send(400, {error: {code: 400, message: covered.error, errors: [{reason: 'invalidQuery', message: covered.error}]}})
        return send(200, {...body, status: {state: 'DONE'}, statistics: {totalBytesProcessed: String(double.bytesFor(covered.sql)), query: {}}})
      }
      if (jobsById.has(id)) return send(409, {error: {code: 409, message: `Already Exists: Job ${id}`, errors: [{reason: 'duplicate'}]}})
      // sessions: a job with createSession opens one in its location; jobs sent with a session_id must run there
      const used = q?.connectionProperties?.find((c: any) => c.key === 'session_id')?.value
      if (used && double.endedSessions.has(used)) {
        return send(400, {error: {code: 400, message: `Session ${used} has been terminated`, errors: [{reason: 'invalid'}]}})
      }
      if (used && double.sessions.get(used) !== location) {
        return send(400, {error: {code: 400, message: `Session ${used} was not found in location ${location}`, errors: [{reason: 'invalid'}]}})
      }
      const sessionId = q?.createSession ? `session_${double.sessions.size + 1}` : used
      if (q?.createSession) double.sessions.set(sessionId, location)
      const job: FakeJob = {resource: {...body, status: {state: 'DONE'}, statistics: sessionId ? {sessionInfo: {sessionId}} : {}}, polls: 0}
      try {
        if (body.configuration.load) simulateLoad(body.configuration.load)
        if (q) {
          const sql = q.query
          if (double.sql && !isSimulated(sql)) {
            if (/^\s*CALL BQ\.ABORT_SESSION\(\)/i.test(sql)) {
              await double.sql.endSession(sessionId)
              double.endedSessions.add(sessionId)
              job.result = {fields: [], rows: []}
            } else job.result = await double.sql.run(sql, typedParams(q.queryParameters), sessionId)
          } else job.result = simulateQuery(sql, decodeParams(q.queryParameters))
          if (sql.includes('BEGIN TRANSACTION') && !SESSION_CONTROL.test(sql) && double.loseMergeReplies > 0) {
            double.loseMergeReplies--
            job.resource.status = {state: 'DONE', errorResult: {reason: 'backendError', message: 'simulated: the reply was lost after the commit'}}
          }
        }
      } catch (err) {
        job.resource.status = {state: 'DONE', errorResult: {reason: 'invalid', message: (err as Error).message}}
      }
      jobsById.set(id, job)
      return send(200, jobResource(m[1], id, job, double.pollsUntilDone === 0))
    }
    if (r.method === 'GET' && (m = /^\/projects\/([^/]+)\/jobs\/([^/]+)$/.exec(p))) {
      const job = jobsById.get(m[2])
      if (!job) return send(404, {error: {code: 404, message: 'Not found: Job'}})
      job.polls++
      return send(200, jobResource(m[1], m[2], job, job.polls >= double.pollsUntilDone))
    }
    if (r.method === 'GET' && (m = /^\/projects\/([^/]+)\/queries\/([^/]+)$/.exec(p))) {
      const job = jobsById.get(m[2])
      if (!job) return send(404, {error: {code: 404, message: 'Not found: Job'}})
      const result = job.result ?? {fields: [], rows: []}
      const start = Number(r.query.pageToken ?? 0)
      const size = Number(r.query.maxResults ?? 100000)
      const page = result.rows.slice(start, start + size)
      return send(200, {
        kind: 'bigquery#getQueryResultsResponse',
        jobReference: {projectId: m[1], jobId: m[2]},
        jobComplete: true,
        schema: {fields: result.fields},
        totalRows: String(result.rows.length),
        rows: page.map((row) => ({f: result.fields.map((f) => ({v: toCell(row[f.name], f.type)}))})),
        ...(start + size < result.rows.length ? {pageToken: String(start + size)} : {}),
      })
    }
    if ((m = /^\/projects\/([^/]+)\/datasets\/([^/]+)\/tables(?:\/([^/]+))?(\/data)?$/.exec(p))) {
      const [, project, ds, tid, data] = m
      if (r.method === 'POST' && !tid) {
        const key = `${ds}.${r.body.tableReference.tableId}`
        if (tables.has(key)) return send(409, {error: {code: 409, message: 'Already Exists'}})
        const metadata = {...r.body, id: `${project}:${key}`, etag: 'e1', numRows: '0'}
        tables.set(key, {metadata, rows: []})
        // the stand-in gets the table too: rows the Write API double commits are queried there
        if (double.sql) await double.sql.insertRows(ds, r.body.tableReference.tableId, r.body.schema?.fields ?? [], [])
        return send(200, metadata)
      }
      const t = tables.get(`${ds}.${tid}`)
      if (!t) return send(404, {error: {code: 404, message: `Not found: Table ${project}:${ds}.${tid}`, errors: [{reason: 'notFound'}]}})
      if (data) {
        const fields = t.metadata.schema.fields
        const start = Number(r.query.pageToken ?? 0)
        const size = Number(r.query.maxResults ?? 100000)
        const page = t.rows.slice(start, start + size)
        return send(200, {
          totalRows: String(t.rows.length),
          rows: page.map((row) => ({f: fields.map((f: any) => ({v: toCell(row[f.name], f.type)}))})),
          ...(start + size < t.rows.length ? {pageToken: String(start + size)} : {}),
        })
      }
      if (r.method === 'GET') return send(200, {...t.metadata, numRows: String(t.rows.length)})
      if (r.method === 'PATCH' || r.method === 'PUT') {
        t.metadata = {...t.metadata, ...r.body, etag: `${t.metadata.etag}x`}
        return send(200, t.metadata)
      }
      if (r.method === 'DELETE') {
        tables.delete(`${ds}.${tid}`)
        res.writeHead(204).end()
        return
      }
    }
    send(400, {error: {code: 400, message: `double: unsupported ${r.method} ${p}`}})
  }

  function handleStorage(r: RecordedRequest, raw: Buffer, res: http.ServerResponse, send: (status: number, body: unknown) => void): void {
    let m: RegExpExecArray | null
    // ifGenerationMatch=0: create only, as GCS checks it (412 conditionNotMet when the object exists)
    const conditionFails = (bucket: string, name: string, cond: string | undefined) => cond !== undefined && (objects.get(`${bucket}/${name}`)?.generation ?? '0') !== cond
    const conditionNotMet = () => send(412, {error: {code: 412, message: 'At least one of the pre-conditions you specified did not hold.', errors: [{reason: 'conditionNotMet', message: 'Precondition Failed'}]}})
    // resumable uploads: POST opens a session (Location), PUTs carry the bytes (Content-Range), 308 until the last
    if (r.method === 'POST' && r.query.uploadType === 'resumable' && (m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(r.path))) {
      const id = String(++uploadSeq)
      uploads.set(id, {bucket: m[1], name: r.body?.name ?? r.query.name, cond: r.query.ifGenerationMatch, chunks: []})
      res.writeHead(200, {location: `${double.endpoint}/upload/storage/v1/b/${m[1]}/o?uploadType=resumable&upload_id=${id}`, 'content-type': 'application/json'})
      res.end('{}')
      return
    }
    if (r.method === 'PUT' && r.query.upload_id && (m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(r.path))) {
      const u = uploads.get(r.query.upload_id)
      if (!u) return send(404, {error: {code: 404, message: 'No such upload session'}})
      u.chunks.push(raw)
      const range = /bytes (\d+)-(\d+)\/(\d+|\*)/.exec(String(r.query.__contentRange ?? ''))
      const total = range ? range[3] : String(raw.length)
      const have = u.chunks.reduce((n, c) => n + c.length, 0)
      if (total === '*' || have < Number(total)) {
        res.writeHead(308, have > 0 ? {range: `bytes=0-${have - 1}`} : {})
        res.end()
        return
      }
      uploads.delete(r.query.upload_id)
      double.resumableUploads++
      if (conditionFails(u.bucket, u.name, u.cond)) return conditionNotMet()
      double.putObject(u.bucket, u.name, Buffer.concat(u.chunks))
      return send(200, objectResource(u.bucket, u.name, objects.get(`${u.bucket}/${u.name}`)!))
    }
    if (r.method === 'POST' && (m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(r.path))) {
      const boundary = /boundary=([^;]+)/.exec(String(r.query.__contentType))?.[1]
      let name = r.query.name
      let data = raw
      if (boundary) {
        const parts = raw.toString('latin1').split(`--${boundary}`).slice(1, -1)
        const meta = JSON.parse(parts[0].split('\r\n\r\n').slice(1).join('\r\n\r\n').trim())
        name = meta.name ?? name
        const body = parts[1].slice(parts[1].indexOf('\r\n\r\n') + 4, -2)
        data = Buffer.from(body, 'latin1')
      }
      if (conditionFails(m[1], name, r.query.ifGenerationMatch)) return conditionNotMet()
      double.putObject(m[1], name, data)
      return send(200, objectResource(m[1], name, objects.get(`${m[1]}/${name}`)!))
    }
    if ((m = /^\/(?:download\/)?storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(r.path))) {
      const name = decodeURIComponent(m[2])
      const live = objects.get(`${m[1]}/${name}`)
      // ?generation= names one version: the live one, or (with versioning) an overwritten one
      const gen = r.query.generation
      const o = gen === undefined || live?.generation === gen ? live : double.versioning ? versions.get(`${m[1]}/${name}#${gen}`) : undefined
      if (r.method === 'DELETE') {
        if (!o) return send(404, {error: {code: 404, message: 'No such object'}})
        objects.delete(`${m[1]}/${name}`)
        res.writeHead(204).end()
        return
      }
      if (!o) return send(404, {error: {code: 404, message: `No such object: ${m[1]}/${name}`}})
      if (r.query.alt === 'media') {
        res.writeHead(200, {'content-type': 'application/octet-stream', 'content-length': o.data.length})
        res.end(o.data)
        return
      }
      return send(200, objectResource(m[1], name, o))
    }
    if (r.method === 'GET' && (m = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(r.path))) {
      const bucket = m[1]
      const prefix = r.query.prefix ?? ''
      const delimiter = r.query.delimiter
      const names = [...objects.keys()].filter((k) => k.startsWith(`${bucket}/${prefix}`)).map((k) => k.slice(bucket.length + 1)).sort()
      const entries: Array<{name?: string; prefix?: string}> = []
      const seen = new Set<string>()
      for (const n of names) {
        const rest = n.slice(prefix.length)
        const cut = delimiter ? rest.indexOf(delimiter) : -1
        if (cut >= 0) {
          const p = prefix + rest.slice(0, cut + 1)
          if (!seen.has(p)) {
            seen.add(p)
            entries.push({prefix: p})
          }
        } else entries.push({name: n})
      }
      const start = Number(r.query.pageToken ?? 0)
      const size = Number(r.query.maxResults ?? 1000)
      const page = entries.slice(start, start + size)
      return send(200, {
        kind: 'storage#objects',
        items: page.filter((e) => e.name).map((e) => objectResource(bucket, e.name!, objects.get(`${bucket}/${e.name}`)!)),
        prefixes: page.filter((e) => e.prefix).map((e) => e.prefix),
        ...(start + size < entries.length ? {nextPageToken: String(start + size)} : {}),
      })
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/notificationConfigs(?:\/([^/]+))?$/.exec(r.path))) return handleNotifications(r, m[1], m[2], res, send)
    send(400, {error: {code: 400, message: `double: unsupported ${r.method} ${r.path}`}})
  }

  const notificationSeq = new Map<string, number>()
  function handleNotifications(r: RecordedRequest, bucket: string, id: string | undefined, res: http.ServerResponse, send: (status: number, body: unknown) => void): void {
    const list = double.notifications.get(bucket) ?? []
    const invalid = (message: string) => send(400, {error: {code: 400, message, errors: [{reason: 'invalid', message}]}})
    if (!id && r.method === 'GET') return send(200, {kind: 'storage#notifications', items: list})
    if (id && r.method === 'GET') {
      const n = list.find((x) => x.id === id)
      return n ? send(200, n) : send(404, {error: {code: 404, message: 'Not Found', errors: [{reason: 'notFound', message: 'Not Found'}]}})
    }
    if (id && r.method === 'DELETE') {
      const at = list.findIndex((x) => x.id === id)
      if (at < 0) return send(404, {error: {code: 404, message: 'Not Found', errors: [{reason: 'notFound', message: 'Not Found'}]}})
      list.splice(at, 1)
      res.writeHead(204).end()
      return
    }
    if (!id && r.method === 'POST') {
      // GCS takes the documented snake_case fields and their camelCase spellings (which the Node client sends)
      const b = r.body ?? {}
      const topic = String(b.topic ?? '')
      const payload = b.payload_format ?? b.payloadFormat ?? 'JSON_API_V1'
      const events = b.event_types ?? b.eventTypes
      const prefix = b.object_name_prefix ?? b.objectNamePrefix
      const attrs = b.custom_attributes ?? b.customAttributes
      if (!NOTIFICATION_TOPIC.test(topic)) return invalid(`Invalid Google Cloud Pub/Sub topic. It should look like '//pubsub.googleapis.com/projects/*/topics/*'.`)
      if (payload !== 'JSON_API_V1' && payload !== 'NONE') return invalid(`Invalid payload format: ${payload}.`)
      if (events !== undefined && (!Array.isArray(events) || events.some((e: unknown) => !NOTIFICATION_EVENTS.has(String(e))))) return invalid(`Invalid event type in ${JSON.stringify(events)}.`)
      if (list.length >= 100) return invalid('Only up to 100 notification configurations are allowed per bucket.')
      if (double.topicCheck?.(topic) === 'forbidden') {
        const message = `The service account 'service-123456789012@gs-project-accounts.iam.gserviceaccount.com' does not have permission to publish messages to to the Cloud Pub/Sub topic '${topic}', or that topic does not exist.`
        return send(403, {error: {code: 403, message, errors: [{reason: 'forbidden', message}]}})
      }
      const next = (notificationSeq.get(bucket) ?? 0) + 1
      notificationSeq.set(bucket, next)
      const n: NotificationConfig = {
        kind: 'storage#notification',
        id: String(next),
        topic,
        payload_format: payload,
        ...(events !== undefined ? {event_types: events} : {}),
        ...(prefix !== undefined ? {object_name_prefix: prefix} : {}),
        ...(attrs !== undefined ? {custom_attributes: attrs} : {}),
        etag: String(next),
        selfLink: `${double.endpoint}/storage/v1/b/${bucket}/notificationConfigs/${next}`,
      }
      list.push(n)
      double.notifications.set(bucket, list)
      return send(200, n)
    }
    send(400, {error: {code: 400, message: `double: unsupported ${r.method} ${r.path}`}})
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x')
      const raw = Buffer.concat(chunks)
      let body: unknown = null
      const ct = String(req.headers['content-type'] ?? '')
      if (ct.includes('json') && raw.length > 0 && req.method !== 'PUT') body = JSON.parse(raw.toString('utf8'))
      const query = Object.fromEntries(url.searchParams.entries())
      const rec: RecordedRequest = {method: req.method ?? 'GET', path: decodeURIComponent(url.pathname), query, body}
      if (req.headers['content-range']) rec.query.__contentRange = String(req.headers['content-range'])
      requests.push(rec)
      const send = (status: number, b: unknown) => {
        res.writeHead(status, {'content-type': 'application/json'})
        res.end(JSON.stringify(b))
      }
      const slow = delays.find((x) => x.times > 0 && x.match(rec))
      if (slow) {
        slow.times--
        if (slow.until) void slow.until.finally(() => answer(rec, raw, ct, url, res, send))
        else setTimeout(() => answer(rec, raw, ct, url, res, send), slow.ms ?? 0)
      } else answer(rec, raw, ct, url, res, send)
    })
  })
  const answer = (rec: RecordedRequest, raw: Buffer, ct: string, url: URL, res: http.ServerResponse, send: (status: number, b: unknown) => void): void => {
    {
      const rule = rules.find((x) => x.times > 0 && x.match(rec))
      if (rule) {
        rule.times--
        const failure = {error: {code: rule.status, message: rule.reason ?? `simulated ${rule.status}`, errors: [{reason: rule.reason ?? (rule.status === 429 ? 'rateLimitExceeded' : 'backendError'), message: rule.reason ?? 'simulated'}]}}
        if (!rule.afterHandling) return send(rule.status, failure)
        const real = send
        send = () => real(rule.status, failure)
      }
      try {
        if (rec.path.startsWith('/bigquery/')) {
          handleBigQuery(rec, res, send).catch((err) => send(500, {error: {code: 500, message: (err as Error).message}}))
          return
        }
        rec.query.__contentType = ct
        // STORAGE_EMULATOR_HOST is used as the base URL as it is, without /storage/v1
        return handleStorage({...rec, path: url.pathname.replace(/^\/b\//, '/storage/v1/b/')}, raw, res, send)
      } catch (err) {
        send(500, {error: {code: 500, message: (err as Error).message}})
      }
    }
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  double.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return double
}
