import {afterAll, afterEach, beforeAll, describe, expect, it, vi} from 'vitest'
import Dedupe from '../../src/commands/dedupe.js'
import LatencyReport from '../../src/commands/latency-report.js'
import Reconcile from '../../src/commands/reconcile.js'
import Stream from '../../src/commands/stream.js'
import {DuckDbStandIn} from '../helpers/bigquery-on-duckdb.js'
import {ROOT} from '../helpers/cli.js'
import {type GcpDouble, startGcpDouble} from '../helpers/gcp-doubles.js'

/**
 * The reading commands on BigQuery, in-process against the double (which executes the SQL on a DuckDB
 * stand-in): --dry-run, --location and --max-bytes-billed on each of them.
 */
let g: GcpDouble
let sql: DuckDbStandIn
const saved = {...process.env}
const FIELDS = [
  {name: 'event_time', type: 'TIMESTAMP'},
  {name: 'partition', type: 'INTEGER'},
  {name: 'offset', type: 'INTEGER'},
  {name: '_source_uri', type: 'STRING'},
  {name: '_line', type: 'INTEGER'},
  {name: '_ingested_at', type: 'TIMESTAMP'},
  {name: '_object_modified_at', type: 'TIMESTAMP'},
]
const rows = Array.from({length: 40}, (_, i) => ({
  event_time: new Date(Date.UTC(2024, 4, 1, i % 24)),
  partition: i % 2,
  offset: i % 30,
  _source_uri: `s3://b/o${i % 4}`,
  _line: i,
  _ingested_at: new Date(Date.UTC(2024, 4, 1, i % 24, 5)),
  _object_modified_at: new Date(Date.UTC(2024, 4, 1, i % 24, 1)),
}))

beforeAll(async () => {
  ;[g, sql] = await Promise.all([startGcpDouble(), DuckDbStandIn.open()])
  g.sql = sql
  // jobs are DONE at once: no polling delay in these command runs
  g.pollsUntilDone = 0
  for (const t of ['t_batch', 't_stream']) {
    await sql.createTable('logs', t, FIELDS, rows)
    g.tables.set(`logs.${t}`, {metadata: {tableReference: {projectId: 'test-project', datasetId: 'logs', tableId: t}, schema: {fields: FIELDS}}, rows: []})
  }
  g.datasetLocations.set('logs', 'EU')
  process.env.BIGQUERY_EMULATOR_HOST = `${g.endpoint}/bigquery/v2`
  process.env.SENEKA_WAREHOUSE = 'bigquery://test-project/logs'
})
afterAll(async () => {
  process.env = saved
  sql.close()
  await g.close()
})
afterEach(() => {
  g.requests.length = 0
  vi.restoreAllMocks()
})

/** Runs a command in-process; returns what it printed on stdout and its result. */
async function run(cmd: {run(argv: string[], root: string): Promise<unknown>}, argv: string[]): Promise<{out: string; result: any; error?: any}> {
  let out = ''
  process.exitCode = undefined
  // oclif writes through console.log / console.error
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void (out += `${a.join(' ')}\n`))
  vi.spyOn(console, 'error').mockImplementation(() => {})
  try {
    const result = await cmd.run(argv, ROOT)
    return {out, result}
  } catch (error) {
    return {out, result: undefined, error}
  } finally {
    vi.restoreAllMocks()
    process.exitCode = undefined
  }
}

const COMMANDS = [
  ['reconcile', Reconcile, ['--batch-table', 't_batch', '--stream-table', 't_stream', '--since', '2024-05-01', '--until', '2024-05-02']],
  ['latency-report', LatencyReport, ['--table', 't_stream', '--since', '2024-05-01', '--until', '2024-05-02']],
  ['dedupe', Dedupe, ['--table', 't_stream', '--key', 'partition,offset', '--since', '2024-05-01', '--until', '2024-05-02']],
] as const

describe('every reading command on BigQuery', () => {
  for (const [name, cmd, argv] of COMMANDS) {
    it(`${name} --dry-run prints each statement's bytes and cost and the total, and runs nothing billable`, async () => {
      g.bytesFor = () => 123_456_789
      const {result, out} = await run(cmd, [...argv, '--dry-run', '--location', 'EU', '--json'])
      expect(result).toMatchObject({dryRun: true, warehouse: expect.stringContaining('bigquery://test-project/logs')})
      expect(result.statements.length).toBeGreaterThan(0)
      expect(result.total.bytesProcessed).toBe(123_456_789 * result.statements.length)
      expect(result.total.usd).toBeGreaterThan(0)
      expect(JSON.parse(out)).toMatchObject({status: 0, result: {dryRun: true}, warnings: []})
      // dry runs only: not one query job ran
      expect(g.jobs('query')).toEqual([])
      expect(g.jobs('dry').length).toBe(result.statements.length)
      for (const j of g.jobs('dry')) expect(j.jobReference.location).toBe('EU')
    })

    it(`${name} --max-bytes-billed caps every statement and refuses one estimated above it`, async () => {
      g.bytesFor = () => 50 * 1024 ** 2
      const {error} = await run(cmd, [...argv, '--max-bytes-billed', '20MiB'])
      expect(error?.message).toMatch(/over the --max-bytes-billed cap of 20(\.0)? MiB; nothing was run or billed/)
      expect(g.jobs('query')).toEqual([])
      g.bytesFor = () => 1_000_000
      g.requests.length = 0
      const ok = await run(cmd, [...argv, '--max-bytes-billed', '20MiB', '--json'])
      expect(ok.error).toBeUndefined()
      // the estimates reach the --json document too (oclif prints no info line under --json by itself)
      const doc = JSON.parse(ok.out)
      expect(doc.estimates.length).toBe(g.jobs('dry').length)
      expect(doc.estimates[0]).toMatchObject({bytesProcessed: 1_000_000, maxBytesBilled: 20 * 1024 ** 2})
      expect(g.jobs('query').length).toBeGreaterThan(0)
      for (const j of g.jobs('query')) expect(j.configuration.query.maximumBytesBilled).toBe(String(20 * 1024 ** 2))
    })

    it(`${name} --location sends every job there (a wrong one fails on the dataset, as BigQuery does)`, async () => {
      g.bytesFor = () => 1_000_000
      const {error} = await run(cmd, [...argv, '--location', 'US'])
      expect(error?.message).toMatch(/was not found in location US/)
    })
  }

  it('stream --dry-run on BigQuery says what a day would use and receives nothing', async () => {
    const {result, error} = await run(Stream, ['--queue', 'https://sqs.eu-west-1.amazonaws.com/123456789012/q', '--format', 'alb', '--table', 't_stream', '--load-method', 'load-jobs', '--staging', 'gs://stage/x', '--max-latency', '5m', '--dry-run', '--location', 'EU'])
    expect(error).toBeUndefined()
    expect(result).toMatchObject({dryRun: true, table: 't_stream', tableExists: true, source: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q'})
    expect(result.perDay.join('\n')).toMatch(/at most 288 load jobs and 288 merge transactions a day per table/)
    expect(g.jobs()).toEqual([])
  })

  it('stream --dry-run on BigQuery prices a day of the expected traffic through both load methods, side by side', async () => {
    const argv = ['--queue', 'https://sqs.eu-west-1.amazonaws.com/123456789012/q', '--format', 'alb', '--table', 't_stream', '--staging', 'gs://stage/x', '--location', 'EU', '--dry-run']
    const {result, out, error} = await run(Stream, [...argv, '--max-latency', '1m', '--expected-rate', '300/m', '--expected-object-size', '2MiB'])
    expect(error).toBeUndefined()
    const [lj, wa] = result.loadMethods.methods
    expect(result.loadMethods.traffic).toMatchObject({window: 'day', objects: 432_000, bytes: 432_000 * 2 * 1024 ** 2})
    // 1m: 1,440 batches of 300 objects; each a load job and a merge
    expect(lj).toMatchObject({method: 'load-jobs', loadJobs: 1440, merges: 1440, billedStatements: 7200})
    expect(lj.quotas.every((q: {holds: boolean}) => q.holds)).toBe(true)
    // objects of 2 MiB go through the committed lane: its 8 streams per worker, whatever the rate (pending streams
    // were the worker's budget, 3,000 an hour; one stream per object was 18,000, above the 10,000 quota)
    expect(wa).toMatchObject({method: 'write-api', loadJobs: 0, merges: 0, createWriteStreamPerHour: 8})
    expect(out).toMatch(/BigQuery load methods, a day at 5 objects\/s of 2\.0 MiB:\n\n +load-jobs +write-api\n/)
    expect(out).toMatch(/Load jobs a day +1,440 \(2 staging tables, 1,500 a day each\) +0/)
    expect(out).toMatch(/Write API a month +0 +24\.7 TiB: \$\d[\d,.]* beyond the free 2 TiB/)
    expect(out).toMatch(/CreateWriteStream an hour +0 +8 \(quota 10,000\)/)
    expect(out).not.toMatch(/CreateWriteStream exceeded/)
    expect(out).toMatch(/Latency +up to \d+ s .* +under a second to seconds \(committed lane\)/)
    expect(g.jobs()).toEqual([])
    // without the traffic flags the assumption is said
    const assumed = await run(Stream, argv)
    expect(assumed.result.loadMethods.traffic.basis).toBe('a day at 1 object/s of 1.0 MiB (assumed: set --expected-rate and --expected-object-size)')
  })

  it('stream --max-latency below what load jobs keep up with is a usage error that names the bound and the Write API', async () => {
    for (const latency of ['0s', '30s', '57s']) {
      const {error} = await run(Stream, ['--queue', 'https://sqs.eu-west-1.amazonaws.com/123456789012/q', '--format', 'alb', '--load-method', 'load-jobs', '--staging', 'gs://stage/x', '--max-latency', latency, '--dry-run'])
      expect(error?.message).toMatch(/^--max-latency \S+ is below 58\.0s, the shortest interval BigQuery load jobs keep up with \(1,500 load jobs per table per day, one load and one merge per batch\)\./)
      expect(error?.oclif?.exit ?? error?.exitCode).toBe(2)
      expect(JSON.stringify(error?.suggestions ?? error?.suggestion)).toMatch(/Storage Write API/)
    }
    const ok = await run(Stream, ['--queue', 'https://sqs.eu-west-1.amazonaws.com/123456789012/q', '--format', 'alb', '--load-method', 'load-jobs', '--staging', 'gs://stage/x', '--max-latency', '58s', '--dry-run'])
    expect(ok.error).toBeUndefined()
    expect(ok.result.perDay.join('\n')).toMatch(/at most 1,490 load jobs and 1,490 merge transactions a day per table/)
    // on the Write API (stream's default) the flag paces nothing: said, not refused
    let stderr = ''
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true))
    const wapi = await run(Stream, ['--queue', 'https://sqs.eu-west-1.amazonaws.com/123456789012/q', '--format', 'alb', '--max-latency', '10s', '--dry-run'])
    spy.mockRestore()
    expect(wapi.error).toBeUndefined()
    expect(stderr).toMatch(/--max-latency paces load-jobs batches .* does nothing here/)
  })

  it('--dry-run on DuckDB is a usage error: its queries bill nothing', async () => {
    const {error} = await run(Reconcile, [...COMMANDS[0][2], '--dry-run', '--warehouse', 'duckdb::memory:'])
    expect(error?.message).toMatch(/--dry-run estimates what BigQuery would bill/)
    expect(error?.oclif?.exit ?? error?.exitCode).toBe(2)
  })

  it('stream --dry-run on BigQuery defaults to the Write API: no load jobs, the look-ups bounded', async () => {
    const {result, error} = await run(Stream, ['--queue', 'https://sqs.eu-west-1.amazonaws.com/123456789012/q', '--format', 'alb', '--table', 't_stream', '--dry-run', '--location', 'EU'])
    expect(error).toBeUndefined()
    expect(result.perDay.join('\n')).toMatch(/through the Storage Write API .* no load jobs, no merges[\s\S]*at most 14,400 ledger look-ups an hour per table/)
  })
})
