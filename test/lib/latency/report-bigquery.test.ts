import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {latencyReport} from '../../../src/lib/latency/report.js'
import {BigQueryWarehouse} from '../../../src/lib/warehouse/bigquery/warehouse.js'
import {DuckDbStandIn} from '../../helpers/bigquery-on-duckdb.js'
import {bigQuerySyntaxError} from '../../helpers/bigquery-sql.js'
import {type GcpDouble, startGcpDouble} from '../../helpers/gcp-doubles.js'
import {arrivalRows, createTable, openTemp, T0} from './fixtures.js'

let g: GcpDouble
let sql: DuckDbStandIn
beforeAll(async () => {
  ;[g, sql] = await Promise.all([startGcpDouble(), DuckDbStandIn.open()])
  g.sql = sql
})
afterAll(async () => {
  sql.close()
  await g.close()
})

const FIELDS = [
  {name: 'event_time', type: 'TIMESTAMP'},
  {name: '_load_path', type: 'STRING'},
  {name: '_source_uri', type: 'STRING'},
  {name: '_ingested_at', type: 'TIMESTAMP'},
  {name: '_object_modified_at', type: 'TIMESTAMP'},
]

const iso = (s: number) => new Date((T0 + s) * 1000)

describe('latency-report on BigQuery, executed (the double runs the GoogleSQL on a DuckDB stand-in)', () => {
  // 3,000 latencies with negatives and fractions, the same rows on BigQuery and on DuckDB
  const lat = Array.from({length: 3000}, (_, i) => ((i * 7919) % 3000) / 4 - 20 + 0.25)
  const rows = arrivalRows(lat, {path: 'backfill'})

  async function seed(): Promise<BigQueryWarehouse> {
    await sql.createTable('logs', 'lat', FIELDS, rows.map((r) => ({event_time: iso(r.ev), _load_path: r.path, _source_uri: 's3://b/x', _ingested_at: iso(r.ing), _object_modified_at: iso(r.mod!)})))
    g.tables.set('logs.lat', {metadata: {tableReference: {projectId: 'p', datasetId: 'logs', tableId: 'lat'}, schema: {fields: FIELDS}}, rows: []})
    return new BigQueryWarehouse({project: 'p', dataset: 'logs', location: 'US', apiEndpoint: g.endpoint, retryBaseDelayMs: 1, pollIntervalMs: 2})
  }

  it('--compute client runs the aggregation once and reads its result page by page, agreeing with the exact quantiles', async () => {
    const wh = await seed()
    const {wh: duck} = await openTemp()
    await createTable(duck, 'lat', rows)
    const exact = await latencyReport(duck, {table: 'lat'})
    g.requests.length = 0
    const client = await latencyReport(wh, {table: 'lat', compute: 'client', pageSize: 100})
    expect([client.count, client.min, client.max]).toEqual([exact.count, exact.min, exact.max])
    for (const k of ['p50', 'p90', 'p99'] as const) expect(Math.abs(client[k]! - exact[k]!)).toBeLessThan(0.6)
    const queries = g.jobs('query').map((j) => String(j.configuration.query.query))
    const histogram = queries.filter((q) => q.includes('AS ms'))
    expect(histogram).toHaveLength(1)
    expect(histogram[0]).not.toMatch(/LIMIT|OFFSET/)
    // the ~3,000 distinct milliseconds came back in pages of 100 from that one job's result
    const pages = g.requests.filter((r) => r.method === 'GET' && /\/queries\//.test(r.path) && r.query.maxResults === '100')
    expect(pages.length).toBeGreaterThan(10)
    expect(new Set(pages.map((r) => r.path)).size).toBe(1)
    for (const q of queries) expect(bigQuerySyntaxError(q)).toBeNull()
  })

  it('computes approximate quantiles in BigQuery with statements it accepts', async () => {
    const wh = await seed()
    const r = await latencyReport(wh, {table: 'lat', groupBy: 'path'})
    expect(r.quantiles.exact).toBe(false)
    expect(r.count).toBe(3000)
    expect(r.p50).toBeGreaterThan(350)
    expect(r.p50).toBeLessThan(380)
  })
})
