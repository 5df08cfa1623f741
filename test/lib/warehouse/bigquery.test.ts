import path from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {runBackfill, type BackfillOptions} from '../../../src/lib/backfill/run.js'
import {renderLoadEstimate, renderSummary} from '../../../src/lib/backfill/render.js'
import {DEFAULT_MAX_BYTES_BILLED, parseBytes, type QueryEstimate} from '../../../src/lib/cost/bigquery.js'
import {UserError} from '../../../src/lib/errors.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {BigQueryWarehouse} from '../../../src/lib/warehouse/bigquery/warehouse.js'
import {type BigQuerySettings, openWarehouse} from '../../../src/lib/warehouse/index.js'
import {albFixture, PREFIX} from '../../helpers/alb-fixtures.js'
import {type GcpDouble, scriptStatements, startGcpDouble} from '../../helpers/gcp-doubles.js'
import {tempDir} from '../../helpers/tmp.js'

let g: GcpDouble
beforeAll(async () => {
  g = await startGcpDouble()
})
afterAll(() => g.close())
afterEach(() => {
  g.tables.clear()
  g.objects.clear()
  g.requests.length = 0
  g.onQuery = undefined
  g.bytesFor = () => 1_000_000
  g.pollsUntilDone = 1
})

function settings(extra: Partial<BigQuerySettings['overrides']> = {}): BigQuerySettings {
  return {
    staging: 'gs://stage-bucket/seneka/tmp',
    location: 'EU',
    apiEndpoint: g.endpoint,
    gcsEndpoint: g.endpoint,
    overrides: {retryBaseDelayMs: 1, pollIntervalMs: 2, loader: {maxObjectsPerJob: 4, lingerMs: 5}, ...extra},
  }
}

async function open(extra: Partial<BigQuerySettings['overrides']> = {}, readOnly = false): Promise<BigQueryWarehouse> {
  return (await openWarehouse('bigquery://test-project/logs', {readOnly, bigquery: settings(extra)})) as BigQueryWarehouse
}

describe('BigQuery warehouse: queries (real @google-cloud/bigquery client against a REST double)', () => {
  it('dry-runs every query first, then sends it with named parameters and maximumBytesBilled', async () => {
    const wh = await open()
    g.onQuery = () => ({fields: [{name: 'n', type: 'INTEGER'}, {name: 't', type: 'TIMESTAMP'}], rows: [{n: 42, t: 1714521600000000}]})
    const since = new Date('2024-05-01T00:00:00Z')
    const rows = await wh.query(
      `SELECT COUNT(*) AS n, MIN(event_time) AS t FROM ${wh.dialect.table('alb_logs')} WHERE event_time >= ${wh.dialect.timestampParam('since')} AND elb = ${wh.dialect.param('elb')}`,
      {since, elb: 'app/x'},
    )
    expect(rows).toEqual([{n: 42, t: since}])
    const [dry] = g.jobs('dry')
    const [real] = g.jobs('query')
    expect(dry.configuration.dryRun).toBe(true)
    expect(real.configuration.query.maximumBytesBilled).toBe(String(DEFAULT_MAX_BYTES_BILLED))
    expect(real.configuration.query.useLegacySql).toBe(false)
    expect(real.configuration.query.parameterMode).toBe('NAMED')
    expect(real.configuration.query.queryParameters).toEqual([
      {name: 'since', parameterType: {type: 'TIMESTAMP'}, parameterValue: {value: '2024-05-01 00:00:00.000+00:00'}},
      {name: 'elb', parameterType: {type: 'STRING'}, parameterValue: {value: 'app/x'}},
    ])
    expect(real.configuration.query.query).toContain('`test-project.logs.alb_logs`')
    expect(real.jobReference.location).toBe('EU')
    expect(wh.estimates).toHaveLength(1)
    expect(wh.estimates[0].bytesProcessed).toBe(1_000_000)
    expect(wh.estimates[0].bytesBilledEstimate).toBe(10 * 1024 * 1024) // 10 MB minimum
  })

  it('refuses a query estimated above --max-bytes-billed and runs nothing billable', async () => {
    const wh = await open({maxBytesBilled: parseBytes('20GiB')})
    g.bytesFor = () => 3 * 1024 ** 4
    const err = await wh.query('SELECT 1 AS x FROM `test-project.logs.alb_logs`').catch((e) => e)
    expect(err).toBeInstanceOf(UserError)
    expect(err.message).toBe('The query would process 3.0 TiB, over the --max-bytes-billed cap of 20.0 GiB; nothing was run or billed.')
    expect(err.suggestion).toMatch(/about \$18\.75 at \$6\.25\/TiB/)
    expect(g.jobs('query')).toHaveLength(0)
  })

  it('estimate() is a dry run only', async () => {
    const wh = await open()
    g.bytesFor = () => 5 * 1024 ** 3
    const e = await wh.estimate('SELECT 1 AS x')
    expect(e.bytesProcessed).toBe(5 * 1024 ** 3)
    expect(e.usd).toBeCloseTo((5 / 1024) * 6.25, 5)
    expect(g.jobs('query')).toHaveLength(0)
    expect(g.jobs('dry')).toHaveLength(1)
  })

  it('warns when a time-ranged query has no partition (event_time) filter', async () => {
    const warnings: string[] = []
    const wh = await open({onWarning: (m: string) => warnings.push(m)})
    await wh.query('SELECT COUNT(*) AS n FROM `test-project.logs.alb_logs` WHERE _ingested_at >= @since', {since: new Date(0)})
    expect(warnings).toEqual(['A query with a time range has no event_time filter: it reads every partition of the table.'])
    await wh.query('SELECT COUNT(*) AS n FROM `test-project.logs.alb_logs` WHERE event_time >= @since', {since: new Date(0)})
    expect(warnings).toHaveLength(1)
  })

  it('retries 429 and 503 on job insert and polls until DONE', async () => {
    const wh = await open()
    g.pollsUntilDone = 3
    g.fail({match: (r) => r.method === 'POST' && r.path.endsWith('/jobs') && !r.body?.configuration?.dryRun, status: 429})
    g.fail({match: (r) => r.method === 'POST' && r.path.endsWith('/jobs') && !r.body?.configuration?.dryRun, status: 503})
    g.onQuery = () => ({fields: [{name: 'x', type: 'INTEGER'}], rows: [{x: 1}]})
    expect(await wh.query('SELECT 1 AS x')).toEqual([{x: 1}])
    const inserts = g.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/jobs') && !r.body.configuration.dryRun)
    expect(inserts).toHaveLength(3)
    // the same job id on every attempt: a lost reply cannot start a second job
    expect(new Set(inserts.map((r) => r.body.jobReference.jobId)).size).toBe(1)
    expect(g.requests.filter((r) => r.method === 'GET' && /\/jobs\/seneka_query/.test(r.path)).length).toBe(3)
  })

  it('gives up waiting for a job after the timeout with a clear sentence', async () => {
    const wh = await open({jobTimeoutMs: 30})
    g.pollsUntilDone = 1_000_000
    const err = await wh.query('SELECT 1 AS x').catch((e) => e)
    expect(err).toBeInstanceOf(UserError)
    expect(err.message).toMatch(/^The BigQuery query job seneka_query_\S+ did not finish within 0 s\.$/)
  })

  it('names the missing permission when access is denied', async () => {
    const wh = await open()
    g.fail({match: (r) => r.method === 'POST' && r.path.endsWith('/jobs'), status: 403, reason: "Access Denied: Project test-project: User does not have bigquery.jobs.create permission in project test-project."})
    const err = await wh.query('SELECT 1 AS x').catch((e) => e)
    expect(err).toBeInstanceOf(UserError)
    expect(err.message).toBe('Permission bigquery.jobs.create is missing to estimate a query (dry run).')
    expect(err.suggestion).toContain('roles/bigquery.jobUser')
  })

  it('creates day-partitioned, clustered tables from the format through the tables API (no query)', async () => {
    const wh = await open()
    await wh.ensureTable('alb_logs', getFormat('alb'))
    const t = g.tables.get('logs.alb_logs')!.metadata
    expect(t.timePartitioning).toEqual({type: 'DAY', field: 'event_time'})
    expect(t.clustering).toEqual({fields: ['_source_uri']})
    const fields = t.schema.fields.map((f: {name: string; type: string}) => `${f.name}:${f.type}`)
    expect(fields).toContain('event_time:TIMESTAMP')
    expect(fields).toContain('_line:INT64')
    expect(fields.slice(-2)).toEqual(['_load_path:STRING', '_gcs_created_at:TIMESTAMP'])
    expect(g.tables.has('logs._seneka_ledger')).toBe(true)
    expect(g.jobs()).toHaveLength(0)
    expect(await wh.tableColumns('alb_logs')).toContainEqual({name: 'event_time', type: 'timestamp'})
    expect(await wh.tableExists('nope')).toBe(false)
  })
})

describe('BigQuery warehouse: backfill through GCS staging, load jobs and ledger-keyed merges', () => {
  function setup(opts: Parameters<typeof albFixture>[0] = {}) {
    const dir = tempDir()
    const fx = albFixture({...opts, dir})
    const base: BackfillOptions = {
      sources: [path.join(dir, PREFIX)],
      format: getFormat('alb'),
      warehouse: 'bigquery://test-project/logs',
      table: 'alb_logs',
      range: {},
      concurrency: 3,
      dryRun: false,
      retries: 3,
      bigquery: settings(),
    }
    return {fx, base}
  }

  it('dry run: prints load jobs and cost, creates nothing and runs no query', async () => {
    const {fx, base} = setup()
    const r = await runBackfill({...base, dryRun: true})
    expect(r.loadEstimate?.loadJobs).toBe(Math.ceil(fx.files.length / 4))
    expect(r.loadEstimate?.dailyLoadJobLimit).toBe(1500)
    const text = renderLoadEstimate(r.loadEstimate!)
    expect(text).toContain(`Warehouse jobs: ${Math.ceil(fx.files.length / 4)} load jobs (up to 4 objects each; limit 1,500 per table per day)`)
    expect(text).toMatch(/Estimated BigQuery cost of the load: .* billed, about .* on demand \(load jobs are free\)\./)
    // both load methods side by side, for the objects of the plan
    const [lj, wa] = r.loadMethods!.methods
    expect(r.loadMethods!.traffic).toMatchObject({window: 'run', objects: fx.files.length, bytes: r.plan.totals.bytesToRead})
    expect(lj).toMatchObject({method: 'load-jobs', loadJobs: Math.ceil(fx.files.length / 4), merges: Math.ceil(fx.files.length / 4), createWriteStreamCalls: 0, writeApiBytes: 0})
    expect(wa).toMatchObject({method: 'write-api', loadJobs: 0, merges: 0, createWriteStreamCalls: Math.ceil(fx.files.length / 250), writeApiBytes: r.plan.totals.bytesToRead, writeApiUsdPerMonth: 0})
    const summary = renderSummary(r)
    expect(summary).toMatch(/BigQuery load methods, this run \(\d+ objects, .* as stored\):\n\n +load-jobs +write-api\n/)
    // objects share streams: a backfill's groups hold up to 250 objects (was one stream per object)
    expect(summary).toMatch(new RegExp(`CreateWriteStream calls +0 +${Math.ceil(fx.files.length / 250)} \\(10,000 an hour: 1 h or more\\)`))
    expect(summary).toMatch(/Suggested load method: /)
    expect(g.jobs()).toHaveLength(0)
    expect(g.tables.size).toBe(0)
  })

  it('loads every row exactly once, batching many objects per load job', async () => {
    const {fx, base} = setup({malformedRate: 0.05})
    const r = await runBackfill(base)
    expect(r.objects).toEqual({loaded: fx.files.length, replaced: 0, skipped: 0, failed: 0})
    expect(r.rows).toBe(fx.good)
    expect(r.rejected).toBe(fx.malformed)
    expect(g.tables.get('logs.alb_logs')!.rows).toHaveLength(fx.good)
    expect(g.tables.get('logs._seneka_rejects')!.rows).toHaveLength(fx.malformed)
    expect(g.tables.get('logs._seneka_ledger')!.rows).toHaveLength(fx.files.length)
    const loads = g.jobs('load')
    expect(loads.length).toBe(Math.ceil(fx.files.length / 4))
    const cfg = loads[0].configuration.load
    expect(cfg.sourceFormat).toBe('NEWLINE_DELIMITED_JSON')
    expect(cfg.writeDisposition).toBe('WRITE_TRUNCATE')
    expect(cfg.sourceUris.length).toBe(4)
    for (const u of cfg.sourceUris) expect(u).toMatch(/^gs:\/\/stage-bucket\/seneka\/tmp\/seneka\/[0-9a-f]{8}\/\d{7}\.ndjson\.gz$/)
    expect(cfg.destinationTable.tableId).toMatch(/^_seneka_stg_alb_logs_[0-9a-f]{8}$/)
    // every merge is one transaction with a byte cap; staged files and the staging table are cleaned up
    const merges = g.jobs('query').filter((j) => j.configuration.query.query.includes('BEGIN TRANSACTION'))
    expect(merges).toHaveLength(loads.length)
    expect(merges.every((m) => m.configuration.query.maximumBytesBilled === String(DEFAULT_MAX_BYTES_BILLED))).toBe(true)
    expect([...g.objects.keys()].filter((k) => k.startsWith('stage-bucket/'))).toEqual([])
    expect([...g.tables.keys()].some((k) => k.includes('_seneka_stg_'))).toBe(false)
    // every query was dry-run first
    expect(g.jobs('dry').length).toBe(g.jobs('query').length)
    const row = g.tables.get('logs.alb_logs')!.rows[0]
    expect(row._load_id).toBe(r.loadId)
    expect(String(row._source_uri)).toMatch(/^file:\/\/.*\.log\.gz$/)
    expect(typeof row.event_time).toBe('number')
  })

  it('a re-run reads the ledger for free, skips everything and starts no job', async () => {
    const {fx, base} = setup()
    await runBackfill(base)
    const jobsBefore = g.jobs().length
    const again = await runBackfill(base)
    expect(again.objects).toEqual({loaded: 0, replaced: 0, skipped: fx.files.length, failed: 0})
    expect(g.jobs().length).toBe(jobsBefore)
    expect(g.requests.some((r) => r.path.endsWith('/tables/_seneka_ledger/data'))).toBe(true)
    expect(g.tables.get('logs.alb_logs')!.rows).toHaveLength(fx.good)
  })

  it('a merge whose reply is lost after the commit adds no row twice', async () => {
    const {fx, base} = setup()
    g.loseMergeReplies = 1
    const r = await runBackfill(base)
    expect(r.objects.failed).toBe(0)
    expect(r.objects.loaded).toBe(fx.files.length)
    expect(r.rows).toBe(fx.good)
    expect(g.tables.get('logs.alb_logs')!.rows).toHaveLength(fx.good)
    expect(g.tables.get('logs._seneka_ledger')!.rows).toHaveLength(fx.files.length)
  })

  it('a changed object replaces its rows in the same transaction (DELETE by _source_uri)', async () => {
    const {fx, base} = setup()
    await runBackfill(base)
    const ledger = g.tables.get('logs._seneka_ledger')!.rows
    ledger[0].etag = 'old-version'
    const again = await runBackfill(base)
    expect(again.objects).toEqual({loaded: 0, replaced: 1, skipped: fx.files.length - 1, failed: 0})
    expect(g.tables.get('logs.alb_logs')!.rows).toHaveLength(fx.good)
    const merge = g.jobs('query').filter((j) => j.configuration.query.query.includes('BEGIN TRANSACTION')).at(-1)
    expect(merge.configuration.query.query).toContain('DELETE FROM `test-project.logs.alb_logs` WHERE `event_time` >= CAST(@replace_since AS TIMESTAMP)')
  })

  it('a replace DELETE reads only the days of the replaced rows: bounded by the event-time range kept in the ledger', async () => {
    const {fx, base} = setup()
    await runBackfill(base)
    const ledger = g.tables.get('logs._seneka_ledger')!.rows
    const uri = String(ledger[0].object_uri)
    const times = g.tables.get('logs.alb_logs')!.rows.filter((r) => r._source_uri === uri).map((r) => r.event_time as number)
    expect(ledger[0].min_event_time).toBe(Math.min(...times))
    expect(ledger[0].max_event_time).toBe(Math.max(...times))
    ledger[0].etag = 'old-version'
    const again = await runBackfill(base)
    expect(again.objects.replaced).toBe(1)
    // the double deletes within the bound only: a bound too narrow would leave old rows behind
    expect(g.tables.get('logs.alb_logs')!.rows).toHaveLength(fx.good)
    const merge = g.jobs('query').filter((j) => j.configuration.query.query.includes('BEGIN TRANSACTION')).at(-1)
    const p = Object.fromEntries(merge.configuration.query.queryParameters.map((q: any) => [q.name, q]))
    expect(p.replace_since.parameterType.type).toBe('TIMESTAMP')
    expect(Date.parse(p.replace_since.parameterValue.value.replace(' ', 'T'))).toBe(Math.floor(Math.min(...times) / 1000))
    expect(Date.parse(p.replace_until.parameterValue.value.replace(' ', 'T'))).toBe(Math.floor(Math.max(...times) / 1000) + 1)
  })

  it('a replaced entry without a recorded range (older ledger) is deleted without a bound, still exactly once', async () => {
    const {fx, base} = setup()
    await runBackfill(base)
    const ledger = g.tables.get('logs._seneka_ledger')!.rows
    ledger[0].etag = 'old-version'
    ledger[0].min_event_time = null
    ledger[0].max_event_time = null
    const again = await runBackfill(base)
    expect(again.objects.replaced).toBe(1)
    expect(g.tables.get('logs.alb_logs')!.rows).toHaveLength(fx.good)
    const merge = g.jobs('query').filter((j) => j.configuration.query.query.includes('BEGIN TRANSACTION')).at(-1)
    expect(merge.configuration.query.query).toContain('DELETE FROM `test-project.logs.alb_logs` WHERE _source_uri IN')
  })

  it('the merge script dry-runs whole: its estimate covers every billed statement, and each statement is capped', async () => {
    const {base} = setup()
    const dml = /^(INSERT|DELETE|MERGE|UPDATE|SELECT)\b/
    // 20 MB per billed statement the dry run covers (the double stops a script's dry run at its first DDL)
    g.bytesFor = (sql) => scriptStatements(sql).filter((x) => dml.test(x)).length * 20_000_000
    const estimates: QueryEstimate[] = []
    await runBackfill({...base, bigquery: settings({onEstimate: (e: QueryEstimate) => estimates.push(e)})})
    const merges = estimates.filter((e) => e.label.startsWith('merge'))
    expect(merges.length).toBeGreaterThan(0)
    // INSERT rows, INSERT rejects, MERGE ledger, SELECT applied
    for (const e of merges) expect(e.bytesProcessed).toBe(4 * 20_000_000)
    const merge = g.jobs('query').find((j) => j.configuration.query.query.includes('BEGIN TRANSACTION'))
    expect(merge.configuration.query.scriptOptions).toEqual({statementByteBudget: String(DEFAULT_MAX_BYTES_BILLED), keyResultStatement: 'LAST'})
  })

  it('a failed batch leaves no staged file behind (cleanup in finally)', async () => {
    const {fx, base} = setup()
    g.fail({match: (r) => r.method === 'POST' && r.body?.configuration?.load !== undefined, status: 400, reason: 'invalid', times: Math.ceil(fx.files.length / 4)})
    const r = await runBackfill({...base, retries: 0})
    expect(r.objects.failed).toBe(fx.files.length)
    expect([...g.objects.keys()].filter((k) => k.startsWith('stage-bucket/'))).toEqual([])
  })

  it('a job insert that keeps failing is retried by one layer only: 1 + retries attempts per batch, no object staged twice', async () => {
    const {fx, base} = setup()
    const isLoadInsert = (r: {method: string; body?: any}) => r.method === 'POST' && r.body?.configuration?.load !== undefined
    g.fail({match: isLoadInsert, status: 503, times: 100_000})
    const r = await runBackfill({...base, retries: 3, bigquery: settings({retries: 2})})
    expect(r.objects.failed).toBe(fx.files.length)
    const batches = Math.ceil(fx.files.length / 4)
    // the API layer tried each batch's load job 3 times (1 + 2 retries); the job layer and loadObject did not multiply it
    expect(g.requests.filter(isLoadInsert)).toHaveLength(batches * 3)
    const uploads = g.requests.filter((q) => q.method === 'POST' && q.path.startsWith('/upload/'))
    expect(uploads).toHaveLength(fx.files.length)
    g.clearFailures()
  })

  it('refuses to load with load jobs without a staging prefix', async () => {
    const {base} = setup()
    const r = runBackfill({...base, bigquery: {...settings(), staging: undefined, loadMethod: 'load-jobs'}})
    await expect(r).rejects.toThrow('Loading into BigQuery needs a GCS staging prefix.')
  })
})

describe('BigQuery live suite', () => {
  const project = process.env.SENEKA_BQ_PROJECT
  it.skipIf(!project)('runs a trivial query on the real service (set SENEKA_BQ_PROJECT and SENEKA_BQ_DATASET)', async () => {
    const wh = await openWarehouse(`bigquery://${project}/${process.env.SENEKA_BQ_DATASET ?? 'seneka_test'}`, {bigquery: {location: process.env.SENEKA_BQ_LOCATION}})
    expect(await wh.query('SELECT 1 AS one')).toEqual([{one: 1}])
  })
  if (!project) console.log('BigQuery live suite skipped: set SENEKA_BQ_PROJECT (and SENEKA_BQ_DATASET, SENEKA_BQ_LOCATION) with Application Default Credentials to run it.')
})
