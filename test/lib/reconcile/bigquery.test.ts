import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseBytes} from '../../../src/lib/cost/bigquery.js'
import {UserError} from '../../../src/lib/errors.js'
import {reconcile, type ReconcileOptions} from '../../../src/lib/reconcile/run.js'
import type {BucketReport} from '../../../src/lib/reconcile/types.js'
import {type GcpDouble, startGcpDouble} from '../../helpers/gcp-doubles.js'

let g: GcpDouble
beforeAll(async () => {
  g = await startGcpDouble()
  const schema = {fields: [{name: 'event_time', type: 'TIMESTAMP'}, {name: 'elb', type: 'STRING'}, {name: '_source_uri', type: 'STRING'}]}
  for (const t of ['batch_logs', 'stream_logs']) {
    g.tables.set(`logs.${t}`, {metadata: {id: `test-project:logs.${t}`, tableReference: {projectId: 'test-project', datasetId: 'logs', tableId: t}, schema, etag: 'e1'}, rows: []})
  }
  // the counts each side's GROUP BY returns (the double does not run SQL)
  g.onQuery = (sql) => ({
    fields: [{name: 'bucket', type: 'FLOAT'}, {name: 'n', type: 'INTEGER'}],
    rows: sql.includes('batch_logs')
      ? [{bucket: 1714521600, n: 100}, {bucket: 1714525200, n: 100}]
      : [{bucket: 1714521600, n: 100}, {bucket: 1714525200, n: 97}],
  })
})
afterAll(() => g.close())

function opts(extra: Partial<NonNullable<ReconcileOptions['bigquery']>> = {}): ReconcileOptions {
  return {
    warehouse: 'bigquery://test-project/logs',
    batchTable: 'batch_logs',
    streamTable: 'stream_logs',
    since: new Date('2024-05-01T00:00:00Z'),
    until: new Date('2024-05-01T02:00:00Z'),
    by: 'hour',
    bigquery: {apiEndpoint: g.endpoint, location: 'EU', overrides: {retryBaseDelayMs: 1, pollIntervalMs: 2}, ...extra},
  }
}

describe('reconcile on BigQuery (real client against a REST double)', () => {
  it('dry-runs each side first, then runs it with maximumBytesBilled and timestamp parameters', async () => {
    g.requests.length = 0
    g.bytesFor = () => 2_000_000
    const estimates: number[] = []
    const r = (await reconcile(opts({maxBytesBilled: parseBytes('1GiB'), onEstimate: (e) => estimates.push(e.bytesProcessed)}))) as BucketReport
    expect(r.rows.map((x) => [x.bucket, x.batch, x.stream, x.status])).toEqual([
      ['2024-05-01T00:00:00.000Z', 100, 100, 'ok'],
      ['2024-05-01T01:00:00.000Z', 100, 97, 'differ'],
    ])
    expect(estimates).toEqual([2_000_000, 2_000_000])
    const queries = g.jobs('query')
    expect(queries).toHaveLength(2)
    for (const q of queries) {
      expect(q.configuration.query.maximumBytesBilled).toBe(String(1024 ** 3))
      expect(q.configuration.query.query).toContain('WHERE `event_time` >= CAST(@since AS TIMESTAMP) AND `event_time` < CAST(@until AS TIMESTAMP)')
      expect(q.configuration.query.queryParameters.map((p: {name: string; parameterType: {type: string}}) => [p.name, p.parameterType.type])).toEqual([
        ['since', 'TIMESTAMP'],
        ['until', 'TIMESTAMP'],
      ])
    }
    expect(g.jobs('dry')).toHaveLength(2)
  })

  it('stops before running a side estimated above --max-bytes-billed', async () => {
    g.requests.length = 0
    g.bytesFor = () => 2 * 1024 ** 4
    const err = await reconcile(opts({maxBytesBilled: parseBytes('10GiB')})).catch((e) => e)
    expect(err).toBeInstanceOf(UserError)
    expect(err.message).toMatch(/over the --max-bytes-billed cap of 10\.0 GiB; nothing was run or billed/)
    expect(g.jobs('query')).toHaveLength(0)
  })
})
