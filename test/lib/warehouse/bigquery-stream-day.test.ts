import {Readable} from 'node:stream'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {dayTraffic} from '../../../src/lib/cost/load-methods.js'
import {albLine, prng} from '../../../src/lib/demo/alb-generator.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {ObjectParseReport} from '../../../src/lib/loader/parse-report.js'
import {newCounters} from '../../../src/lib/loader/read-object.js'
import {DAILY_LOAD_JOBS_PER_TABLE} from '../../../src/lib/warehouse/bigquery/sql.js'
import {BigQueryLoader, DEFAULT_STREAM_MAX_LATENCY_MS, type LoaderClock} from '../../../src/lib/warehouse/bigquery/loader.js'
import {BigQueryWarehouse} from '../../../src/lib/warehouse/bigquery/warehouse.js'
import type {ObjectLoadOutcome, ObjectLoadRequest} from '../../../src/lib/warehouse/types.js'
import {type GcpDouble, scriptStatements, startGcpDouble} from '../../helpers/gcp-doubles.js'

/**
 * A stream worker on BigQuery for a whole day, time accelerated: a simulated clock drives the loader's
 * flush timers, every load job and merge really goes to the BigQuery double. BigQuery's per-table daily
 * quotas: 1,500 load jobs per table (failed ones included), 30,000 partition modifications per
 * column-partitioned table (DML included).
 */
const PARTITION_MODIFICATIONS_PER_DAY = 30_000

class SimClock implements LoaderClock {
  t = Date.UTC(2024, 4, 1)
  private seq = 0
  private timers = new Map<number, {at: number; fn: () => void}>()
  now(): number {
    return this.t
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq
    this.timers.set(id, {at: this.t + ms, fn})
    return id
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number)
  }
  /** timers set and not yet fired */
  get waiting(): number {
    return this.timers.size
  }
  /** Moves time to `to`, firing every timer due on the way, in order. */
  advanceTo(to: number): void {
    for (;;) {
      const next = [...this.timers.entries()].sort((a, b) => a[1].at - b[1].at)[0]
      if (!next || next[1].at > to) break
      this.timers.delete(next[0])
      this.t = next[1].at
      next[1].fn()
    }
    this.t = to
  }
}

const ALB = getFormat('alb')
const rand = prng(7)

function request(node: number, at: number, loadId: string, open?: () => Promise<Readable>): ObjectLoadRequest {
  const key = `AWSLogs/1/elasticloadbalancing/eu-west-1/2024/05/01/node${node}_${at}.log`
  const text = [0, 1].map((i) => albLine(rand, at + i * 1000, {account: '1', region: 'eu-west-1', lb: `app/lb${node}/x`})).join('\n') + '\n'
  const uri = `s3://logs/${key}`
  return {
    table: 'alb_logs',
    format: ALB,
    object: {uri, key, size: text.length, etag: `e${node}_${at}`, lastModified: new Date(at)},
    loadId,
    path: 'stream',
    open: open ?? (async () => Readable.from([Buffer.from(text)])),
    report: new ObjectParseReport(uri, ALB, newCounters(), {keep: 20, rule: true}),
  }
}

let g: GcpDouble
beforeAll(async () => {
  g = await startGcpDouble()
  g.pollsUntilDone = 0
})
afterAll(() => g.close())
afterEach(() => {
  g.tables.clear()
  g.objects.clear()
  g.requests.length = 0
})

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 1))
}

/** Arrivals: `nodes` load balancer nodes each deliver one object every `everyMs`, for `durationMs`. */
async function simulate(opts: {nodes: number; everyMs: number; durationMs: number; maxLatencyMs: number; loadJobsPerStagingTable?: number; loseRepliesAt?: number}) {
  const clock = new SimClock()
  const start = clock.t
  const wh = new BigQueryWarehouse({
    project: 'p',
    dataset: 'logs',
    location: 'EU',
    staging: 'gs://stage/seneka',
    apiEndpoint: g.endpoint,
    gcsEndpoint: g.endpoint,
    retryBaseDelayMs: 1,
    pollIntervalMs: 1,
    loader: {clock, maxLatencyMs: opts.maxLatencyMs, ...(opts.loadJobsPerStagingTable ? {loadJobsPerStagingTable: opts.loadJobsPerStagingTable} : {})},
  })
  await wh.ensureTable('alb_logs', ALB)
  const loader = await wh.openLoader({concurrency: 8})
  const loads: Array<Promise<ObjectLoadOutcome>> = []
  let tick = 0
  for (let t = start; t < start + opts.durationMs; t += opts.everyMs, tick++) {
    clock.advanceTo(t)
    if (tick === opts.loseRepliesAt) g.loseMergeReplies = 2
    for (let n = 0; n < opts.nodes; n++) loads.push(loader.load(request(n, t, 'stream-day')))
    // every object of this tick is staged and in a batch before time moves on (its batch's deadline runs from the
    // simulated time it joined: on a busy machine an upload answered after the clock moved shifted every batch)
    await until(() => (loader as BigQueryLoader).batched >= loads.length)
  }
  // the last objects join a batch once staged: keep time moving until every load is committed
  let settled = false
  const all = Promise.all(loads).finally(() => (settled = true))
  while (!settled) {
    clock.advanceTo(clock.t + opts.maxLatencyMs)
    await Promise.race([all, new Promise((r) => setTimeout(r, 20))])
  }
  const outcomes = await all
  await loader.close()
  return {outcomes, objects: loads.length}
}

function perTableLoadJobs(): Map<string, number> {
  const out = new Map<string, number>()
  for (const j of g.jobs('load')) {
    const t = j.configuration.load.destinationTable.tableId
    out.set(t, (out.get(t) ?? 0) + 1)
  }
  return out
}

describe('stream on BigQuery for a day (simulated clock, real client against the double)', () => {
  it('ALB from 6 nodes every 5 minutes with --max-latency 10m: one batch per interval, every quota far off, exactly once under lost replies', async () => {
    const day = 86_400_000
    const {outcomes, objects} = await simulate({nodes: 6, everyMs: 300_000, durationMs: day, maxLatencyMs: 600_000, loseRepliesAt: 100})
    expect(objects).toBe(1728)
    expect(outcomes.every((o) => o.status === 'loaded')).toBe(true)
    // exactly once: every object's two rows and one ledger entry, though two merge replies were lost
    expect(g.tables.get('logs.alb_logs')!.rows).toHaveLength(2 * objects)
    expect(new Set(g.tables.get('logs.alb_logs')!.rows.map((r) => `${r._source_uri}#${r._line}`)).size).toBe(2 * objects)
    expect(g.tables.get('logs._seneka_ledger')!.rows).toHaveLength(objects)
    const plan = BigQueryLoader.streamDay({maxLatencyMs: 600_000})
    expect(plan.batchesPerDay).toBe(144)
    // batches: one per interval (+1 for the last one)
    const loads = g.jobs('load')
    expect(loads.length).toBeLessThanOrEqual(plan.batchesPerDay + 1)
    expect(loads.length).toBeGreaterThanOrEqual(plan.batchesPerDay - 1)
    for (const n of perTableLoadJobs().values()) expect(n).toBeLessThan(DAILY_LOAD_JOBS_PER_TABLE)
    // merge transactions modify at most 2 partitions of the target each (rows of one day, plus a late one)
    const merges = g.jobs('query').filter((j) => String(j.configuration.query.query).startsWith('BEGIN TRANSACTION'))
    expect(merges.length).toBeLessThanOrEqual(loads.length + 2)
    expect(merges.length * 2).toBeLessThan(PARTITION_MODIFICATIONS_PER_DAY)
    // billed statements per day: what the plan printed at start, plus the two merges retried after a lost reply
    const billed = g.jobs('query').reduce((n, j) => n + scriptStatements(String(j.configuration.query.query)).filter((s) => !/^(BEGIN|COMMIT) TRANSACTION$/.test(s)).length, 0)
    expect(billed).toBeLessThanOrEqual(plan.statementsPerDay + 3 * (plan.statementsPerDay / plan.batchesPerDay))
    // staged files are all gone, the staging table too
    expect([...g.objects.keys()].filter((k) => k.startsWith('stage/'))).toEqual([])
    expect([...g.tables.keys()].some((k) => k.includes('_seneka_stg_'))).toBe(false)
  }, 300_000)

  it('a flush interval too short for the quota rotates staging tables before any reaches its load-job budget', async () => {
    // two hours at a 30 s interval (2,880 batches a day: above 1,500); a budget of 100 per table shows the rotation
    const {outcomes, objects} = await simulate({nodes: 2, everyMs: 30_000, durationMs: 2 * 3_600_000, maxLatencyMs: 30_000, loadJobsPerStagingTable: 100})
    expect(outcomes.every((o) => o.status === 'loaded')).toBe(true)
    expect(g.tables.get('logs.alb_logs')!.rows).toHaveLength(2 * objects)
    const per = perTableLoadJobs()
    expect(g.jobs('load').length).toBeGreaterThan(200)
    expect(per.size).toBe(Math.ceil(g.jobs('load').length / 100))
    for (const n of per.values()) expect(n).toBeLessThanOrEqual(100)
    expect([...per.keys()].slice(1).every((k) => /_\d+$/.test(k))).toBe(true)
    expect(BigQueryLoader.streamDay({maxLatencyMs: 30_000}).stagingTablesPerDay).toBe(3)
  }, 300_000)

  it('says at start what a day will use: load jobs, merges, least bytes and cost, rotation', () => {
    const wh = new BigQueryWarehouse({project: 'p', dataset: 'logs', loadMethod: 'load-jobs', loader: {maxLatencyMs: DEFAULT_STREAM_MAX_LATENCY_MS}})
    const [jobs, cost] = wh.describeStreaming()
    expect(jobs).toBe('BigQuery: a batch commits when full (1,000 objects) or 2m00s after its first object (--max-latency): at most 720 load jobs and 720 merge transactions a day per table below 1,000 objects per 2m00s.')
    expect(cost).toMatch(/^BigQuery: at least 35\.2 GiB billed a day \(3,600 statements of at least 10 MB; about \$0\.21 at \$6\.25\/TiB\), plus the staged rows read once\. Quota: 1,500 load jobs per table per day; staging tables rotate before it \(1 a day\)\.$/)
    // a backfill (no --max-latency) prints nothing of the kind
    expect(new BigQueryWarehouse({project: 'p', dataset: 'logs'}).describeStreaming()).toEqual([])
  })

  it('on the Write API it says so: no load jobs, no merges, the ledger look-ups bounded per hour', () => {
    const wh = new BigQueryWarehouse({project: 'p', dataset: 'logs', loadMethod: 'write-api', loader: {maxLatencyMs: DEFAULT_STREAM_MAX_LATENCY_MS}})
    expect(wh.describeStreaming()).toEqual([
      "BigQuery: objects commit in groups through the Storage Write API (small groups through 8 committed-type streams kept per table, visible in one append; other groups in PENDING streams shared by up to 100 objects, at most 3,000 CreateWriteStream calls an hour per worker against the project's 10,000: SENEKA_WRITE_STREAMS_PER_HOUR): no load jobs, no merges, no DML for new objects.",
      'BigQuery: at most 14,400 ledger look-ups an hour per table (one per 250ms, each for every object waiting: SENEKA_WRITE_LOOKUP_INTERVAL_MS trades latency for fewer), each billed at least 10 MB: at most 3.3 TiB a day (about $20.60 at $6.25/TiB on demand; no bytes billed under slot reservations), plus 2 DELETEs per replaced object. Write API bytes: free up to 2 TiB a month.',
    ])
  })

  it('a slower look-up pace (SENEKA_WRITE_LOOKUP_INTERVAL_MS) bills fewer statements, and says so', () => {
    const before = process.env.SENEKA_WRITE_LOOKUP_INTERVAL_MS
    process.env.SENEKA_WRITE_LOOKUP_INTERVAL_MS = '1000'
    try {
      const wh = new BigQueryWarehouse({project: 'p', dataset: 'logs', loadMethod: 'write-api', loader: {maxLatencyMs: DEFAULT_STREAM_MAX_LATENCY_MS}})
      expect(wh.describeStreaming()[1]).toMatch(/^BigQuery: at most 3,600 ledger look-ups an hour per table \(one per 1\.0s, .*at most 843\.8 GiB a day \(about \$5\.15 /)
      expect(wh.compareLoadMethods(dayTraffic(100, 1024 ** 2, false)).methods[1].billedStatements).toBe(86_400)
      process.env.SENEKA_WRITE_LOOKUP_INTERVAL_MS = '0.5'
      expect(() => wh.describeStreaming()).toThrow(/SENEKA_WRITE_LOOKUP_INTERVAL_MS must be a positive whole number/)
    } finally {
      if (before === undefined) delete process.env.SENEKA_WRITE_LOOKUP_INTERVAL_MS
      else process.env.SENEKA_WRITE_LOOKUP_INTERVAL_MS = before
    }
  })
})

describe('stream on BigQuery that does not keep up', () => {
  it('says so when a batch waits longer than --max-latency behind the load jobs and merges before it', async () => {
    const clock = new SimClock()
    const warnings: string[] = []
    const wh = new BigQueryWarehouse({project: 'p', dataset: 'logs', location: 'EU', staging: 'gs://stage/seneka', apiEndpoint: g.endpoint, gcsEndpoint: g.endpoint, retryBaseDelayMs: 1, pollIntervalMs: 1, onWarning: (m) => warnings.push(m), loader: {clock, maxLatencyMs: 60_000}})
    await wh.ensureTable('alb_logs', ALB)
    // the first batch's ledger check is held: its merge chain is still busy when the second batch is due
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    const runQuery = wh.runQuery.bind(wh)
    wh.runQuery = async (sql, params, label, session) => {
      if (label === 'ledger check (batch 1)') await held
      return runQuery(sql, params, label, session)
    }
    const loader = await wh.openLoader({concurrency: 2})
    const uploads = () => g.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/upload/')).length
    const first = loader.load(request(0, clock.t, 'slow'))
    // staged and in a batch: its --max-latency timer is set
    await until(() => uploads() >= 1 && clock.waiting === 1)
    clock.advanceTo(clock.t + 60_000) // batch 1 is due and starts; it waits on its ledger check
    const second = loader.load(request(1, clock.t, 'slow'))
    await until(() => uploads() >= 2 && clock.waiting === 1)
    clock.advanceTo(clock.t + 180_000) // batch 2 is due after 60 s, and waits 120 s more behind batch 1
    expect(warnings).toEqual([])
    release()
    expect(await Promise.all([first, second])).toEqual([
      {status: 'loaded', rows: 2, rejected: 0},
      {status: 'loaded', rows: 2, rejected: 0},
    ])
    expect(warnings).toEqual([
      'BigQuery batches are queueing: batch 2 waited 2m00s for the load jobs and merges before it, longer than --max-latency 1m00s, so latency grows while this lasts; raise --max-latency, run fewer workers on this dataset, or load with the Storage Write API (--load-method write-api).',
    ])
    await loader.close()
  })
})

describe('BigQuery loader batches (backfill: committed after a short linger once nothing is staging)', () => {
  it('commits the batch when the last object being staged fails to read: the others never wait for ever', async () => {
    const wh = new BigQueryWarehouse({project: 'p', dataset: 'logs', location: 'EU', staging: 'gs://stage/seneka', apiEndpoint: g.endpoint, gcsEndpoint: g.endpoint, retryBaseDelayMs: 1, pollIntervalMs: 1, loader: {lingerMs: 5}})
    await wh.ensureTable('alb_logs', ALB)
    const loader = await wh.openLoader({concurrency: 4})
    const at = Date.UTC(2024, 4, 1)
    // the first object stages at once; the second is still reading when the first joins the batch, then fails
    const good = loader.load(request(0, at, 'bf-1'))
    const bad = loader.load(request(1, at, 'bf-1', async () => {
      await new Promise((r) => setTimeout(r, 100))
      throw Object.assign(new Error('read failed'), {code: 'ECONNRESET'})
    }))
    await expect(bad).rejects.toThrow('read failed')
    const settled = await Promise.race([good, new Promise((r) => setTimeout(() => r('still waiting after 5 s'), 5000))])
    expect(settled).toEqual({status: 'loaded', rows: 2, rejected: 0})
    expect(g.tables.get('logs.alb_logs')!.rows).toHaveLength(2)
    await loader.close()
  })
})
