import {UsageError} from '../errors.js'
import {renderBlock} from '../output/table.js'
import {formatBytes} from '../output/units.js'
import {count, plural} from '../output/words.js'
import {formatDuration} from '../time.js'
import {estimateUsd, formatUsd, MIN_BILLED_BYTES, ON_DEMAND_USD_PER_TIB} from './bigquery.js'
import {
  BULK_GROUPS,
  CREATE_WRITE_STREAM_PER_HOUR,
  DAY_MS,
  type GroupPolicy,
  HOUR_MS,
  LANE_LOOKUPS_PER_GROUP,
  LANE_REQUEST_BYTES,
  LANE_STREAMS,
  LOAD_JOBS_PER_PROJECT_PER_DAY,
  LOAD_JOBS_PER_TABLE_PER_DAY,
  LOOKUPS_PER_GROUP,
  MUTATING_DML_RUNNING_PER_TABLE,
  STREAM_GROUPS,
  TYPICAL_LOAD_JOB_MS,
  TYPICAL_MERGE_MS,
  WRITE_API_FREE_BYTES_PER_MONTH,
  WRITE_API_USD_PER_GIB,
} from './quotas.js'

/**
 * What each BigQuery load method would use for the same objects, side by side: load jobs (staged files, one
 * load job and one merge transaction per batch) and the Storage Write API (one pending stream per
 * `objectsPerStream` objects, committed with BatchCommitWriteStreams, no DML for new objects). Pure arithmetic
 * on the figures given: nothing here calls BigQuery. `stream --dry-run` models a day of the traffic it is told
 * (or assumes); `backfill --dry-run` models the run its plan found.
 */

const GIB = 1024 ** 3
/** days in the month the Write API free tier is counted over (30: a conservative month for a daily rate) */
const DAYS_PER_MONTH = 30


/** The objects to load: a day of a stream's traffic, or a backfill's whole run. */
export interface Traffic {
  /** 'day': a stream's day; 'run': everything a backfill plans to load */
  window: 'day' | 'run'
  objects: number
  /** bytes of the rows (the Write API bills the bytes it ingests; gzip objects hold several times their size) */
  bytes: number
  /** where the figures come from, e.g. "assumed: 1 object/s of 1.0 MiB" or "the plan: 1,200 objects" */
  basis: string
}

/** A backfill's run: the objects its plan loads, their bytes as stored. */
export function runTraffic(objects: number, bytes: number): Traffic {
  return {window: 'run', objects, bytes, basis: `this run (${plural(objects, 'object')}, ${formatBytes(bytes)} as stored)`}
}

/** Parses an object rate: "5/s", "300/m", "1000/h" or a number (per second), into objects per second. */
export function parseRate(input: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(s|m|h|d))?\s*$/i.exec(input)
  const per = {s: 1, m: 60, h: 3600, d: 86_400}[(m?.[2] ?? 's').toLowerCase() as 's' | 'm' | 'h' | 'd']
  const rate = m ? Number(m[1]) / per : 0
  if (!(rate > 0)) throw new UsageError(`${flag} "${input}" is not a rate of objects.`, 'Use objects per second, minute, hour or day: 5/s, 300/m, 1000/h.')
  return rate
}

/** A stream's day at a steady rate. */
export function dayTraffic(objectsPerSecond: number, bytesPerObject: number, assumed: boolean): Traffic {
  const objects = Math.round(objectsPerSecond * (DAY_MS / 1000))
  return {
    window: 'day',
    objects,
    bytes: objects * bytesPerObject,
    basis: `a day at ${count(objectsPerSecond)} object${objectsPerSecond === 1 ? '' : 's'}/s of ${formatBytes(bytesPerObject)}${assumed ? ' (assumed: set --expected-rate and --expected-object-size)' : ''}`,
  }
}

/** Settings of the load-jobs path (the loader's batching). */
export interface LoadJobsModel {
  /** stream: a batch commits at the latest this long after its first object (--max-latency); backfill: none */
  maxLatencyMs?: number
  maxObjectsPerJob: number
  maxBytesPerJob: number
  /** billed statements per batch (ledger check, merge script statements) */
  statementsPerBatch: number
  /** load jobs into one staging table before the loader rotates to the next */
  loadJobsPerStagingTable: number
  loadJobMs: number
  mergeMs: number
}

/**
 * Settings of the Write API path, in line with the Write API loader (write-api/groups.ts): objects share a
 * pending stream per group of at most `objectsPerStream`, and a worker creates at most `streamsPerHour` streams
 * (its CreateWriteStream budget): below it each object gets a stream at once, above it objects share streams.
 * Ledger and reject rows are appended through the Write API; the only billed statements are batched ledger
 * look-ups: each group waits for LOOKUPS_PER_GROUP rounds, and a round covers every object waiting, at most one per
 * `lookupEveryMs` (the loader's pacing).
 */
export interface WriteApiModel {
  objectsPerStream: number
  /** CreateWriteStream calls an hour one worker makes at most (Infinity: a stream per object or group, unpaced) */
  streamsPerHour: number
  lookupEveryMs: number
  /** groups that fit one append request go to LANE_STREAMS committed-type streams the worker keeps */
  committedLane: boolean
}

/** A stream worker's groups (write-api/groups.ts STREAM_GROUPS). */
export const WRITE_API_DEFAULTS: WriteApiModel = writeApiModel(STREAM_GROUPS)
/** A backfill's groups (BULK_GROUPS). */
export const WRITE_API_BULK_DEFAULTS: WriteApiModel = writeApiModel(BULK_GROUPS)

/** The model of a loader's group policy (with the environment's settings applied, as the loader has them). */
export function writeApiModel(p: GroupPolicy): WriteApiModel {
  return {objectsPerStream: p.maxObjects, streamsPerHour: p.streamsPerHour, lookupEveryMs: p.lookupIntervalMs, committedLane: p.committedLane}
}

/**
 * Look-up statements for `t`: LOOKUPS_PER_GROUP rounds per group, each coalesced with every other object waiting
 * (a day: never more than one per `lookupEveryMs`; a run: the rounds of its groups).
 */
function lookupsFor(t: Pick<Traffic, 'objects' | 'window' | 'bytes'>, m: WriteApiModel, streams: number): number {
  if (t.objects <= 0) return 0
  if (t.window === 'run') return LOOKUPS_PER_GROUP * Math.max(1, streams)
  return Math.min(lookupRounds(t, m) * t.objects, Math.ceil(DAY_MS / Math.max(1, m.lookupEveryMs)))
}

/** Look-up rounds per group: a committed-lane group of new objects needs one fewer (no look-up before its intents). */
function lookupRounds(t: Pick<Traffic, 'objects' | 'bytes'>, m: WriteApiModel): number {
  return inLane(t, m) ? LANE_LOOKUPS_PER_GROUP : LOOKUPS_PER_GROUP
}

/** Whether the model's objects go through the committed lane (each, on average, well within one append request). */
function inLane(t: Pick<Traffic, 'objects' | 'bytes'>, m: WriteApiModel): boolean {
  return m.committedLane && t.bytes / Math.max(1, t.objects) <= LANE_REQUEST_BYTES
}

/**
 * Pending streams a worker creates for `objects` (a day's, or a run's): a stream day, objects spread evenly: one
 * per object up to the worker's budget an hour, then the budget (objects share streams), never fewer than full
 * groups need. A run: full groups.
 */
export function writeStreamsFor(t: Pick<Traffic, 'objects' | 'window' | 'bytes'>, m: WriteApiModel): {streams: number; perHour: number} {
  if (t.objects <= 0) return {streams: 0, perHour: 0}
  // the committed lane: a few streams kept for the worker's life, whatever the rate (objects of one request or less)
  if (inLane(t, m)) return {streams: LANE_STREAMS, perHour: LANE_STREAMS}
  const full = Math.ceil(t.objects / Math.max(1, m.objectsPerStream))
  if (t.window === 'run') return {streams: full, perHour: Math.min(full, m.streamsPerHour)}
  const hours = DAY_MS / HOUR_MS
  const perHour = Math.ceil(Math.max(Math.min(t.objects / hours, m.streamsPerHour), full / hours))
  return {streams: Math.round(perHour * hours), perHour}
}
export const LOAD_JOBS_TIMES = {loadJobMs: TYPICAL_LOAD_JOB_MS, mergeMs: TYPICAL_MERGE_MS}

/** One quota against what a method uses of it. */
export interface QuotaUse {
  quota: string
  used: number
  limit: number
  /** what `used` counts, e.g. "per table per day" */
  per: string
  holds: boolean
  note?: string
}

export interface LoadMethodFigures {
  method: LoadMethod
  /** load jobs in the window (free; limited per table and per project per day) */
  loadJobs: number
  /** staging tables the load jobs go to (each rotated before the per-table quota) */
  stagingTables: number
  /** merge transactions (mutating DML on the target table and the dataset's ledger) */
  merges: number
  /** billed statements, each at least 10 MiB */
  billedStatements: number
  /** bytes billed at least by those statements (on demand) */
  billedBytes: number
  queryUsd: number
  /** bytes ingested through the Storage Write API */
  writeApiBytes: number
  /** Write API bytes per month (the free tier is monthly): the day's bytes x 30, or the run's bytes */
  writeApiBytesPerMonth: number
  /** USD for the Write API bytes beyond the free 2 TiB of the month (nothing else using it) */
  writeApiUsdPerMonth: number
  /** CreateWriteStream calls in the window */
  createWriteStreamCalls: number
  /** CreateWriteStream calls per hour: a day's calls spread evenly; for a run, the quota's pace */
  createWriteStreamPerHour: number
  /** what an object waits between arriving and being queryable */
  latency: string
  quotas: QuotaUse[]
  notes: string[]
}

export interface LoadMethodComparison {
  traffic: Traffic
  loadJobs: LoadJobsModel
  writeApi: WriteApiModel
  prices: {queryUsdPerTiB: number; writeApiUsdPerGiB: number; writeApiFreeBytesPerMonth: number; writeApiPriceSource: string}
  methods: [LoadMethodFigures, LoadMethodFigures]
  /** the one the figures favour, and why (one sentence) */
  advice: string
}

/**
 * Batches a day of evenly spread objects makes when a batch commits every `everyMs` (or when `perBatch`
 * objects or `bytesPerBatch` bytes are in it): one per interval that sees an object, more when an interval
 * holds more than a batch. For a run (no interval) only the batch size counts.
 */
export function batchesFor(t: Pick<Traffic, 'objects' | 'bytes'>, perBatch: number, bytesPerBatch = Number.POSITIVE_INFINITY, everyMs?: number): number {
  if (t.objects <= 0) return 0
  const bySize = (objects: number, bytes: number) => Math.max(1, Math.ceil(objects / perBatch), Math.ceil(bytes / bytesPerBatch))
  if (everyMs === undefined) return bySize(t.objects, t.bytes)
  const intervals = DAY_MS / Math.max(1, everyMs)
  // fewer objects than intervals: each object starts (and alone fills) its own batch
  if (t.objects <= intervals) return t.objects
  return Math.ceil(intervals * bySize(t.objects / intervals, t.bytes / intervals))
}

function statementsCost(statements: number, bytesRead: number): {billedBytes: number; queryUsd: number} {
  const billedBytes = statements * MIN_BILLED_BYTES + bytesRead
  return {billedBytes, queryUsd: Number(estimateUsd(billedBytes).toFixed(4))}
}

function loadJobsFigures(t: Traffic, m: LoadJobsModel): LoadMethodFigures {
  const batches = batchesFor(t, m.maxObjectsPerJob, m.maxBytesPerJob, m.maxLatencyMs)
  const statements = batches * m.statementsPerBatch
  // the merges read the staged rows once
  const cost = statementsCost(statements, t.bytes)
  const perBatchMs = m.loadJobMs + m.mergeMs
  // load jobs go to the worker's (or run's) staging table, rotated before the per-table quota; the target gets none
  const stagingTables = batches === 0 ? 0 : Math.ceil(batches / m.loadJobsPerStagingTable)
  const quotas: QuotaUse[] = [
    {
      quota: 'load jobs per table',
      used: Math.min(batches, m.loadJobsPerStagingTable),
      limit: LOAD_JOBS_PER_TABLE_PER_DAY,
      per: `per staging table (${count(stagingTables)} ${t.window === 'day' ? 'a day' : 'for this run'}, each dropped after ${count(m.loadJobsPerStagingTable)} load jobs; the target table gets none)`,
      holds: true,
    },
  ]
  const notes: string[] = []
  if (t.window === 'day') {
    const interval = m.maxLatencyMs ?? DAY_MS
    const perInterval = (batches * interval) / DAY_MS
    quotas.push(
      {quota: 'load jobs per project', used: batches, limit: LOAD_JOBS_PER_PROJECT_PER_DAY, per: 'per project per day (this worker and table; every other one adds its own)', holds: batches <= LOAD_JOBS_PER_PROJECT_PER_DAY},
      {
        quota: 'merge chain',
        used: Math.round(perInterval * perBatchMs),
        limit: interval,
        per: `ms of load and merge per ${formatDuration(interval)} interval (one batch after another; assumed ${m.loadJobMs / 1000} s + ${m.mergeMs / 1000} s a batch)`,
        holds: perInterval * perBatchMs <= interval,
      },
    )
    const workers = Math.floor((MUTATING_DML_RUNNING_PER_TABLE * interval) / (Math.max(1, perInterval) * m.mergeMs))
    notes.push(`Every batch merges into the dataset's one ledger table (${MUTATING_DML_RUNNING_PER_TABLE} mutating statements run at once per table): about ${count(workers)} workers like this one, over all tables of the dataset, keep it busy; more queue their merges.`)
  } else {
    quotas.push({quota: 'load jobs per project', used: batches, limit: LOAD_JOBS_PER_PROJECT_PER_DAY, per: 'per project per day, if the run takes a day or less', holds: batches <= LOAD_JOBS_PER_PROJECT_PER_DAY})
    notes.push(`Load jobs and merges run one batch after another: about ${count(Math.ceil((batches * perBatchMs) / 60_000))} min of BigQuery job time for this run (assumed ${m.loadJobMs / 1000} s + ${m.mergeMs / 1000} s a batch), on top of reading and staging.`)
  }
  return {
    method: 'load-jobs',
    loadJobs: batches,
    stagingTables,
    merges: batches,
    billedStatements: statements,
    ...cost,
    writeApiBytes: 0,
    writeApiBytesPerMonth: 0,
    writeApiUsdPerMonth: 0,
    createWriteStreamCalls: 0,
    createWriteStreamPerHour: 0,
    latency: m.maxLatencyMs === undefined ? `minutes (batches of ${count(m.maxObjectsPerJob)})` : `up to ${Math.round((m.maxLatencyMs + perBatchMs) / 1000)} s (--max-latency + load + merge)`,
    quotas,
    notes,
  }
}

function formatObjects(n: number): string {
  return n >= 10 ? count(Math.round(n)) : n.toFixed(1)
}

function writeApiFigures(t: Traffic, m: WriteApiModel): LoadMethodFigures {
  const {streams, perHour} = writeStreamsFor(t, m)
  const lookups = lookupsFor(t, m, streams)
  // look-ups read the ledger, not the rows: each bills its 10 MiB minimum
  const cost = statementsCost(lookups, 0)
  const perMonth = t.window === 'day' ? t.bytes * DAYS_PER_MONTH : t.bytes
  const usdPerMonth = Number(((Math.max(0, perMonth - WRITE_API_FREE_BYTES_PER_MONTH) / GIB) * WRITE_API_USD_PER_GIB).toFixed(2))
  const objectsPerStream = streams === 0 ? 0 : t.objects / streams
  const budget = Number.isFinite(m.streamsPerHour) ? ` (its budget: ${count(m.streamsPerHour)} an hour per worker)` : ''
  const quotas: QuotaUse[] = [
    {
      quota: 'CreateWriteStream',
      used: perHour,
      limit: CREATE_WRITE_STREAM_PER_HOUR,
      per: `calls per hour per project and region for this worker${budget}; every worker and shard of the project adds its own`,
      holds: t.window === 'day' ? perHour <= CREATE_WRITE_STREAM_PER_HOUR : true,
      note: t.window === 'run' && streams > CREATE_WRITE_STREAM_PER_HOUR ? `${count(streams)} streams take at least ${count(Math.ceil(streams / CREATE_WRITE_STREAM_PER_HOUR))} h at the quota, whatever the shards` : undefined,
    },
    {quota: 'Write API free tier', used: perMonth, limit: WRITE_API_FREE_BYTES_PER_MONTH, per: 'bytes per month', holds: perMonth <= WRITE_API_FREE_BYTES_PER_MONTH, note: perMonth > WRITE_API_FREE_BYTES_PER_MONTH ? `then $${WRITE_API_USD_PER_GIB}/GiB` : undefined},
  ]
  return {
    method: 'write-api',
    loadJobs: 0,
    stagingTables: 0,
    merges: 0,
    billedStatements: lookups,
    ...cost,
    writeApiBytes: t.bytes,
    writeApiBytesPerMonth: perMonth,
    writeApiUsdPerMonth: usdPerMonth,
    createWriteStreamCalls: streams,
    createWriteStreamPerHour: perHour,
    latency: inLane(t, m) ? 'under a second to seconds (committed lane)' : objectsPerStream > 1.05 ? `seconds (about ${formatObjects(objectsPerStream)} objects a stream)` : 'seconds',
    quotas,
    notes: [
      ...(t.window === 'run' ? ['Write API bytes count the objects as stored: compressed objects ingest their uncompressed size, several times more.'] : []),
      `${inLane(t, m) ? `Assumes objects go through the committed lane (${LANE_STREAMS} committed-type streams kept per worker and table; a group with rejected lines or over ${formatBytes(LANE_REQUEST_BYTES)} takes a pending stream of its own)` : `Assumes objects share pending streams (up to ${count(m.objectsPerStream)} a stream${budget}; one more stream per group with rejected lines)`}, ledger and reject rows appended (no DML for new objects) and ${t.window === 'day' ? lookupRounds(t, m) : LOOKUPS_PER_GROUP} ledger look-up rounds per group of objects${t.window === 'day' ? `, at most one statement per ${m.lookupEveryMs / 1000} s (SENEKA_WRITE_LOOKUP_INTERVAL_MS)` : ''}.`,
    ],
  }
}


/** How BigQuery loads objects: Storage Write API pending streams, or GCS staging files and load jobs. */
export type LoadMethod = 'write-api' | 'load-jobs'

/** The quotas a method's figures break (the free tier is a price step, not a quota). */
const exceeded = (f: LoadMethodFigures) => f.quotas.filter((q) => !q.holds && q.quota !== 'Write API free tier')
export function compareLoadMethods(traffic: Traffic, loadJobs: LoadJobsModel, writeApi: WriteApiModel = traffic.window === 'run' ? WRITE_API_BULK_DEFAULTS : WRITE_API_DEFAULTS): LoadMethodComparison {
  const lj = loadJobsFigures(traffic, loadJobs)
  const wa = writeApiFigures(traffic, writeApi)
  const broken = (f: LoadMethodFigures) => exceeded(f).map((q) => q.quota)
  const ljUsd = lj.queryUsd * (traffic.window === 'day' ? DAYS_PER_MONTH : 1)
  const waUsd = wa.queryUsd * (traffic.window === 'day' ? DAYS_PER_MONTH : 1) + wa.writeApiUsdPerMonth
  const [bl, bw] = [broken(lj).join(' and '), broken(wa).join(' and ')]
  let advice: string
  if (bl && bw) advice = `neither as modelled: the load-jobs path breaks ${bl}, the Write API path ${bw} (group more objects per stream).`
  else if (bl) advice = `write-api: the load-jobs path breaks ${bl}.`
  else if (bw) advice = `load-jobs: the Write API path breaks ${bw} (group more objects per stream).`
  else if (waUsd <= ljUsd) advice = `write-api: seconds instead of minutes, no merges, and no dearer (about $${waUsd.toFixed(2)} against $${ljUsd.toFixed(2)}${traffic.window === 'day' ? ' a month' : ''}).`
  else advice = `load-jobs if cost matters most (about $${ljUsd.toFixed(2)} against $${waUsd.toFixed(2)}${traffic.window === 'day' ? ' a month' : ''}); write-api for seconds of latency and no merges${traffic.window === 'day' ? ` (its look-ups are most of its cost: SENEKA_WRITE_LOOKUP_INTERVAL_MS=1000 caps them at one a second, 86,400 a day, for about a second more per object)` : ''}.`
  return {
    traffic,
    loadJobs,
    writeApi,
    prices: {queryUsdPerTiB: ON_DEMAND_USD_PER_TIB, writeApiUsdPerGiB: WRITE_API_USD_PER_GIB, writeApiFreeBytesPerMonth: WRITE_API_FREE_BYTES_PER_MONTH, writeApiPriceSource: 'per-GiB price: a third-party pricing page, not confirmed on a Google page; free tier: Google, Storage Write API introduction'},
    methods: [lj, wa],
    advice,
  }
}

function quotaCell(f: LoadMethodFigures): string {
  const broken = exceeded(f)
  return broken.length === 0 ? 'hold' : `EXCEEDED: ${broken.map((q) => q.quota).join(', ')}`
}

/** The comparison as a table (one column per method) with the quotas, the notes and the advice under it. */
export function renderLoadMethods(c: LoadMethodComparison): string {
  const [lj, wa] = c.methods
  const when = c.traffic.window === 'day' ? 'a day' : 'this run'
  const usd = (n: number) => formatUsd(n)
  const row = (what: string, f: (m: LoadMethodFigures) => string) => ({what, 'load-jobs': f(lj), 'write-api': f(wa)})
  const rows = [
    row(`Load jobs ${when}`, (m) => (m.method === 'load-jobs' ? `${count(m.loadJobs)} (${plural(m.stagingTables, 'staging table')}, ${count(LOAD_JOBS_PER_TABLE_PER_DAY)} a day each)` : '0')),
    row(`Merges ${when}`, (m) => count(m.merges)),
    row(`Billed statements ${when}`, (m) => count(m.billedStatements)),
    row(`Billed bytes ${when}, at least`, (m) => `${formatBytes(m.billedBytes)} (${usd(m.queryUsd)})`),
    row(`Write API bytes ${when}`, (m) => (m.method === 'write-api' ? formatBytes(m.writeApiBytes) : '0')),
    row('Write API a month', (m) =>
      m.method === 'write-api' ? `${formatBytes(m.writeApiBytesPerMonth)}: ${m.writeApiUsdPerMonth > 0 ? `${usd(m.writeApiUsdPerMonth)} beyond the free 2 TiB` : 'within the free 2 TiB'}` : '0',
    ),
    row(c.traffic.window === 'day' ? 'CreateWriteStream an hour' : 'CreateWriteStream calls', (m) => {
      if (m.method !== 'write-api') return '0'
      if (c.traffic.window === 'day') return `${count(m.createWriteStreamPerHour)} (quota ${count(CREATE_WRITE_STREAM_PER_HOUR)})`
      return `${count(m.createWriteStreamCalls)} (${count(CREATE_WRITE_STREAM_PER_HOUR)} an hour: ${count(Math.max(1, Math.ceil(m.createWriteStreamCalls / CREATE_WRITE_STREAM_PER_HOUR)))} h or more)`
    }),
    row('Quotas', quotaCell),
    row('Latency', (m) => m.latency),
  ]
  const lines = [
    renderBlock(rows, [
      {key: 'what', name: ''},
      {key: 'load-jobs', name: 'load-jobs'},
      {key: 'write-api', name: 'write-api'},
    ], `BigQuery load methods, ${c.traffic.basis}:`),
  ]
  for (const m of c.methods) for (const q of exceeded(m)) lines.push(`  ${m.method}: ${q.quota} exceeded: ${count(q.used)} against ${count(q.limit)} ${q.per}.`)
  for (const m of c.methods) for (const n of m.notes) lines.push(`  ${m.method}: ${n}`)
  lines.push(`  Prices: queries $${c.prices.queryUsdPerTiB}/TiB on demand, at least 10 MiB each; Write API free 2 TiB a month, then $${c.prices.writeApiUsdPerGiB}/GiB (a figure not confirmed on a Google page).`)
  lines.push(`  Suggested load method: ${c.advice}`)
  return lines.join('\n')
}
