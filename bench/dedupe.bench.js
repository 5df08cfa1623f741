#!/usr/bin/env node
// dedupe: (1) the row report and --apply against DuckDB baselines on the same table: a bare GROUP BY count of
// duplicate keys (the least any report must do) and rebuild-by-swap (CREATE TABLE AS SELECT the survivors, the
// alternative to the rowid DELETE); (2) record counting of gzipped Kafka-named objects against plain gunzip.
// Sizes: DEDUPE_BENCH_ROWS (default 2000000, 30% duplicates), DEDUPE_BENCH_FILES (default 200) files of
// DEDUPE_BENCH_LINES (default 5000) lines.
import {createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {createGunzip, gzipSync} from 'node:zlib'

const ROWS = Number(process.env.DEDUPE_BENCH_ROWS ?? 2_000_000)
const FILES = Number(process.env.DEDUPE_BENCH_FILES ?? 200)
const LINES = Number(process.env.DEDUPE_BENCH_LINES ?? 5000)

const {DuckDBWarehouse} = await import('../dist/lib/warehouse/duckdb/warehouse.js')
const {analyzeRows, applyRows} = await import('../dist/lib/dedupe/rows.js')
const {analyzeObjects, parseNamePattern} = await import('../dist/lib/dedupe/objects.js')

const tmp = mkdtempSync(path.join(os.tmpdir(), 'seneka-dedupe-bench-'))
const time = async (fn) => {
  const t = performance.now()
  const out = await fn()
  return [performance.now() - t, out]
}
const ms = (x) => `${Math.round(x)} ms`

async function table(file) {
  const wh = await DuckDBWarehouse.open(file)
  const distinct = Math.floor(ROWS * 0.7)
  await wh.query(`CREATE TABLE app_logs AS
    SELECT (r % 8)::INTEGER AS partition, (r % ${distinct})::BIGINT AS "offset", TIMESTAMP '2024-05-01' + to_seconds(r % 604800) AS event_time,
      'message ' || (r % ${distinct}) AS message, 's3://b/f' || (r // 10000) || '.gz' AS _source_uri, r::BIGINT AS _line,
      TIMESTAMP '2024-06-01' + to_seconds(r) AS _ingested_at
    FROM range(${ROWS}) t(r)`)
  return wh
}

const spec = {table: 'app_logs', keys: ['partition', 'offset'], keep: 'earliest', ingestedAtColumn: '_ingested_at', timeColumn: 'event_time', range: {}, samples: 10}

try {
  console.log(`rows: ${ROWS.toLocaleString('en-US')} rows, 30% duplicates`)
  let wh = await table(path.join(tmp, 'a.duckdb'))
  const [tBase] = await time(() => wh.query(`SELECT COUNT(*) - COUNT(DISTINCT (partition, "offset")) AS d FROM app_logs`))
  const [tReport, rep] = await time(() => analyzeRows(wh, spec))
  console.log(`  report (counts, per day, per source, samples)  ${ms(tReport)}   baseline GROUP BY count ${ms(tBase)}   ratio ${(tReport / tBase).toFixed(1)}x   duplicates ${rep.duplicateRows}`)
  const [tApply, applied] = await time(() => applyRows(wh, spec))
  await wh.close()
  wh = await table(path.join(tmp, 'b.duckdb'))
  const [tSwap] = await time(async () => {
    await wh.query('BEGIN TRANSACTION')
    await wh.query(`CREATE TABLE app_logs_new AS SELECT * EXCLUDE (rn) FROM (SELECT *, row_number() OVER (PARTITION BY partition, "offset" ORDER BY _ingested_at, _source_uri, _line) AS rn FROM app_logs) WHERE rn = 1`)
    await wh.query('DROP TABLE app_logs')
    await wh.query('ALTER TABLE app_logs_new RENAME TO app_logs')
    await wh.query('COMMIT')
  })
  await wh.close()
  console.log(`  --apply (delete by rowid + verify, 1 txn)      ${ms(tApply)}   baseline rebuild-by-swap (no verify) ${ms(tSwap)}   ratio ${(tApply / tSwap).toFixed(2)}x   removed ${applied.rowsRemoved}`)

  const dir = path.join(tmp, 'objects')
  mkdirSync(dir)
  const lines = Array.from({length: LINES}, (_, i) => JSON.stringify({offset: i, ts: '2024-05-01T00:00:00Z', msg: 'x'.repeat(80)})).join('\n') + '\n'
  const gz = gzipSync(lines)
  for (let i = 0; i < FILES; i++) writeFileSync(path.join(dir, `app+${i % 4}+${String(Math.floor(i / 4) * LINES).padStart(10, '0')}.json.gz`), gz)
  const files = FILES
  console.log(`objects: ${files} gzipped files of ${LINES} lines (${(gz.length / 1024).toFixed(0)} KiB each)`)
  const [tGunzip] = await time(async () => {
    for (let i = 0; i < FILES; i++) {
      await pipeline(createReadStream(path.join(dir, `app+${i % 4}+${String(Math.floor(i / 4) * LINES).padStart(10, '0')}.json.gz`)), createGunzip(), new Writable({write(_c, _e, cb) { cb() }}))
    }
  })
  const [tCount, res] = await time(() => analyzeObjects({location: dir, pattern: parseNamePattern('kafka-connect'), concurrency: 1}))
  const [tCount4] = await time(() => analyzeObjects({location: dir, pattern: parseNamePattern('kafka-connect'), concurrency: 4}))
  const mb = (files * lines.length) / 1e6
  console.log(`  list + count + analyse (concurrency 1)  ${ms(tCount)} (${(mb / (tCount / 1000)).toFixed(0)} MB/s uncompressed)   baseline gunzip only ${ms(tGunzip)}   ratio ${(tCount / tGunzip).toFixed(2)}x   records ${res.totals.records}`)
  console.log(`  same with concurrency 4                 ${ms(tCount4)}   ratio to gunzip ${(tCount4 / tGunzip).toFixed(2)}x`)
} finally {
  rmSync(tmp, {recursive: true, force: true})
}
