import path from 'node:path'
import {Readable} from 'node:stream'
import {gunzipSync, gzipSync} from 'node:zlib'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {runBackfill} from '../../../src/lib/backfill/run.js'
import {runDedupe} from '../../../src/lib/dedupe/run.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {newCounters, readBatches} from '../../../src/lib/loader/read-object.js'
import {latencyReport} from '../../../src/lib/latency/report.js'
import {reconcile} from '../../../src/lib/reconcile/run.js'
import {type BigQuerySettings, openWarehouse} from '../../../src/lib/warehouse/index.js'
import {albFixture, PREFIX} from '../../helpers/alb-fixtures.js'
import {DuckDbStandIn, type StandInField} from '../../helpers/bigquery-on-duckdb.js'
import {type GcpDouble, startGcpDouble} from '../../helpers/gcp-doubles.js'
import {tempDir} from '../../helpers/tmp.js'
import {startWriteApiDouble, type WriteApiDouble} from '../../helpers/write-api-double.js'

/**
 * ONE suite of scenarios run over every engine (after rclone's fstests): the embedded DuckDB file, and
 * BigQuery through the real client against the double (loads simulated by the double, every other statement
 * executed on its DuckDB stand-in). Sources live in the GCS double for both, so faults can be injected alike.
 */
interface Engine {
  name: string
  uri: string
  bigquery?: BigQuerySettings
  /** rows of a loaded table, as the engine holds them */
  loaded(table: string): Promise<Array<Record<string, unknown>>>
  /** a table with exactly these rows, for the reading scenarios */
  seed(table: string, fields: StandInField[], rows: Array<Record<string, unknown>>): Promise<void>
  /** rows of a seeded table */
  seeded(table: string): Promise<Array<Record<string, unknown>>>
}

let g: GcpDouble
let sql: DuckDbStandIn
let w: WriteApiDouble
beforeAll(async () => {
  ;[g, sql] = await Promise.all([startGcpDouble(), DuckDbStandIn.open()])
  g.pollsUntilDone = 0
  w = await startWriteApiDouble(g)
})
afterAll(async () => {
  await w.close()
  sql.close()
  await g.close()
})

const DUCK_TYPES: Record<string, string> = {STRING: 'VARCHAR', INTEGER: 'BIGINT', TIMESTAMP: 'TIMESTAMP', FLOAT: 'DOUBLE'}
const literal = (v: unknown, type: string): string =>
  v === null || v === undefined ? 'NULL' : type === 'TIMESTAMP' ? `TIMESTAMP '${(v as Date).toISOString().replace('T', ' ').replace('Z', '')}'` : typeof v === 'number' ? String(v) : `'${String(v).replaceAll("'", "''")}'`

function duckdb(): Engine {
  const file = path.join(tempDir(), 'w.duckdb')
  const uri = `duckdb:${file}`
  const read = async (sqlText: string) => {
    const wh = await openWarehouse(uri, {readOnly: true})
    try {
      return await wh.query(sqlText)
    } finally {
      await wh.close()
    }
  }
  return {
    name: 'duckdb',
    uri,
    loaded: (t) => read(`SELECT * FROM ${t}`),
    seeded: (t) => read(`SELECT * FROM ${t}`),
    async seed(table, fields, rows) {
      const wh = await openWarehouse(uri)
      try {
        await wh.query(`CREATE OR REPLACE TABLE ${table} (${fields.map((f) => `"${f.name}" ${DUCK_TYPES[f.type]}`).join(', ')})`)
        if (rows.length) await wh.query(`INSERT INTO ${table} VALUES ${rows.map((r) => `(${fields.map((f) => literal(r[f.name], f.type)).join(', ')})`).join(', ')}`)
      } finally {
        await wh.close()
      }
    },
  }
}

function bigquery(): Engine {
  const dataset = `ds_${Math.random().toString(36).slice(2, 8)}`
  return {
    name: 'bigquery',
    uri: `bigquery://test-project/${dataset}`,
    bigquery: {
      staging: 'gs://stage-bucket/seneka',
      location: 'EU',
      apiEndpoint: g.endpoint,
      gcsEndpoint: g.endpoint,
      overrides: {retryBaseDelayMs: 1, pollIntervalMs: 1, loader: {maxObjectsPerJob: 5, lingerMs: 5}},
    },
    loaded: async (t) => g.tables.get(`${dataset}.${t}`)?.rows ?? [],
    seeded: (t) => sql.rows(dataset, t),
    async seed(table, fields, rows) {
      await sql.createTable(dataset, table, fields, rows)
      g.tables.set(`${dataset}.${table}`, {metadata: {tableReference: {projectId: 'test-project', datasetId: dataset, tableId: table}, schema: {fields}}, rows: []})
    },
  }
}

/** BigQuery loading through the Storage Write API double: the committed rows (and DELETEs) live in the stand-in. */
function bigqueryWriteApi(): Engine {
  const e = bigquery()
  const dataset = e.uri.split('/').at(-1)!
  return {
    ...e,
    name: 'bigquery-write-api',
    bigquery: {location: 'EU', apiEndpoint: g.endpoint, gcsEndpoint: g.endpoint, loadMethod: 'write-api', storageEmulatorHost: w.host, overrides: {retryBaseDelayMs: 1, pollIntervalMs: 1, writeApi: {minLookupIntervalMs: 0}}},
    // the stand-in's JSON rows carry TIMESTAMPs as text: back to Dates, as the other engines give them
    loaded: async (t) =>
      (await sql.rows(dataset, t).catch(() => [])).map((r) =>
        Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'string' && /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?$/.test(v) ? new Date(`${v.replace(' ', 'T')}Z`) : v])),
      ),
  }
}

const ALB = getFormat('alb')

for (const make of [duckdb, bigquery, bigqueryWriteApi]) {
  describe(`warehouse contract: ${make.name}`, () => {
    let e: Engine
    beforeAll(() => {
      e = make()
      g.sql = sql
    })

    describe('loads', () => {
      const bucket = `src-${make.name.toLowerCase()}`
      const fx = albFixture({days: 2, intervalMinutes: 360, linesPerFile: 40, malformedRate: 0.05})
      beforeAll(() => {
        for (const f of fx.files) g.putObject(bucket, f.key, f.body)
      })
      const opts = () => ({
        sources: [`gs://${bucket}/${PREFIX}`],
        format: ALB,
        warehouse: e.uri,
        table: 'alb_logs',
        range: {},
        concurrency: 3,
        dryRun: false,
        retries: 2,
        storeOptions: {gcsEndpoint: g.endpoint},
        bigquery: e.bigquery,
      })
      const lines = async () => (await e.loaded('alb_logs')).map((r) => `${r._source_uri}#${r._line}`)

      it('an interrupted run followed by a re-run gives exactly the rows of an uninterrupted run', async () => {
        // the source fails for two objects on every attempt: they fail, the others load
        const broken = fx.files.slice(0, 2).map((f) => f.key)
        g.fail({match: (r) => r.query.alt === 'media' && broken.some((k) => r.path.endsWith(k)), status: 503, times: 1000})
        const first = await runBackfill(opts())
        expect(first.objects.failed).toBe(2)
        expect(first.objects.loaded).toBe(fx.files.length - 2)
        g.clearFailures()
        const second = await runBackfill(opts())
        expect(second.objects).toMatchObject({loaded: 2, failed: 0, skipped: fx.files.length - 2})
        const got = await lines()
        expect(got).toHaveLength(fx.good)
        expect(new Set(got).size).toBe(fx.good)
      })

      it('a re-run skips every object and adds nothing', async () => {
        const r = await runBackfill(opts())
        expect(r.objects).toMatchObject({loaded: 0, replaced: 0, skipped: fx.files.length, failed: 0})
        expect(await lines()).toHaveLength(fx.good)
      })

      it('an object that changed is replaced: its old rows go, its new rows come, once', async () => {
        const f = fx.files[3]
        const kept = `${gunzipSync(f.body).toString().split('\n').filter(Boolean).slice(0, 5).join('\n')}\n`
        g.putObject(bucket, f.key, gzipSync(kept))
        let goodKept = 0
        for await (const b of readBatches(Readable.from([Buffer.from(kept)]), ALB, newCounters())) goodKept += b.count
        const r = await runBackfill(opts())
        expect(r.objects, JSON.stringify(r.failures)).toMatchObject({replaced: 1, loaded: 0, failed: 0})
        const rows = await e.loaded('alb_logs')
        const uri = `gs://${bucket}/${f.key}`
        expect(goodKept).toBeGreaterThan(0)
        expect(rows.filter((x) => x._source_uri === uri)).toHaveLength(goodKept)
        expect(rows).toHaveLength(fx.good - (f.lines - f.malformed) + goodKept)
      })

      it('every row records where it came from, when its object was modified and when its GCS copy was created', async () => {
        const rows = await e.loaded('alb_logs')
        expect(rows.length).toBeGreaterThan(50)
        const created = new Map([...g.objects.entries()].filter(([k]) => k.startsWith(`${bucket}/`)).map(([k, o]) => [`gs://${k}`, Date.parse(o.updated)]))
        for (const row of rows.slice(0, 50)) {
          const want = created.get(String(row._source_uri))!
          const got = row._gcs_created_at instanceof Date ? row._gcs_created_at.getTime() : Number(row._gcs_created_at) / 1000
          expect(got).toBe(want)
        }
      })
    })

    describe('reads', () => {
      // a warehouse of its own: the tables below are seeded, not loaded
      beforeAll(() => {
        e = make()
      })
      const T = (h: number, m = 0) => new Date(Date.UTC(2024, 4, 1, h, m))
      const FIELDS: StandInField[] = [
        {name: 'event_time', type: 'TIMESTAMP'},
        {name: 'partition', type: 'INTEGER'},
        {name: 'offset', type: 'INTEGER'},
        {name: 'msg', type: 'STRING'},
        {name: '_source_uri', type: 'STRING'},
        {name: '_line', type: 'INTEGER'},
        {name: '_ingested_at', type: 'TIMESTAMP'},
        {name: '_object_modified_at', type: 'TIMESTAMP'},
      ]
      const row = (i: number, extra: Record<string, unknown> = {}) => ({
        event_time: T(i % 6, i % 60),
        partition: i % 3,
        offset: i,
        msg: `m${i}`,
        _source_uri: `s3://b/o${i % 4}`,
        _line: i + 1,
        _ingested_at: T(i % 6, (i % 60) + 1),
        _object_modified_at: T(i % 6, i % 60),
        ...extra,
      })
      const base = Array.from({length: 60}, (_, i) => row(i))

      it('reconcile finds the hour the stream misses and nothing else', async () => {
        await e.seed('t_batch', FIELDS, base)
        await e.seed('t_stream', FIELDS, base.filter((r) => r.event_time.getUTCHours() !== 2))
        const r = await reconcile({warehouse: e.uri, batchTable: 't_batch', streamTable: 't_stream', since: T(0), until: T(6), by: 'hour', bigquery: e.bigquery})
        expect(r.passed).toBe(false)
        const bad = r.rows.filter((b) => b.status !== 'ok')
        expect(bad.map((b) => ['bucket' in b ? b.bucket : null, b.status, b.batch, b.stream])).toEqual([[T(2).toISOString(), 'missing_in_stream', 10, 0]])
      })

      it('latency-report gives the same count, extremes and (within a bucket) median', async () => {
        await e.seed('t_lat', FIELDS, base)
        const r = await latencyReport(await openWarehouse(e.uri, {readOnly: true, bigquery: e.bigquery}), {table: 't_lat'})
        expect([r.count, r.min, r.max]).toEqual([60, 60, 60])
        expect(r.p50).toBe(60)
      })

      it('dedupe reports and removes copies, byte-identical ones included, keeping one of each', async () => {
        // three rows loaded twice over, byte for byte, and one key with two different copies
        const rows = [...base, base[1], base[2], base[3], row(4, {_line: 999, _ingested_at: T(5, 59)})]
        await e.seed('t_dup', FIELDS, rows)
        const spec = {table: 't_dup', keys: ['partition', 'offset'], keep: 'earliest' as const, ingestedAtColumn: '_ingested_at', timeColumn: 'event_time', range: {}, samples: 3}
        const report = await runDedupe({mode: 'rows', warehouse: e.uri, apply: false, bigquery: e.bigquery, ...spec})
        expect(report.mode === 'rows' && report.report).toMatchObject({rows: 64, duplicateRows: 4, duplicatedKeys: 4, distinctKeys: 60})
        const applied = await runDedupe({mode: 'rows', warehouse: e.uri, apply: true, bigquery: e.bigquery, ...spec})
        expect(applied.mode === 'rows' && applied.applied?.rowsRemoved).toBe(4)
        const left = await e.seeded('t_dup')
        expect(left).toHaveLength(60)
        // the earliest copy of offset 4 stayed
        expect(left.filter((x) => Number(x.offset) === 4).map((x) => Number(x._line))).toEqual([5])
      })
    })
  })
}
