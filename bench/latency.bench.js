#!/usr/bin/env node
// latency-report: quantiles pushed down to DuckDB (exact quantile_cont, approx_quantile) and computed client-side
// from a paged HDR histogram, against the naive baseline (fetch every latency into Node and sort). Each phase runs
// in its own process so its peak RSS is its own. Size: LATENCY_BENCH_ROWS (default 2,000,000) rows.
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const ROWS = Number(process.env.LATENCY_BENCH_ROWS ?? 2_000_000)
const self = fileURLToPath(import.meta.url)

async function open(file) {
  const {DuckDBWarehouse} = await import('../dist/lib/warehouse/duckdb/warehouse.js')
  return DuckDBWarehouse.open(file)
}

async function generate(file) {
  const wh = await open(file)
  // log-normal-ish latencies around a minute, a few negative (skewed clocks), 24 hours of events
  await wh.query(`CREATE TABLE logs AS SELECT
      make_timestamp(1714521600000000 + (i * 86400000000 // ${ROWS})) AS event_time,
      make_timestamp(1714521600000000 + (i * 86400000000 // ${ROWS}) + 5000000) AS _object_modified_at,
      make_timestamp(1714521600000000 + (i * 86400000000 // ${ROWS}) + 5000000
        + CAST(exp(4 + 1.2 * sqrt(-2 * ln(random() + 1e-12)) * cos(6.283185 * random())) * 1e6 AS BIGINT) - 3000000) AS _ingested_at,
      's3://bucket-' || (i % 4) || '/k' AS _source_uri, 'stream' AS _load_path
    FROM range(${ROWS}) t(i)`)
  await wh.close()
}

async function phase(name, file) {
  const {latencyReport} = await import('../dist/lib/latency/index.js')
  const wh = await open(file)
  const t0 = performance.now()
  let q
  if (name === 'baseline') {
    const rows = await wh.query('SELECT epoch_us(_ingested_at) / 1e6 - epoch_us(_object_modified_at) / 1e6 AS x FROM logs')
    const xs = Float64Array.from(rows, (r) => r.x).sort()
    const at = (p) => xs[Math.min(xs.length - 1, Math.ceil(p * xs.length) - 1)]
    q = {p50: at(0.5), p99: at(0.99), p99_9: at(0.999)}
  } else {
    const opts = {table: 'logs', bins: 40, binScale: 'log', approximate: name === 'approx', compute: name === 'client' ? 'client' : 'warehouse'}
    const r = await latencyReport(wh, opts)
    q = {p50: r.p50, p99: r.p99, p99_9: r.p99_9}
  }
  const ms = performance.now() - t0
  await wh.close()
  console.log(JSON.stringify({name, ms, rssMiB: process.resourceUsage().maxRSS / 1024, ...q}))
}

if (process.argv[2] === '--phase') {
  await phase(process.argv[3], process.argv[4])
} else {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'seneka-latency-bench-'))
  const file = path.join(dir, 'bench.duckdb')
  try {
    const g0 = performance.now()
    await generate(file)
    console.log(`${ROWS.toLocaleString('en-US')} rows generated in ${((performance.now() - g0) / 1000).toFixed(1)}s`)
    const results = {}
    for (const name of ['baseline', 'exact', 'approx', 'client']) {
      const r = spawnSync(process.execPath, [self, '--phase', name, file], {encoding: 'utf8'})
      if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr}`)
      results[name] = JSON.parse(r.stdout.trim().split('\n').at(-1))
    }
    const base = results.baseline
    console.log('phase     time      vs baseline  peak RSS   p50      p99      p99.9')
    for (const r of Object.values(results)) {
      console.log(
        `${r.name.padEnd(9)} ${(r.ms / 1000).toFixed(2).padStart(6)}s   ${(base.ms / r.ms).toFixed(2).padStart(6)}x   ${r.rssMiB.toFixed(0).padStart(5)} MiB  ${r.p50.toFixed(2).padStart(7)} ${r.p99.toFixed(2).padStart(8)} ${r.p99_9.toFixed(2).padStart(8)}`,
      )
    }
    console.log('(vs baseline: how many times faster than fetching every latency into Node and sorting; the reports also compute bins, late data and min/max/mean)')
  } finally {
    if (existsSync(dir)) rmSync(dir, {recursive: true, force: true})
  }
}
