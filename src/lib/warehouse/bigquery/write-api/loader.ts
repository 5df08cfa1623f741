import pLimit from 'p-limit'
import {UserError} from '../../../errors.js'
import {explainGcpError} from '../../../gcp/errors.js'
import {tableColumns, type Value} from '../../../formats/types.js'
import {ParsePool} from '../../parse-pool.js'
import {type LoaderClock, REAL_CLOCK} from '../loader.js'
import {bqSchema, deleteVersionRejectsSql, deleteVersionsSql, landedRowsSql, LEDGER_SCHEMA, REJECTS_SCHEMA, replacedRange} from '../sql.js'
import type {BigQueryLoadHost, BqParams} from '../types.js'
import {type AwaitingOutcome, isCurrentEntry, LEDGER_TABLE, type LedgerEntry, type ObjectLoader, type ObjectLoadOutcome, type ObjectLoadRequest, REJECTS_TABLE} from '../../types.js'
import {managedwriter} from '@google-cloud/bigquery-storage'
import {isWriteTransient, StorageErrorCode, storageCode, WriteApi} from './client.js'
import {attemptKey, groupKey, type LedgerRecord, type LedgerState, type ObjectView, sameAttempt, viewOf} from './ledger.js'
import {LedgerLookups} from './lookups.js'
import {REQUEST_BYTES_BUDGET, RequestBuilder, RowEncoder, type RowValues} from './rows.js'
import {encodeRows, requestsOf, type RowsTask} from './encode-rows.js'
import {type GroupPolicy, STREAM_GROUPS, StreamGroups} from './groups.js'
import {LANE_STREAMS} from '../../../cost/quotas.js'

/** The steps of one object's load, in order (tests inject a crash at each). */
export type WriteStep = 'lookup' | 'created' | 'appended' | 'finalized' | 'intent' | 'checked' | 'committed' | 'replaced' | 'recorded'

export interface WriteApiLoaderSettings {
  /** objects parsed at once */
  concurrency: number
  /**
   * How long one load may take from its start to its commit. A worker past it (paused, partitioned: a zombie)
   * records no intent and commits nothing; the object is loaded again by whoever gets it next.
   */
  leaseMs: number
  /** ledger look-ups of a table paced at one per this long (each is one billed statement of >= 10 MB; lookups.ts) */
  minLookupIntervalMs: number
  clock: LoaderClock
  /** HOST:PORT of a plaintext Write API endpoint (BIGQUERY_STORAGE_EMULATOR_HOST) */
  emulatorHost?: string
  /** bytes of rows per append request (below the service's 10 MB limit) */
  requestBytes: number
  /** how objects are grouped into pending streams (STREAM_GROUPS; a backfill BULK_GROUPS) */
  groups: GroupPolicy
  /** called after each step of each object (tests: a crash injected at every step) */
  onStep?: (step: WriteStep, uri: string) => void | Promise<void>
}

export const WRITE_API_DEFAULTS = {
  minLookupIntervalMs: STREAM_GROUPS.lookupIntervalMs,
  requestBytes: REQUEST_BYTES_BUDGET,
  leaseMs: 10 * 60_000,
  clock: REAL_CLOCK,
  groups: STREAM_GROUPS,
}

/** A transient failure the object-level retry may take again (a lease that ran out, another worker's race). */
function retryable(message: string): Error {
  return Object.assign(new Error(message), {$retryable: {throttling: false}})
}

/** What the ledger says of one object, and of the objects that share its intents' streams (by object). */
interface Looked extends ObjectView {
  mates: Map<string, LedgerRecord[]>
}

/** One object of a group: encoded, waiting for its group's stream. */
interface Member extends AwaitingOutcome {
  enc: Encoded
  loadId: string
  deadline: number
  /** bytes of encoded rows (the group's size) */
  bytes: number
  /**
   * The object's ledger look-up, settled while it was parsed and waited for its group: whether it loads (and with
   * which load id) or is answered without (skipped, loaded before). The group is written when all of its are in.
   */
  decided: Promise<Decision>
  /**
   * No look-up before its intent (the committed lane's fast path, for an object that is probably new): the look-up
   * after its intent decides instead, and anything but "new" sends it the usual way (writeLane).
   */
  fresh: boolean
  /** never in the committed lane (an append of its group there was not acknowledged) */
  noLane: boolean
}

/** What an object's look-up decided before its load: load it with this load id, or answer it without a load. */
type Decision = {loadId: string; outcome?: undefined} | {outcome: ObjectLoadOutcome}

interface Encoded {
  requests: Uint8Array[][]
  rows: number
  /** bytes of the encoded rows (all requests) */
  bytes: number
  rejects: RowValues[]
  range: {min: number; max: number} | null
  /** the request and row index -> the line it came from */
  lines: ArrayLike<number>
}

/** A committed-type stream of the committed lane and the offset of its next row. */
interface Lane {
  name: string
  next: number
}

/** A table's committed lane: free streams, how many exist, groups sent to it without one yet, groups waiting. */
interface LanePool {
  free: Lane[]
  count: number
  /** groups StreamGroups handed over for the lane that have not taken a stream yet (their look-ups may run) */
  claimed: number
  waiting: Array<() => void>
}


/** What GetWriteStream (and, for a committed-type stream, its fence) says of an intent's stream. */
interface StreamState {
  /** its rows are in the table: committed (pending), or landed before the fence (committed type) */
  done: boolean
  /** not done, and it still may be: a pending stream not committed yet */
  open: boolean
}

/** Objects stored up to this size take the committed lane's fast path (Member.fresh): most fit one request. */
const FRESH_BELOW_BYTES = 1024 * 1024

/** Objects stored smaller than this are parsed and encoded on the main thread, larger ones in the parse pool. */
const IN_THREAD_BELOW_BYTES = 64 * 1024

const microsToDate = (us: number | null) => (us === null ? null : new Date(Math.floor(us / 1000)))

/**
 * Loads objects into BigQuery with the Storage Write API, exactly once per object, with no DML for new objects.
 * Objects are grouped: the objects of a group share ONE PENDING stream, each at its own offset range (offsets on
 * every append); the stream is finalized, the intents of every object of the group are recorded in ONE ledger
 * append, and the stream is committed; a later 'committed' ledger row per object settles it. An intent left by a
 * crash or a lost reply is settled by the next worker that meets its object: GetWriteStream's commit_time says
 * whether it committed; if not, it is committed then (its stream was finalized with every object of it complete
 * before the intents were written), unless one of the stream's other objects forbids it. See docs/bigquery.md,
 * "Write API: exactly once".
 */
export class WriteApiLoader implements ObjectLoader {
  readonly maxInFlight: number
  private readonly api: WriteApi
  private readonly lookups: LedgerLookups
  private readonly parseLimit
  private readonly groups: StreamGroups<Member>
  private readonly encoders = new Map<string, RowEncoder>()
  private readonly ledgerEncoder = new RowEncoder(LEDGER_SCHEMA)
  private readonly rejectEncoder = new RowEncoder(REJECTS_SCHEMA)
  /** the committed lane's streams per table: free ones, how many exist, and groups waiting for one */
  private readonly lanes = new Map<string, LanePool>()

  private constructor(
    private readonly wh: BigQueryLoadHost,
    private readonly settings: WriteApiLoaderSettings,
  ) {
    // parsed objects wait for their group without a parse slot: a group can fill while others parse
    this.maxInFlight = Math.max(settings.concurrency, 1) + settings.groups.maxObjects
    this.parseLimit = pLimit(Math.max(1, settings.concurrency))
    this.api = new WriteApi({project: wh.project, emulatorHost: settings.emulatorHost, retries: wh.opts.retries ?? 6, retryBaseDelayMs: wh.opts.retryBaseDelayMs ?? 500})
    this.lookups = new LedgerLookups(wh, settings)
    this.groups = new StreamGroups<Member>(settings.groups, settings.clock, (table, members) => void this.writeGroup(table, members), {fits: (members) => this.fitsLane(members), free: (table) => this.laneFree(table)})
  }

  static async open(wh: BigQueryLoadHost, s: Partial<WriteApiLoaderSettings> & Pick<WriteApiLoaderSettings, 'concurrency'>): Promise<WriteApiLoader> {
    return new WriteApiLoader(wh, {...WRITE_API_DEFAULTS, ...s})
  }

  /** ledger look-up statements run so far (each billed at least 10 MB) */
  get lookupStatements(): number {
    return this.lookups.statements
  }

  /** object groups written so far (each one pending stream, one more with rejected lines) */
  get groupsWritten(): number {
    return this.groups.groups
  }

  /** Write API connections open now */
  get openConnections(): number {
    return this.api.openConnections
  }

  private parent(table: string): string {
    const r = this.wh.ref(table)
    return this.api.tablePath(r.datasetId, r.tableId)
  }

  private async step(step: WriteStep, uri: string): Promise<void> {
    await this.settings.onStep?.(step, uri)
  }

  /** A step of a group: told for each of its objects in turn (a throw is a crash of the whole group). */
  private async groupStep(step: WriteStep, members: readonly Member[]): Promise<void> {
    for (const m of members) await this.step(step, m.req.object.uri)
  }

  /**
   * What the ledger says of an object; `withMates` (to settle its open intents), also of the other objects of
   * their streams, found through each stream's group row: two more batched look-ups, both by object_uri, which the
   * ledger is clustered on, and only for an object with open intents, so steady state stays one look-up.
   */
  private async view(req: ObjectLoadRequest, withMates = false): Promise<Looked> {
    const {table} = req
    const own = viewOf(await this.lookups.get(table, req.object.uri))
    const mates = new Map<string, LedgerRecord[]>()
    if (!withMates || own.open.length === 0) return {...own, mates}
    const groups = (await Promise.all(own.open.map((o) => this.lookups.get(table, groupKey(o.stream!))))).flat()
    const uris = [...new Set(groups.flatMap((g) => g.members ?? []))].filter((u) => u !== req.object.uri)
    const rows = await Promise.all(uris.map((u) => this.lookups.get(table, u)))
    uris.forEach((u, k) => mates.set(u, rows[k]))
    return {...own, mates}
  }

  async load(req: ObjectLoadRequest): Promise<ObjectLoadOutcome> {
    this.groups.enter()
    let joined = false
    try {
      return await this.loadOnce(req, () => (joined = true))
    } catch (err) {
      throw err instanceof UserError ? err : explainGcpError(err, {what: `load ${req.object.uri} with the BigQuery Storage Write API`, needs: 'bigquery.tables.updateData', service: 'bigquery'})
    } finally {
      if (!joined) this.groups.leave()
    }
  }

  /**
   * `onJoin` is called when the object joins a group (it is no longer being parsed). The object's look-up (and the
   * settling of what earlier workers left) runs while it is parsed and while its group fills and waits for its
   * stream: the group is written only when every member's look-up has decided (writeGroup), so nothing of an
   * object reaches a stream before its look-up said to load it; only the wait for the look-up overlaps.
   */
  private async loadOnce(req: ObjectLoadRequest, onJoin: () => void, usual = false, noLane = false): Promise<ObjectLoadOutcome> {
    const deadline = this.settings.clock.now() + this.settings.leaseMs
    let early: Decision | undefined
    // the committed lane's fast path: an object small enough for it is looked up once, after its intent (writeLane)
    const fresh = !usual && this.settings.groups.committedLane && req.object.size <= FRESH_BELOW_BYTES
    const decided = fresh ? Promise.resolve<Decision>({loadId: req.loadId}) : this.decide(req).then((d) => (early = d))
    // a look-up that fails is answered when the group is written (writeGroup), not as an unhandled rejection here
    decided.catch(() => {})
    // an object loaded again (usual) almost always takes the next load id: its look-up first, so it is parsed once
    let loadId = req.loadId
    if (usual) {
      const d = await decided
      if (d.outcome) return d.outcome
      loadId = d.loadId
    }
    const enc = await this.parseLimit(() => this.encode(req, loadId))
    // decided while parsing: no group to join
    if (early?.outcome) return early.outcome
    return new Promise<ObjectLoadOutcome>((resolve, reject) => {
      onJoin()
      this.groups.leave(req.table, {req, enc, loadId, deadline, bytes: enc.bytes, decided, fresh, noLane, resolve, reject})
    })
  }

  /** The object's look-up: settles its open intents, then says whether it loads, and under which load id. */
  private async decide(req: ObjectLoadRequest): Promise<Decision> {
    let view = await this.view(req, true)
    await this.step('lookup', req.object.uri)
    if (view.open.length > 0) {
      await this.resolveOpen(req, view)
      view = await this.view(req)
    }
    const cur = view.current
    if (cur && cur.etag === req.object.etag && baseLoadId(cur.loadId) === req.loadId) return {outcome: {status: 'loaded', rows: cur.rows, rejected: cur.rejected}}
    if (cur && isCurrentEntry(req, cur)) return {outcome: {status: 'skipped', entry: strip(cur)}}
    // versions loaded by this same run keep apart: rows are deleted by load id when their version is replaced; so
    // do this run's attempts of one version (a stream it abandoned may have been committed by another worker, and
    // its rows are then deleted by load id)
    const taken = view.loadIds
    let loadId = req.loadId
    for (let n = 2; taken.has(loadId); n++) loadId = `${req.loadId}#${n}`
    return {loadId}
  }

  /**
   * The members of a closed group whose look-ups say to load them (the others are answered here), in their order;
   * one that must load under another load id (a second version in one run) is parsed again under it.
   */
  private async admitted(members: readonly Member[]): Promise<Member[]> {
    const go = await Promise.all(
      members.map(async (m) => {
        try {
          const d = await m.decided
          if (d.outcome) {
            m.resolve(d.outcome)
            return false
          }
          if (d.loadId !== m.loadId) {
            m.enc = await this.parseLimit(() => this.encode(m.req, d.loadId))
            m.loadId = d.loadId
          }
          return true
        } catch (err) {
          m.reject(err)
          return false
        }
      }),
    )
    return members.filter((_m, k) => go[k])
  }

  /**
   * Settles the open intents of an object. Per version (ETag), one stream at most may commit: if one committed
   * already, the others are abandoned; else the first by stream name that may commit is committed and the others
   * abandoned. A stream of a group may commit only if it may for each of its objects: none of them has another
   * stream of its version committed or first by name, and none of them abandoned it. Abandoning a stream records
   * it abandoned for every object of it (one append), so nobody commits it afterwards.
   */
  private async resolveOpen(req: ObjectLoadRequest, view: Looked): Promise<void> {
    const byEtag = new Map<string, LedgerRecord[]>()
    for (const o of view.open) byEtag.set(o.etag, [...(byEtag.get(o.etag) ?? []), o])
    for (const [etag, intents] of byEtag) {
      const states = await Promise.all(intents.map(async (i) => ({i, ...(await this.streamState(i.stream!, [i]))})))
      const done = states.filter((s) => s.done)
      if (done.length > 0) {
        for (const s of states) if (!s.done) await this.abandonStream(s.i, view)
        for (const s of done) await this.afterCommit(req, s.i, view.committed)
        continue
      }
      // committed already for this version, or a different version committed after these intents: none commits
      const known = view.committed.some((c) => c.etag === etag || intents.every((i) => c.loadedAt.getTime() > i.loadedAt.getTime()))
      // a group whose intents are not all visible yet: its owner is recording them (wait for it), or left them
      // incomplete and its lease ran out (abandon it: its other objects load afresh)
      const partial = states.find((s) => s.open && this.intentsSeen(s.i, view) < (s.i.streamObjects ?? 1))
      if (partial && !known) {
        if (this.settings.clock.now() <= partial.i.loadedAt.getTime() + this.settings.leaseMs) throw retryable(`the intents of write stream ${partial.i.stream} (${req.object.uri} among them) are not all visible yet; trying again`)
        await this.abandonStream(partial.i, view)
        states.splice(states.indexOf(partial), 1)
      }
      const sorted = [...states].sort((a, b) => (a.i.stream! < b.i.stream! ? -1 : 1))
      const winner = known ? undefined : sorted.find((s) => s.open && this.matesAllow(s.i.stream!, view))
      for (const s of sorted) if (s !== winner) await this.abandonStream(s.i, view)
      if (winner) await this.settle(req, winner.i, view)
    }
  }

  /**
   * Whether a stream's rows are in the table. A pending stream: its commit_time. A committed-type stream (the
   * committed lane: rows visible when an append is acknowledged) cannot say which appends landed, so it is fenced
   * first (finalized: nothing lands in it afterwards, its owner takes a new one) and the table is asked for the rows
   * of one of its attempts (its load id names them); every append of the lane is one request holding all of its
   * group, so one attempt's rows tell for the whole group.
   */
  private async streamState(stream: string, attempts: readonly LedgerRecord[]): Promise<StreamState> {
    const info = await this.api.streamInfo(stream)
    if (!info) return {done: false, open: false}
    if (!info.committedType) return {done: info.commitTime !== null, open: info.commitTime === null}
    const rows = await this.api.fence(stream)
    const sample = attempts.find((a) => a.rows > 0)
    return {done: sample ? await this.landed(sample, rows) : false, open: false}
  }

  /**
   * Whether an attempt's rows are in its table: the fence's row count of its stream when it gave one (the attempt's
   * offsets within it), else one counting statement (with the cost guard).
   */
  private async landed(attempt: LedgerRecord, streamRows: number | undefined): Promise<boolean> {
    if (streamRows !== undefined && attempt.offset !== null) return streamRows >= attempt.offset + attempt.rows
    const range = replacedRange([attempt])
    const params: BqParams = {uri: attempt.objectUri, load: attempt.loadId, ...(range ? {since: range.min, until: range.max} : {})}
    const rows = await this.wh.runQuery(landedRowsSql(this.wh.dialect, {table: attempt.table, range: range !== null}), params, `check the rows of ${attempt.objectUri}`)
    return Number(rows[0]?.n ?? 0) > 0
  }

  /** Whether a stream may commit as far as the other objects of its group are concerned (see resolveOpen). */
  private matesAllow(stream: string, view: Looked): boolean {
    for (const rows of view.mates.values()) {
      const mine = rows.find((r) => r.state === 'intent' && r.stream === stream)
      if (!mine) continue
      if (rows.some((r) => r.stream === stream && r.state === 'abandoned')) return false
      const v = viewOf(rows)
      if (v.committed.some((c) => c.etag === mine.etag && c.stream !== stream)) return false
      if (v.open.some((o) => o.etag === mine.etag && o.stream! < stream)) return false
    }
    return true
  }

  /** The objects of an intent's stream whose intents this view sees (its own included). */
  private intentsSeen(intent: LedgerRecord, view: Looked): number {
    let n = 1
    for (const rows of view.mates.values()) if (rows.some((r) => r.state === 'intent' && r.stream === intent.stream)) n++
    return n
  }

  /** Records an uncommitted stream abandoned for every object of it this view knows (one ledger append). */
  private async abandonStream(intent: LedgerRecord, view: Looked): Promise<void> {
    await this.abandon(intent.stream!, [intent, ...this.matesOf(intent.stream!, view)])
  }

  /** The intents of a stream's other objects that a view knows. */
  private matesOf(stream: string, view: Looked): LedgerRecord[] {
    const out: LedgerRecord[] = []
    for (const rows of view.mates.values()) {
      const mine = rows.find((r) => r.state === 'intent' && r.stream === stream)
      if (mine) out.push(mine)
    }
    return out
  }

  /**
   * Records a stream abandoned for these objects (one ledger append), then asks whether it was committed all the
   * same: another worker that looked before this record may commit it at any moment. If it did, its rows are in
   * the table while the ledger says they are not, so they go (each object's by its load id, which names this
   * stream's rows only) and the objects load again, once. If it commits after this question, its committer meets
   * the record in its own look-up after the commit and does the same (writeStream, settle).
   */
  private async abandon(stream: string, records: readonly LedgerRecord[]): Promise<void> {
    await this.recordAll(records, 'abandoned')
    if (!(await this.streamState(stream, records)).done) return
    await this.dropRows(records)
  }

  /**
   * Commits an intent's stream (a commit done before counts as done), then replaces and records its object; and
   * looks again: a stream another worker recorded abandoned meanwhile loses its rows (see abandon).
   */
  private async settle(req: ObjectLoadRequest, intent: LedgerRecord, view: Looked): Promise<void> {
    try {
      await this.api.commit(this.parent(intent.table), [intent.stream!])
    } catch (err) {
      if (isWriteTransient(err)) throw err
      // the stream is gone (its pending data expires after 24 hours) or cannot commit: the object loads afresh
      await this.record(intent, 'abandoned')
      return
    }
    await this.step('committed', intent.objectUri)
    if (!(await this.afterCommit(req, intent, view.committed))) return
    const after = await this.view(req)
    if (after.committed.some((c) => sameAttempt(c, intent))) return
    await this.dropRows([intent, ...this.matesOf(intent.stream!, view)])
    throw retryable(`write stream ${intent.stream} was recorded abandoned by another worker while this one committed it; its rows were deleted and ${req.object.uri} loads again`)
  }

  private async commitRejects(intent: LedgerRecord): Promise<void> {
    if (intent.rejectStream) await this.api.commit(this.parent(REJECTS_TABLE), [intent.rejectStream])
  }

  /**
   * A committed version replaces the older ones (DML, outside any transaction), then the ledger says so. False:
   * a newer version was committed meanwhile, and this one's rows went instead (recorded abandoned).
   */
  private async afterCommit(req: ObjectLoadRequest, intent: LedgerRecord, committed: readonly LedgerRecord[]): Promise<boolean> {
    await this.commitRejects(intent)
    const [kept] = await this.afterCommits([{req, intent, committed}])
    return kept
  }

  /**
   * afterCommit for the objects of a group whose stream committed (its rejects too): the replacements one by one,
   * then the ledger rows of all of them in ONE append (one request per group, not one per object).
   */
  private async afterCommits(items: ReadonlyArray<{req: ObjectLoadRequest; intent: LedgerRecord; committed: readonly LedgerRecord[]}>): Promise<boolean[]> {
    const kept: boolean[] = []
    for (const {intent, committed} of items) {
      const other = committed.filter((c) => c.etag !== intent.etag && c.loadId !== intent.loadId)
      // a version committed after this intent was recorded is newer: this one's rows go instead (a slow worker's)
      const newer = other.some((c) => c.loadedAt.getTime() > intent.loadedAt.getTime())
      await this.deleteVersions(intent, newer ? [intent] : other)
      await this.step('replaced', intent.objectUri)
      kept.push(!newer)
    }
    const intents = items.map((i) => i.intent)
    await this.recordAll(intents.filter((_i, k) => kept[k]), 'committed')
    await this.recordAll(intents.filter((_i, k) => !kept[k]), 'abandoned')
    for (const {req} of items) await this.step('recorded', req.object.uri)
    return kept
  }

  /**
   * Deletes the rows and rejects of some versions of an object, by their load ids, within their event-time range:
   * one statement each, outside any transaction (Write API rows of the last 30 minutes allow no transaction).
   */
  private async deleteVersions(intent: LedgerRecord, versions: readonly LedgerRecord[]): Promise<void> {
    if (versions.length === 0) return
    const range = replacedRange(versions)
    const loads = [...new Set(versions.map((o) => o.loadId))]
    const params: BqParams = {uri: intent.objectUri, loads, ...(range ? {replace_since: range.min, replace_until: range.max} : {})}
    await this.wh.runQuery(deleteVersionsSql(this.wh.dialect, {table: intent.table, range: range !== null}), params, `replace ${intent.objectUri}`)
    await this.wh.runQuery(deleteVersionRejectsSql(this.wh.dialect), {table: intent.table, uri: intent.objectUri, loads}, `replace the rejects of ${intent.objectUri}`)
  }

  /** Deletes the rows and rejects of these attempts (each its object's, by its load id: one stream's rows). */
  private async dropRows(attempts: readonly LedgerRecord[]): Promise<void> {
    for (const a of attempts) await this.deleteVersions(a, [a])
  }

  private encoder(table: string, req: ObjectLoadRequest): RowEncoder {
    let e = this.encoders.get(table)
    if (!e) {
      e = new RowEncoder(bqSchema(tableColumns(req.format)))
      this.encoders.set(table, e)
    }
    return e
  }

  /**
   * Parses the object into Write API requests (each under the size limit) and its rejected lines: in a parse
   * worker thread when they run (the main thread ships the object's bytes in and gets the encoded rows back), else
   * in this thread. The reject rule runs here, before the object joins a group.
   */
  private async encode(req: ObjectLoadRequest, loadId: string): Promise<Encoded> {
    const enc = this.encoder(req.table, req)
    const cols = req.format.columns
    const {object} = req
    const ingested = this.settings.clock.now() * 1000
    const meta: Record<string, Value> = {
      _source_uri: object.uri,
      _line: null,
      _load_id: loadId,
      _ingested_at: ingested,
      _object_modified_at: object.lastModified.getTime() * 1000,
      _load_path: req.path,
      _gcs_created_at: object.gcsCreatedAt ? object.gcsCreatedAt.getTime() * 1000 : null,
    }
    const extra = tableColumns(req.format).slice(cols.length)
    const task: RowsTask = {
      descriptor: enc.descriptorBytes,
      fixed: extra.map((c) => meta[c.name] ?? null),
      lineField: cols.length + extra.findIndex((c) => c.name === '_line'),
      timeColumn: cols.findIndex((c) => c.name === 'event_time' && c.type === 'timestamp'),
      requestBytes: this.settings.requestBytes,
    }
    // a small object is parsed here: shipping it to a worker thread costs about what parsing it does, and a
    // worker per small object made a long-running worker's RSS grow (docs/performance.md)
    const pool = object.size >= IN_THREAD_BELOW_BYTES ? ParsePool.get() : null
    const source = await req.open()
    const out = pool ? await pool.run('rows', source, req.format, task, req.report.counters) : await encodeRows(source, req.format, task, req.report.counters)
    req.report.rejects(out.parseRejects)
    req.report.parsed(out.parsed, out.parseRejects.length)
    const rejects = [...out.encodeRejects, ...out.parseRejects].map((r): RowValues => ({target_table: req.table, object_uri: object.uri, line: r.line, reason: r.reason, raw: r.raw, load_id: loadId, rejected_at: ingested}))
    return {requests: requestsOf(out), rows: out.ends.length, bytes: out.data.byteLength, rejects, range: out.range, lines: out.lines}
  }

  /** One sentence for an append the service refused (row errors name the object's line). */
  private appendError(req: ObjectLoadRequest, enc: Encoded, requestIndex: number, res: {error?: {code?: number | null; message?: string | null} | null; rowErrors?: Array<{index?: unknown; message?: string | null}> | null}): Error {
    const before = enc.requests.slice(0, requestIndex).reduce((n, r) => n + r.length, 0)
    const first = res.rowErrors?.[0]
    if (first) {
      const line = enc.lines[before + Number(first.index ?? 0)]
      return new UserError(`BigQuery refused line ${line} of ${req.object.uri}: ${first.message ?? 'invalid row'} (${res.rowErrors!.length} row error${res.rowErrors!.length === 1 ? '' : 's'} in the request; nothing of the object was committed).`, {
        suggestion: 'Check that the table has the layout of the format (--format), or load into a new table.',
      })
    }
    return new Error(`BigQuery refused an append for ${req.object.uri}: ${res.error?.message ?? `code ${res.error?.code}`} (nothing of the object was committed).`)
  }

  /** Connection-level failures of an append, as one sentence (the schema mismatch names the columns). */
  private explain(req: ObjectLoadRequest, err: unknown): unknown {
    const storage = readStorageErrors(err)
    const extra = storage.find((s) => storageCode(s.code) === StorageErrorCode.SCHEMA_MISMATCH_EXTRA_FIELDS)
    if (extra) {
      return new UserError(`The table ${req.table} lacks column(s) ${extra.entity || '(unnamed)'} that seneka writes for ${req.format.name} rows; nothing of ${req.object.uri} was committed.`, {
        suggestion: 'Run the load again: seneka adds the columns first (ensureTable); if another tool changed the table, add them with ALTER TABLE ADD COLUMN.',
        cause: err,
      })
    }
    return err
  }

  /** Writes a closed group, again without the objects that cannot be in it, until none is left. */
  private async writeGroup(table: string, members: Member[]): Promise<void> {
    // a group the lane takes came without a CreateWriteStream token, and claimed one of its streams (StreamGroups)
    let claimed = this.fitsLane(members)
    if (claimed) this.pool(table).claimed++
    else this.lookUpFresh(members)
    try {
      let live = await this.admitted(members)
      for (let round = 0; live.length > 0; round++) {
        const lane = this.fitsLane(live)
        if (!lane && (round > 0 || claimed)) this.groups.spend(1)
        const claim = claimed
        claimed = false
        try {
          live = lane ? await this.writeLane(table, live, claim) : await this.withoutClaim(table, claim, () => this.writeStream(table, live))
        } catch (err) {
          for (const m of live) m.reject(err)
          return
        }
      }
    } finally {
      if (claimed) this.unclaim(table)
    }
  }

  /** Members that skipped their look-up (fresh) and go to a pending stream after all: their look-up, now. */
  private lookUpFresh(members: readonly Member[]): void {
    for (const m of members) {
      if (!m.fresh) continue
      m.fresh = false
      m.decided = this.decide(m.req)
      m.decided.catch(() => {})
    }
  }

  private pool(table: string): LanePool {
    let pool = this.lanes.get(table)
    if (!pool) {
      pool = {free: [], count: 0, claimed: 0, waiting: []}
      this.lanes.set(table, pool)
    }
    return pool
  }

  /** A claim on the lane given up (its group went elsewhere or ended): a group left open may go. */
  private unclaim(table: string): void {
    this.pool(table).claimed--
    this.wakeLane(table)
  }

  private async withoutClaim<T>(table: string, claim: boolean, fn: () => Promise<T>): Promise<T> {
    if (claim) this.unclaim(table)
    return fn()
  }

  /**
   * Whether a group goes to the committed lane: the policy allows it, its rows fit ONE append request (so they
   * land all at once or not at all), every object has rows (an attempt's rows tell whether its group landed) and
   * none has rejected lines (they go with a pending stream of the rejects table).
   */
  private fitsLane(members: readonly Member[]): boolean {
    if (!this.settings.groups.committedLane) return false
    let bytes = 0
    for (const m of members) {
      if (m.noLane || m.enc.rows === 0 || m.enc.rejects.length > 0) return false
      bytes += m.enc.bytes
    }
    return bytes <= this.settings.requestBytes
  }

  /**
   * A free committed-type stream of the table's lane; a new one while fewer than LANE_STREAMS exist (a
   * CreateWriteStream from the budget, once per stream, not per group), else the first one given back.
   */
  private async takeLane(table: string, claim: boolean): Promise<Lane> {
    const pool = this.pool(table)
    // the group's claim turns into the stream it takes
    if (claim) pool.claimed--
    for (;;) {
      const free = pool.free.pop()
      if (free) return free
      if (pool.count < LANE_STREAMS) {
        pool.count++
        try {
          this.groups.spend(1)
          const s = await this.api.createCommittedStream(this.parent(table))
          return {name: s.name, next: 0}
        } catch (err) {
          pool.count--
          this.wakeLane(table)
          throw err
        }
      }
      await new Promise<void>((resolve) => pool.waiting.push(resolve))
    }
  }

  /** Gives a lane stream back (`keep`), or retires it (fenced or broken: a new one is made when needed). */
  private giveLane(table: string, lane: Lane, keep: boolean): void {
    const pool = this.lanes.get(table)!
    if (keep) pool.free.push(lane)
    else pool.count--
    this.wakeLane(table)
  }

  /** A lane stream came free (or may be made): the first group waiting in takeLane, else a group left open for one. */
  private wakeLane(table: string): void {
    const waiter = this.lanes.get(table)?.waiting.shift()
    if (waiter) waiter()
    else this.groups.poke(table)
  }

  /** Whether a group of the table's lane would get a stream now (else it stays open and grows: StreamGroups). */
  private laneFree(table: string): boolean {
    const pool = this.pool(table)
    return pool.waiting.length === 0 && pool.free.length + (LANE_STREAMS - pool.count) > pool.claimed
  }

  /** The intents of a group's objects in a stream, each at its offset, and the stream's group row. */
  private intentsOf(table: string, members: readonly Member[], stream: string, offsets: ReadonlyMap<Member, number>, rejectStream: string | null): {entries: LedgerRecord[]; group: LedgerRecord} {
    const {clock} = this.settings
    const entries = members.map((m): LedgerRecord => {
      const {req, enc} = m
      return {
        table,
        objectUri: req.object.uri,
        etag: req.object.etag,
        size: req.object.size,
        lastModified: req.object.lastModified,
        rows: enc.rows,
        rejected: enc.rejects.length,
        loadId: m.loadId,
        path: req.path,
        loadedAt: new Date(clock.now()),
        sequencer: req.sequencer ?? null,
        eventRange: enc.range ? {min: microsToDate(enc.range.min)!, max: microsToDate(enc.range.max)!} : null,
        state: 'intent',
        stream,
        rejectStream,
        offset: offsets.get(m)!,
        streamObjects: members.length,
      }
    })
    const rows = members.reduce((n, m) => n + m.enc.rows, 0)
    const rejected = members.reduce((n, m) => n + m.enc.rejects.length, 0)
    const group: LedgerRecord = {...entries[0], objectUri: groupKey(stream), rows, rejected, offset: Math.min(...offsets.values()), members: members.map((m) => m.req.object.uri)}
    return {entries, group}
  }

  /** The group's lease: its earliest object's (a zombie's group loses as a whole). */
  private leaseOf(members: readonly Member[]): {deadline: number; out: () => Error} {
    const deadline = Math.min(...members.map((m) => m.deadline))
    const out = () => retryable(`the lease on ${members.length === 1 ? members[0].req.object.uri : `a group of ${members.length} objects`} ran out before its commit (${Math.round(this.settings.leaseMs / 1000)} s); nothing was committed`)
    return {deadline, out}
  }

  /**
   * The race check, once a group's intents are durable: per object, another version committed while this one was
   * loading (overtaken), or another stream of its version committed or first by name (rivalled).
   */
  private async raceCheck(members: readonly Member[], stream: string): Promise<{now: Looked[]; overtaken: Array<LedgerRecord | undefined>; rivalled: boolean[]; conflict: boolean}> {
    const now = await Promise.all(members.map((m) => this.view(m.req)))
    const overtaken = members.map((m, k) => {
      // another version committed while this one was loading, and it counts as current (stream: its rule, the
      // newer sequencer or generation; backfill: any, the listing that named this version is older)
      const started = m.deadline - this.settings.leaseMs
      return now[k].committed.find((c) => c.etag !== m.req.object.etag && c.loadedAt.getTime() >= started && (m.req.path !== 'stream' || isCurrentEntry(m.req, c)))
    })
    const rivalled = members.map((m, k) => {
      const etag = m.req.object.etag
      const rival = now[k].committed.find((c) => c.etag === etag && !sameAttempt(c, {stream, loadId: m.loadId}))
      const firstOpen = now[k].open.filter((o) => o.etag === etag).sort((a, b) => (a.stream! < b.stream! ? -1 : 1))[0]
      return Boolean(rival || (firstOpen && !sameAttempt(firstOpen, {stream, loadId: m.loadId})))
    })
    return {now, overtaken, rivalled, conflict: members.some((_m, k) => overtaken[k] || rivalled[k])}
  }

  /** After a lost race check (the stream recorded abandoned): each object fails, defers, or goes to a new stream. */
  private afterLostCheck(members: readonly Member[], check: {overtaken: Array<LedgerRecord | undefined>; rivalled: boolean[]}): Member[] {
    const again: Member[] = []
    members.forEach((m, k) => {
      const o = check.overtaken[k]
      if (o) m.reject(retryable(`another version of ${m.req.object.uri} (ETag ${o.etag}) was committed while this one loaded; this one was not committed`))
      else if (check.rivalled[k]) void this.defer(m).then(m.resolve, m.reject)
      else again.push(m)
    })
    return again
  }

  /**
   * After a group's rows are in the table: older versions replaced and each object recorded committed; then the
   * check after the commit (the race the check before cannot close, and a stream recorded abandoned meanwhile).
   */
  private async afterGroupCommit(members: readonly Member[], entries: readonly LedgerRecord[], now: readonly Looked[]): Promise<void> {
    const kept = await this.afterCommits(members.map((m, k) => ({req: m.req, intent: entries[k], committed: now[k].committed})))
    // the race the check cannot close (another worker looked before these intents were visible and commits its
    // own stream too): after the commit each side asks about the other's stream, so the later of two commits
    // sees the earlier one and the stream second by name loses its rows
    const post = await Promise.all(members.map((m) => this.view(m.req)))
    for (const [k, m] of members.entries()) {
      const entry = entries[k]
      if (kept[k] && !post[k].committed.some((c) => sameAttempt(c, entry))) {
        // recorded abandoned by a worker whose look-up was older than this commit: its rows go, it loads again
        await this.dropRows([entry])
        m.reject(retryable(`write stream ${entry.stream} was recorded abandoned by another worker while this one committed it; its rows of ${m.req.object.uri} were deleted and it loads again`))
        continue
      }
      const others = new Map<string, LedgerRecord>()
      for (const o of [...now[k].open, ...post[k].open, ...post[k].committed]) if (o.etag === entry.etag && o.stream && !sameAttempt(o, entry)) others.set(attemptKey(o), o)
      await this.dropDuplicates(entry, [...others.values()])
      const replaced = now[k].committed.some((c) => c.etag !== entry.etag)
      m.resolve({status: replaced ? 'replaced' : 'loaded', rows: m.enc.rows, rejected: m.enc.rejects.length})
    }
  }

  /**
   * The committed lane: a group whose rows fit one request goes to a COMMITTED-type stream the worker keeps, at the
   * stream's next offset: intents first (one ledger append, as for a pending stream), the race check, then ONE
   * append, which makes all of the group's rows visible at once or none. An append not acknowledged fences the
   * stream (finalize: nothing lands in it afterwards) and the table says whether the rows are there; a settler of
   * an intent left here does the same (streamState). Every object is answered here or loaded again from its
   * look-up under a new load id (reload): none is written again under this attempt's.
   */
  private async writeLane(table: string, members: Member[], claim: boolean): Promise<Member[]> {
    const lane = await this.takeLane(table, claim)
    let keep = false
    let landed: {entries: LedgerRecord[]; now: Looked[]}
    // the stream is held from the intents (they name its offsets) to the append, not while the rows are recorded
    try {
      const offsets = new Map<Member, number>()
      let total = 0
      for (const m of members) {
        offsets.set(m, lane.next + total)
        total += m.enc.rows
      }
      const lease = this.leaseOf(members)
      if (this.settings.clock.now() > lease.deadline) throw lease.out()
      // no group row: each object of a lane group is settled on its own (fence, then its own rows), never by its
      // mates' rows (a lane stream holds many groups over its life)
      const {entries} = this.intentsOf(table, members, lane.name, offsets, null)
      await this.recordAll(entries, 'intent')
      await this.groupStep('intent', members)
      const check = await this.raceCheck(members, lane.name)
      // a fresh object is loaded here only if the ledger holds nothing of it but this intent: anything else (loaded
      // before, another worker's intent, an earlier attempt of this run) is the usual path's (decide, resolveOpen)
      const usual = members.filter((m, k) => m.fresh && check.now[k].records.some((r) => !(r.state === 'intent' && sameAttempt(r, {stream: lane.name, loadId: m.loadId}))))
      for (const m of members) if (m.fresh) await this.step('lookup', m.req.object.uri)
      if (check.conflict || usual.length > 0) {
        // nothing of the group was appended; its offsets serve the next group once the abandon is recorded
        await this.recordAll(entries, 'abandoned')
        keep = true
        const gone = new Set(usual)
        const k = members.map((m, i) => (gone.has(m) ? -1 : i)).filter((i) => i >= 0)
        this.reload([...usual, ...this.afterLostCheck(k.map((i) => members[i]), {overtaken: k.map((i) => check.overtaken[i]), rivalled: k.map((i) => check.rivalled[i])})])
        return []
      }
      await this.groupStep('checked', members)
      if (this.settings.clock.now() > lease.deadline) throw lease.out()
      const request = members.flatMap((m) => m.enc.requests.flat())
      try {
        await this.api.appendPending(lane.name, this.encoder(table, members[0].req).descriptor, [request], (_i, res) => this.laneError(members, res), lane.next)
        lane.next += total
        keep = true
      } catch (err) {
        // not acknowledged (refused, fenced by a settler, the connection gone for good): fence it, then look
        const rows = await this.api.fence(lane.name)
        if (!(await this.landed(entries[0], rows))) {
          await this.recordAll(entries, 'abandoned')
          const refused = (err as {$member?: Member}).$member
          if (refused && err instanceof UserError) {
            refused.reject(err)
            this.reload(members.filter((m) => m !== refused))
          } else {
            // once more through a pending stream, whose errors are the usual ones (a refusal that stays fails there)
            this.reload(members, true)
          }
          return []
        }
      }
      landed = {entries, now: check.now}
    } finally {
      this.giveLane(table, lane, keep)
    }
    await this.groupStep('committed', members)
    await this.afterGroupCommit(members, landed.entries, landed.now)
    return []
  }

  /** An append of the lane refused: a row error names its object and line (appendError); else one sentence. */
  private laneError(members: readonly Member[], res: Parameters<WriteApiLoader['appendError']>[3]): Error {
    const index = Number(res.rowErrors?.[0]?.index ?? -1)
    let before = 0
    for (const m of members) {
      if (index >= before && index < before + m.enc.rows) {
        const shifted = {...res, rowErrors: res.rowErrors!.map((e) => ({...e, index: Number(e.index ?? 0) - before}))}
        return Object.assign(this.appendError(m.req, m.enc, 0, shifted), {$member: m})
      }
      before += m.enc.rows
    }
    return new Error(`BigQuery refused an append of ${members.length} object(s): ${res.error?.message ?? `code ${res.error?.code}`} (nothing of them was committed).`)
  }

  /**
   * One pending stream for the objects of a group: appended object after object, each at its own offset range,
   * finalized, the intents of all of them recorded in ONE ledger append, checked, committed. Returns the objects to
   * write again in a new stream (this one abandoned: never committed); every other object is answered here. A
   * throw fails every object left (a crash of the group: whatever it left is settled by the next worker).
   */
  private async writeStream(table: string, members: Member[]): Promise<Member[]> {
    const parent = this.parent(table)
    const encoder = this.encoder(table, members[0].req)
    const stream = await this.api.createPendingStream(parent)
    await this.groupStep('created', members)
    // the requests of the objects one after another; each object's first row is at its offset
    const requests: Uint8Array[][] = []
    const owner: Member[] = []
    const offsets = new Map<Member, number>()
    let total = 0
    for (const m of members) {
      offsets.set(m, total)
      total += m.enc.rows
      for (const r of m.enc.requests) {
        requests.push(r)
        owner.push(m)
      }
    }
    try {
      await this.api.appendPending(stream.name, encoder.descriptor, requests, (i, res) => {
        const m = owner[i]
        const first = owner.indexOf(m)
        return Object.assign(this.appendError(m.req, m.enc, i - first, res), {$member: m})
      })
    } catch (err) {
      const refused = (err as {$member?: Member}).$member
      // a row the service refuses fails its object only: this stream (holding rows of it) is never committed and
      // the others are written again to a new one
      if (refused && err instanceof UserError) {
        refused.reject(err)
        return members.filter((m) => m !== refused)
      }
      for (const m of members) m.reject(this.explain(m.req, err))
      return []
    }
    await this.groupStep('appended', members)
    const count = await this.api.finalize(stream.name)
    if (count !== total) throw retryable(`write stream ${stream.name} holds ${count} rows after finalize, ${total} were sent; it is left uncommitted`)
    const rejects = members.flatMap((m) => m.enc.rejects)
    let rejectStream: string | null = null
    if (rejects.length > 0) {
      this.groups.spend(1)
      const rs = await this.api.createPendingStream(this.parent(REJECTS_TABLE))
      const b = new RequestBuilder(this.settings.requestBytes)
      for (const r of rejects) b.add(this.rejectEncoder.encode(r))
      await this.api.appendPending(rs.name, this.rejectEncoder.descriptor, b.done(), (_i, res) => new Error(`BigQuery refused the rejected lines of ${members.length} object(s): ${res.error?.message ?? ''}`))
      const n = await this.api.finalize(rs.name)
      if (n !== rejects.length) throw retryable(`write stream ${rs.name} holds ${n} rejected lines, ${rejects.length} were sent`)
      rejectStream = rs.name
    }
    await this.groupStep('finalized', members)
    const lease = this.leaseOf(members)
    if (this.settings.clock.now() > lease.deadline) throw lease.out()
    const {entries, group} = this.intentsOf(table, members, stream.name, offsets, rejectStream)
    // the intents are durable BEFORE the commit, all of the group in ONE append (one AppendRows request: all of
    // its rows or none): whoever meets one of the objects next can settle the stream
    await this.recordAll([...entries, group], 'intent')
    await this.groupStep('intent', members)
    // other workers with the same objects: one stream per version commits
    const check = await this.raceCheck(members, stream.name)
    if (check.conflict) {
      // the stream commits for all of its objects or for none: none, and the others go to a new stream (a settler
      // that took this stream for the winner may commit it meanwhile: abandon() deletes its rows then)
      await this.abandon(stream.name, entries)
      return this.afterLostCheck(members, check)
    }
    await this.groupStep('checked', members)
    if (this.settings.clock.now() > lease.deadline) throw lease.out()
    try {
      await this.api.commit(parent, [stream.name])
    } catch (err) {
      if (isWriteTransient(err)) throw err
      // cannot commit (it expired): nothing of the group committed, its objects load afresh
      await this.recordAll(entries, 'abandoned')
      throw retryable(`write stream ${stream.name} could not be committed (${(err as Error).message}); nothing of its objects was committed`)
    }
    if (rejectStream) await this.api.commit(this.parent(REJECTS_TABLE), [rejectStream])
    await this.groupStep('committed', members)
    await this.afterGroupCommit(members, entries, check.now)
    return []
  }

  /**
   * Objects of a lane group that was abandoned before its rows landed: each is loaded again from its look-up, under
   * the next load id (every attempt its own: a settler asks the table for an attempt's rows by its load id), parsed
   * again; `noLane`: through a pending stream (after an append the lane could not take).
   */
  private reload(members: readonly Member[], noLane = false): void {
    for (const m of members) void this.loadUsual(m, noLane).then(m.resolve, m.reject)
  }

  /** An object loaded again the usual way (its look-up first; parsed again). */
  private async loadUsual(m: Member, noLane = false): Promise<ObjectLoadOutcome> {
    this.groups.enter()
    let joined = false
    try {
      return await this.loadOnce(m.req, () => (joined = true), true, noLane)
    } finally {
      if (!joined) this.groups.leave()
    }
  }

  /** An object another worker's stream loads: settle that one, then skip, or load again if it did not commit. */
  private async defer(m: Member): Promise<ObjectLoadOutcome> {
    await this.resolveOpen(m.req, await this.view(m.req, true))
    const after = (await this.view(m.req)).current
    if (after && after.etag === m.req.object.etag) return {status: 'skipped', entry: strip(after)}
    return this.loadUsual(m)
  }

  /**
   * Two streams of one version both committed: the one second by stream name is the duplicate. Its rows (by its
   * load id) and rejects are deleted and it is recorded abandoned, whichever worker notices; both may (the DELETE is
   * keyed by load id and can run twice).
   */
  private async dropDuplicates(mine: LedgerRecord, others: readonly LedgerRecord[]): Promise<void> {
    for (const o of others) {
      if (!(await this.streamState(o.stream!, [o])).done) continue
      // second by stream name (by attempt within one stream of the committed lane) loses
      const loser = attemptKey(o) < attemptKey(mine) ? mine : o
      const keeper = loser === mine ? o : mine
      // rows of two streams of one run cannot be told apart by load id: left for `seneka dedupe`
      if (loser.loadId === keeper.loadId) continue
      await this.dropRows([loser])
      await this.record(loser, 'abandoned')
    }
  }

  /** Appends a ledger row (the default stream of the ledger table: visible at once, no DML). */
  private async record(e: LedgerRecord, state: LedgerState): Promise<void> {
    await this.recordAll([e], state)
  }

  /**
   * Appends ledger rows in ONE AppendRows request to the ledger's default stream: the service appends all rows of
   * a request or none (a row error refuses the whole request), so a group's intents are durable together.
   */
  private async recordAll(entries: readonly LedgerRecord[], state: LedgerState): Promise<void> {
    const rows = entries.map((e) =>
      this.ledgerEncoder.encode({
        target_table: e.table,
        object_uri: e.objectUri,
        etag: e.etag,
        size: e.size,
        last_modified: e.lastModified.getTime() * 1000,
        rows: e.rows,
        rejected: e.rejected,
        load_id: e.loadId,
        path: e.path,
        loaded_at: state === 'intent' ? e.loadedAt.getTime() * 1000 : this.settings.clock.now() * 1000,
        sequencer: e.sequencer,
        min_event_time: e.eventRange ? e.eventRange.min.getTime() * 1000 : null,
        max_event_time: e.eventRange ? e.eventRange.max.getTime() * 1000 : null,
        state: e.members ? 'group' : state,
        stream: e.stream,
        reject_stream: e.rejectStream,
        stream_offset: e.offset,
        stream_objects: e.streamObjects,
        stream_members: e.members ? JSON.stringify(e.members) : null,
      }),
    )
    if (rows.length > 0) await this.api.appendDefault(this.parent(LEDGER_TABLE), this.ledgerEncoder.descriptor, rows)
  }

  async close(): Promise<void> {
    this.groups.close()
    this.lookups.close()
    await this.api.close()
  }
}

function baseLoadId(id: string): string {
  return id.replace(/#\d+$/, '')
}

function strip(r: LedgerRecord): LedgerEntry {
  const {state: _s, stream: _t, rejectStream: _r, offset: _o, streamObjects: _n, members: _m, ...entry} = r
  return entry
}

/** The storage errors in a gRPC error's trailers (google.cloud.bigquery.storage.v1.storageerror-bin). */
function readStorageErrors(err: unknown): Array<{code?: number | null; entity?: string | null}> {
  if (!(err as {metadata?: unknown})?.metadata) return []
  try {
    return managedwriter.parseStorageErrors(err as never) as Array<{code?: number | null; entity?: string | null}>
  } catch {
    return []
  }
}
