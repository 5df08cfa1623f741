import {gunzipSync, gzipSync} from 'node:zlib'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {runBackfill} from '../../../src/lib/backfill/run.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {type BigQuerySettings, openWarehouse} from '../../../src/lib/warehouse/index.js'
import type {WriteApiLoaderSettings, WriteStep} from '../../../src/lib/warehouse/bigquery/write-api/loader.js'
import {albFixture, PREFIX} from '../../helpers/alb-fixtures.js'
import {DuckDbStandIn} from '../../helpers/bigquery-on-duckdb.js'
import {type GcpDouble, startGcpDouble} from '../../helpers/gcp-doubles.js'
import {startWriteApiDouble, type WriteApiDouble} from '../../helpers/write-api-double.js'

/**
 * The Write API loader through the real @google-cloud/bigquery-storage client against the strict gRPC double,
 * the real @google-cloud/bigquery client against the REST double, and every statement seneka sends (ledger
 * look-ups, replacements) executed on the DuckDB stand-in that also holds the committed rows.
 */

let g: GcpDouble
let sql: DuckDbStandIn
let w: WriteApiDouble
beforeAll(async () => {
  ;[g, sql] = await Promise.all([startGcpDouble(), DuckDbStandIn.open()])
  g.sql = sql
  g.pollsUntilDone = 0
  w = await startWriteApiDouble(g)
})
afterAll(async () => {
  await w.close()
  sql.close()
  await g.close()
})
afterEach(() => {
  g.clearFailures()
})

const ALB = getFormat('alb')
let dsSeq = 0

function settings(dataset: string, writeApi: Partial<WriteApiLoaderSettings> = {}): BigQuerySettings {
  return {
    location: 'EU',
    apiEndpoint: g.endpoint,
    gcsEndpoint: g.endpoint,
    loadMethod: 'write-api',
    storageEmulatorHost: w.host,
    overrides: {retryBaseDelayMs: 1, pollIntervalMs: 1, writeApi: {minLookupIntervalMs: 0, ...writeApi}},
  }
}

function scenario(opts: {files?: number; malformedRate?: number} = {}) {
  const dataset = `wapi_${++dsSeq}`
  const bucket = `src-wapi-${dsSeq}`
  const fx = albFixture({days: 1, intervalMinutes: Math.floor(1440 / Math.max(1, (opts.files ?? 4) / 2)), linesPerFile: 30, malformedRate: opts.malformedRate ?? 0.05})
  for (const f of fx.files) g.putObject(bucket, f.key, f.body)
  const run = (writeApi: Partial<WriteApiLoaderSettings> = {}, extra: Record<string, unknown> = {}) =>
    runBackfill({
      sources: [`gs://${bucket}/${PREFIX}`],
      format: ALB,
      warehouse: `bigquery://test-project/${dataset}`,
      table: 'alb_logs',
      range: {},
      concurrency: 2,
      dryRun: false,
      retries: 3,
      storeOptions: {gcsEndpoint: g.endpoint},
      bigquery: settings(dataset, writeApi),
      ...extra,
    })
  const rows = () => g.tables.get(`${dataset}.alb_logs`)?.rows ?? []
  const lines = () => rows().map((r) => `${r._source_uri}#${r._line}`)
  const ledger = () => sql.rows(dataset, '_seneka_ledger', 'loaded_at')
  const rejects = () => g.tables.get(`${dataset}._seneka_rejects`)?.rows ?? []
  return {dataset, bucket, fx, run, rows, lines, ledger, rejects}
}

/** every good line once, and nothing else */
function expectExactlyOnce(s: ReturnType<typeof scenario>): void {
  const got = s.lines()
  expect(new Set(got).size).toBe(got.length)
  expect(got).toHaveLength(s.fx.good)
}

describe('Write API loader: one object, appended, finalized and committed', () => {
  it('loads every object through PENDING streams with offsets, commits each once, and runs no DML', async () => {
    const s = scenario()
    const before = w.calls.length
    const r = await s.run()
    expect(r.objects, JSON.stringify(r.failures)).toMatchObject({loaded: s.fx.files.length, failed: 0})
    expectExactlyOnce(s)
    expect(s.rejects()).toHaveLength(s.fx.malformed)
    const calls = w.calls.slice(before)
    // every append to a pending stream carries its offset, starting at 0
    const pendingAppends = calls.filter((c) => c.method === 'AppendRows' && !String(c.request.writeStream).endsWith('_default'))
    expect(pendingAppends.length).toBeGreaterThan(0)
    for (const a of pendingAppends) expect(a.request.offset?.value).toBe('0')
    const commits = calls.filter((c) => c.method === 'BatchCommitWriteStreams')
    // one commit per object's rows, one per object with rejected lines
    const committed = commits.flatMap((c) => c.request.writeStreams)
    expect(new Set(committed).size).toBe(committed.length)
    // no staging: no GCS write, no load job, no MERGE/UPDATE/DELETE
    const statements = g.jobs('query').map((j) => String(j.configuration.query.query))
    expect(statements.filter((q) => /\b(MERGE|UPDATE|DELETE|INSERT)\b/.test(q))).toEqual([])
    expect(g.jobs('load').filter((j) => j.configuration.load.destinationTable.datasetId === s.dataset)).toEqual([])
    // the ledger: an intent, then committed, per object
    const ledger = await s.ledger()
    expect(ledger.filter((l) => l.state === 'committed')).toHaveLength(s.fx.files.length)
    expect(ledger.filter((l) => l.state === 'intent')).toHaveLength(s.fx.files.length)
    expect(w.openConnections).toBe(0)
  })

  it('a re-run skips every object and adds nothing', async () => {
    const s = scenario()
    await s.run()
    const again = await s.run()
    expect(again.objects).toMatchObject({loaded: 0, skipped: s.fx.files.length, failed: 0})
    expectExactlyOnce(s)
  })
})
