#!/usr/bin/env node
// Reconcile of two tables in a DuckDB file: seneka's reconcile library (one GROUP BY query per side, compared in
// JS) vs ONE hand-written SQL query computing the same comparison (both GROUP BYs and a FULL OUTER JOIN inside
// DuckDB). Both by hour and by object. Each measurement runs in its own process so its peak RSS is its own;
// phases alternate and the median of RECONCILE_BENCH_REPS runs (default 2: the slower) is reported.
// Size: RECONCILE_BENCH_ROWS rows per table (default 10,000,000) over 30 days, 5-minute source objects.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const ROWS = Number(process.env.RECONCILE_BENCH_ROWS ?? 10_000_000)
const REPS = Number(process.env.RECONCILE_BENCH_REPS ?? 2)
const DAYS = 30
const OBJECTS = DAYS * 288
const SINCE = '2024-05-01T00:00:00Z'
const UNTIL = '2024-05-31T00:00:00Z'
const MARGIN_H = 1

const self = fileURLToPath(import.meta.url)

async function open(db) {
  const {DuckDBInstance} = await import('@duckdb/node-api')
  const inst = await DuckDBInstance.create(db)
  return {inst, c: await inst.connect()}
}

async function phaseBuild(db) {
  const {inst, c} = await open(db)
  const span = DAYS * 86_400_000_000 // microseconds
  const perObject = Math.ceil(ROWS / OBJECTS)
  const select = (n) => `SELECT TIMESTAMP '2024-05-01 00:00:00' + to_microseconds(i * ${Math.floor(span / n)}) AS event_time,
      'lb-' || (i % 4) AS elb, 200 AS status,
      's3://logs/AWSLogs/elb/' || CAST(i // ${perObject} AS VARCHAR) || '.log.gz' AS _source_uri,
      i % ${perObject} + 1 AS _line, 'bench' AS _load_id
    FROM range(${n}) r(i)`
  await c.run(`CREATE TABLE batch_t AS ${select(ROWS)}`)
  // the stream side: a few lines lost here and there, one object loaded twice
  await c.run(`CREATE TABLE stream_t AS SELECT * FROM (${select(ROWS)}) WHERE hash(_source_uri, _line) % 200000 <> 0`)
  await c.run(`INSERT INTO stream_t SELECT * FROM batch_t WHERE _source_uri = 's3://logs/AWSLogs/elb/100.log.gz'`)
  const n = await c.runAndReadAll('SELECT (SELECT count(*) FROM batch_t) AS b, (SELECT count(*) FROM stream_t) AS s')
  const r = n.getRowObjectsJS()[0]
  c.closeSync()
  inst.closeSync()
  return {batch: Number(r.b), stream: Number(r.s)}
}

async function phaseLib(db, by) {
  const {DuckDBWarehouse} = await import('../dist/lib/warehouse/duckdb/warehouse.js')
  const {reconcileWith} = await import('../dist/lib/reconcile/run.js')
  const wh = await DuckDBWarehouse.open(db, {readOnly: true})
  const t0 = performance.now()
  const r = await reconcileWith(wh, {
    warehouse: `duckdb:${db}`, batchTable: 'batch_t', streamTable: 'stream_t', since: new Date(SINCE), until: new Date(UNTIL), by,
    objectMarginMs: MARGIN_H * 3_600_000,
  })
  const ms = performance.now() - t0
  await wh.close()
  return {ms, rows: r.rows.length, mismatched: r.summary.mismatched, batch: r.totals.batch, stream: r.totals.stream}
}

function baselineSql(by) {
  const range = (lo, hi) => `event_time >= TIMESTAMP '${lo}' AND event_time < TIMESTAMP '${hi}'`
  const lo = SINCE.replace('T', ' ').replace('Z', '')
  const hi = UNTIL.replace('T', ' ').replace('Z', '')
  if (by === 'hour') {
    const side = (t) => `SELECT date_trunc('hour', event_time) AS bucket, count(*) AS n FROM ${t} WHERE ${range(lo, hi)} GROUP BY 1`
    return `WITH b AS (${side('batch_t')}), s AS (${side('stream_t')})
      SELECT coalesce(b.bucket, s.bucket) AS bucket, coalesce(b.n, 0) AS batch, coalesce(s.n, 0) AS stream,
        coalesce(s.n, 0) - coalesce(b.n, 0) AS difference,
        CASE WHEN coalesce(b.n, 0) = coalesce(s.n, 0) THEN 'ok' WHEN s.n IS NULL THEN 'missing_in_stream'
             WHEN b.n IS NULL THEN 'missing_in_batch' ELSE 'differ' END AS status
      FROM b FULL OUTER JOIN s ON b.bucket = s.bucket ORDER BY 1`
  }
  const wlo = `TIMESTAMP '${lo}' - INTERVAL ${MARGIN_H} HOUR`
  const whi = `TIMESTAMP '${hi}' + INTERVAL ${MARGIN_H} HOUR`
  const side = (t) => `SELECT _source_uri AS object, count(*) AS n, count(_line) - count(DISTINCT _line) AS dup FROM ${t}
      WHERE event_time >= ${wlo} AND event_time < ${whi} GROUP BY 1
      HAVING sum(CASE WHEN ${range(lo, hi)} THEN 1 ELSE 0 END) > 0`
  return `WITH b AS (${side('batch_t')}), s AS (${side('stream_t')})
    SELECT coalesce(b.object, s.object) AS object, b.n AS batch, s.n AS stream, b.dup AS batch_dup, s.dup AS stream_dup,
      CASE WHEN s.n IS NULL THEN 'missing_in_stream' WHEN b.n IS NULL THEN 'missing_in_batch'
           WHEN b.dup > 0 OR s.dup > 0 THEN 'loaded_twice' WHEN b.n <> s.n THEN 'partial' ELSE 'ok' END AS status
    FROM b FULL OUTER JOIN s ON b.object = s.object ORDER BY 1`
}

async function phaseSql(db, by) {
  const {DuckDBInstance} = await import('@duckdb/node-api')
  const inst = await DuckDBInstance.create(db, {access_mode: 'READ_ONLY'})
  const c = await inst.connect()
  const t0 = performance.now()
  const rows = (await c.runAndReadAll(baselineSql(by))).getRowObjectsJS()
  const ms = performance.now() - t0
  c.closeSync()
  inst.closeSync()
  return {ms, rows: rows.length, mismatched: rows.filter((r) => r.status !== 'ok').length}
}

function child(phase, ...args) {
  const r = spawnSync(process.execPath, [self, phase, ...args], {encoding: 'utf8', maxBuffer: 1 << 26})
  if (r.status !== 0) throw new Error(`${phase} failed: ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').at(-1))
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const mib = (kb) => `${(kb / 1024).toFixed(0)} MiB`

async function main() {
  const [phase, ...args] = process.argv.slice(2)
  if (phase) {
    const fns = {build: phaseBuild, lib: phaseLib, sql: phaseSql}
    const out = await fns[phase](...args)
    console.log(JSON.stringify({...out, maxRssKb: process.resourceUsage().maxRSS}))
    return
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'seneka-reconcile-bench-'))
  const db = path.join(dir, 'bench.duckdb')
  try {
    const t0 = performance.now()
    const built = child('build', db)
    console.log(`built ${built.batch.toLocaleString('en-US')} + ${built.stream.toLocaleString('en-US')} rows in ${((performance.now() - t0) / 1000).toFixed(1)}s (${OBJECTS} objects over ${DAYS} days)`)
    for (const by of ['hour', 'object']) {
      const lib = []
      const sql = []
      for (let i = 0; i < REPS; i++) {
        lib.push(child('lib', db, by))
        sql.push(child('sql', db, by))
      }
      if (lib[0].rows !== sql[0].rows || lib[0].mismatched !== sql[0].mismatched) {
        throw new Error(`by ${by}: reconcile found ${lib[0].rows} rows/${lib[0].mismatched} mismatched, the SQL ${sql[0].rows}/${sql[0].mismatched}`)
      }
      const l = median(lib.map((x) => x.ms))
      const s = median(sql.map((x) => x.ms))
      console.log(
        `by ${by.padEnd(6)} reconcile ${l.toFixed(0)} ms, hand-written SQL ${s.toFixed(0)} ms, ratio ${(l / s).toFixed(2)}x` +
          ` (target <= 1.2x); ${lib[0].rows} ${by === 'hour' ? 'buckets' : 'objects'}, ${lib[0].mismatched} mismatched;` +
          ` peak RSS reconcile ${mib(Math.max(...lib.map((x) => x.maxRssKb)))}, SQL ${mib(Math.max(...sql.map((x) => x.maxRssKb)))}`,
      )
    }
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

await main()
