#!/usr/bin/env node
// What a stop costs after heavy loading on DuckDB: the time to close the warehouse (its checkpoint) once the loads
// are done, for a stream loader (it checkpoints between commits every 250,000 rows) against a backfill loader of
// the same objects in the same run (the baseline: checkpointing is left to DuckDB's 512 MB WAL threshold and the
// close). Sizes: STOP_BENCH_OBJECTS JSON-lines objects (default 32) of STOP_BENCH_LINES lines (default 30,000),
// --concurrency 4.
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pLimit from 'p-limit'
import {getFormat} from '../dist/lib/formats/index.js'
import {loadObject} from '../dist/lib/load/object.js'
import {openLoadSession} from '../dist/lib/load/session.js'
import {openStore} from '../dist/lib/store/index.js'
import {openWarehouse} from '../dist/lib/warehouse/index.js'

const OBJECTS = Number(process.env.STOP_BENCH_OBJECTS ?? 32)
const LINES = Number(process.env.STOP_BENCH_LINES ?? 30_000)
const tmp = mkdtempSync(path.join(os.tmpdir(), 'seneka-stop-bench-'))
const src = path.join(tmp, 'in')
mkdirSync(src)
for (let i = 0; i < OBJECTS; i++) {
  const lines = []
  for (let l = 0; l < LINES; l++) lines.push(JSON.stringify({time: new Date(Date.UTC(2024, 4, 1, 0, 0, l % 60)).toISOString(), obj: i, line: l, msg: 'GET /api/items/0123456789 200 with a user agent of some length'}))
  writeFileSync(path.join(src, `o${i}.log`), `${lines.join('\n')}\n`)
}
const format = getFormat('jsonl')
const store = openStore(src)
const objects = []
for await (const o of store.list('')) objects.push(o)

async function run(kind) {
  const db = path.join(tmp, `${kind}.duckdb`)
  const wh = await openWarehouse(`duckdb:${db}`)
  const bulk = kind === 'backfill'
  const session = await openLoadSession(wh, {table: 'app', format, concurrency: 4, bulk})
  const limit = pLimit(session.inFlight)
  const t0 = performance.now()
  await Promise.all(objects.map((object) => limit(() => loadObject({loader: session.loader, store, table: 'app', format, object, loadId: kind, path: bulk ? 'backfill' : 'stream'}))))
  const loaded = performance.now()
  await session.loader.close()
  await wh.close()
  const closed = performance.now()
  return {loadS: (loaded - t0) / 1000, closeS: (closed - loaded) / 1000}
}

try {
  const baseline = await run('backfill')
  const stream = await run('stream')
  const rows = (OBJECTS * LINES).toLocaleString('en-US')
  console.log(`${OBJECTS} objects, ${rows} rows, --concurrency 4`)
  console.log(`backfill loader (baseline): load ${baseline.loadS.toFixed(2)} s, close ${baseline.closeS.toFixed(2)} s`)
  console.log(`stream loader:              load ${stream.loadS.toFixed(2)} s, close ${stream.closeS.toFixed(2)} s`)
  console.log(`close: stream / backfill ${(stream.closeS / baseline.closeS).toFixed(2)}x; load: stream / backfill ${(stream.loadS / baseline.loadS).toFixed(2)}x`)
} finally {
  rmSync(tmp, {recursive: true, force: true})
}
