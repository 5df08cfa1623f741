#!/usr/bin/env node
// Backfill throughput and memory: seneka backfill into DuckDB vs DuckDB's own read_csv over the same gzipped ALB
// files (the engine's ceiling) and plain gunzip of the files (the floor). Each phase runs in its own process so
// peak RSS is its own. Sizes: BACKFILL_BENCH_FILES (default 20) files of BACKFILL_BENCH_LINES (default 10000)
// lines; the memory check repeats seneka on 10x the files unless BACKFILL_BENCH_SKIP_10X=1; JSON lines at 1x and
// 10x unless BACKFILL_BENCH_SKIP_JSONL=1 (BACKFILL_BENCH_SKIP_ALB=1: JSON lines only). ALB's default is DuckDB parsing
// the lines (the raw path); the JavaScript fast path (SENEKA_DUCKDB_RAW=0) runs beside it at 1x and 10x unless
// BACKFILL_BENCH_SKIP_FAST=1 (for JSON lines too: DuckDB parsing them beside the JavaScript parser), the parser alone (SENEKA_FAST_STAGE=0) at 1x unless BACKFILL_BENCH_SKIP_PARSER=1.
import {spawnSync} from 'node:child_process'
import {createReadStream, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {pipeline} from 'node:stream/promises'
import {createGunzip} from 'node:zlib'
import {Writable} from 'node:stream'

const here = path.dirname(fileURLToPath(import.meta.url))
const FILES = Number(process.env.BACKFILL_BENCH_FILES ?? 20)
const LINES = Number(process.env.BACKFILL_BENCH_LINES ?? 10000)
const CONCURRENCY = Number(process.env.BACKFILL_BENCH_CONCURRENCY ?? 4)

function walk(dir) {
  return readdirSync(dir, {withFileTypes: true}).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]))
}

async function generate(dir, files) {
  if (existsSync(path.join(dir, '.complete'))) return
  rmSync(dir, {recursive: true, force: true})
  const {generateAlbFiles} = await import('../dist/lib/demo/alb-generator.js')
  let n = 0
  // one node, 5-minute files: `files` files over as many days as needed
  for (const f of generateAlbFiles({start: new Date('2024-05-01T00:00:00Z'), days: Math.ceil(files / 288), nodes: 1, linesPerFile: LINES, seed: 11})) {
    if (n++ >= files) break
    const p = path.join(dir, f.key)
    mkdirSync(path.dirname(p), {recursive: true})
    writeFileSync(p, f.body)
  }
  writeFileSync(path.join(dir, '.complete'), '')
}

// ---- phases (run in child processes) -------------------------------------------------------------
async function phaseGunzip(dir) {
  let bytes = 0
  for (const f of walk(dir).filter((f) => f.endsWith('.gz'))) {
    await pipeline(createReadStream(f), createGunzip(), new Writable({write(c, _e, cb) { bytes += c.length; cb() }}))
  }
  return {bytes}
}

const RAW_COLUMNS = {
  type: 'VARCHAR', time: 'TIMESTAMP', elb: 'VARCHAR', client_port: 'VARCHAR', target_port: 'VARCHAR',
  request_processing_time: 'DOUBLE', target_processing_time: 'DOUBLE', response_processing_time: 'DOUBLE',
  elb_status_code: 'INTEGER', target_status_code: 'INTEGER', received_bytes: 'BIGINT', sent_bytes: 'BIGINT',
  request: 'VARCHAR', user_agent: 'VARCHAR', ssl_cipher: 'VARCHAR', ssl_protocol: 'VARCHAR', target_group_arn: 'VARCHAR',
  trace_id: 'VARCHAR', domain_name: 'VARCHAR', chosen_cert_arn: 'VARCHAR', matched_rule_priority: 'INTEGER',
  request_creation_time: 'TIMESTAMP', actions_executed: 'VARCHAR', redirect_url: 'VARCHAR', error_reason: 'VARCHAR',
  target_port_list: 'VARCHAR', target_status_code_list: 'VARCHAR', classification: 'VARCHAR',
  classification_reason: 'VARCHAR', conn_trace_id: 'VARCHAR', transformed_host: 'VARCHAR', transformed_uri: 'VARCHAR',
  request_transform_status: 'VARCHAR',
}

async function phaseDuckdb(dir, db) {
  const {DuckDBInstance} = await import('@duckdb/node-api')
  const inst = await DuckDBInstance.create(db)
  const c = await inst.connect()
  const cols = Object.entries(RAW_COLUMNS).map(([k, v]) => `'${k}': '${v}'`).join(', ')
  const r = await c.runAndReadAll(
    `CREATE TABLE native AS SELECT * FROM read_csv('${dir}/**/*.log.gz', delim=' ', quote='"', escape='\\', header=false, nullstr='-', null_padding=true, columns={${cols}})`,
  )
  const rows = Number((await c.runAndReadAll('SELECT count(*) AS n FROM native')).getRowObjects()[0].n)
  void r
  c.closeSync()
  inst.closeSync()
  return {rows}
}

/** JSON lines as a Kafka consumer writes them: one object per line, a time, a level, a message, partition/offset. */
async function generateJsonl(dir, files) {
  if (existsSync(path.join(dir, '.complete'))) return
  rmSync(dir, {recursive: true, force: true})
  mkdirSync(dir, {recursive: true})
  const {gzipSync} = await import('node:zlib')
  const levels = ['info', 'info', 'info', 'warn', 'error', 'debug']
  let offset = 0
  for (let f = 0; f < files; f++) {
    const lines = []
    for (let i = 0; i < LINES; i++, offset++) {
      const ts = new Date(Date.UTC(2024, 4, 1) + offset * 37).toISOString()
      lines.push(JSON.stringify({ts, level: levels[offset % levels.length], message: `order ${offset} processed in ${offset % 997} ms`, topic: 'orders', partition: f % 8, offset, user: {id: `u${offset % 5003}`, country: ['de', 'fr', 'us', 'jp'][offset % 4]}, latency_ms: (offset % 997) + 0.5}))
    }
    writeFileSync(path.join(dir, `orders-p${f % 8}-${String(f).padStart(5, '0')}.jsonl.gz`), gzipSync(`${lines.join('\n')}\n`))
  }
  writeFileSync(path.join(dir, '.complete'), '')
}

async function phaseDuckdbJson(dir, db) {
  const {DuckDBInstance} = await import('@duckdb/node-api')
  const inst = await DuckDBInstance.create(db)
  const c = await inst.connect()
  // the promoted columns typed as seneka types them; DuckDB's reader keeps no per-line rejects and no raw record
  await c.run(
    `CREATE TABLE native AS SELECT * FROM read_json('${dir}/*.jsonl.gz', format = 'newline_delimited', columns = {'ts': 'TIMESTAMPTZ', 'level': 'VARCHAR', 'message': 'VARCHAR', 'topic': 'VARCHAR', 'partition': 'INTEGER', 'offset': 'BIGINT', 'user': 'JSON', 'latency_ms': 'DOUBLE'})`,
  )
  const rows = Number((await c.runAndReadAll('SELECT count(*) AS n FROM native')).getRowObjects()[0].n)
  c.closeSync()
  inst.closeSync()
  return {rows}
}

async function phaseSeneka(dir, db, formatName = 'alb') {
  const {runBackfill} = await import('../dist/lib/backfill/run.js')
  const {getFormat} = await import('../dist/lib/formats/index.js')
  const jsonl = formatName === 'jsonl'
  const format = jsonl ? getFormat('jsonl', {columns: [{name: 'partition', type: 'int'}, {name: 'offset', type: 'bigint'}]}) : getFormat('alb')
  const r = await runBackfill({sources: [dir], include: [jsonl ? '*.jsonl.gz' : '*.log.gz'], format, warehouse: `duckdb:${db}`, table: jsonl ? 'app_logs' : 'alb_logs', range: {}, concurrency: CONCURRENCY, dryRun: false})
  if (r.objects.failed > 0) throw new Error(`${r.objects.failed} objects failed`)
  return {rows: r.rows, bytes: r.bytesUncompressed}
}

if (process.argv[2] === '--phase') {
  const [, , , phase, dir, db] = process.argv
  const t0 = performance.now()
  const phases = {gunzip: () => phaseGunzip(dir), duckdb: () => phaseDuckdb(dir, db), seneka: () => phaseSeneka(dir, db), 'duckdb-json': () => phaseDuckdbJson(dir, db), 'seneka-jsonl': () => phaseSeneka(dir, db, 'jsonl')}
  const out = await phases[phase]()
  const ms = performance.now() - t0
  const ru = process.resourceUsage()
  // CPU of every thread of the process (parse workers, DuckDB's threads, zlib)
  process.stdout.write(JSON.stringify({...out, ms, maxRssMiB: ru.maxRSS / 1024, cpuMs: (ru.userCPUTime + ru.systemCPUTime) / 1000}))
  process.exit(0)
}

// ---- orchestration -----------------------------------------------------------------------------
function run(phase, dir, db, env = {}) {
  if (db) rmSync(db, {force: true})
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--phase', phase, dir, db ?? ''], {encoding: 'utf8', maxBuffer: 1e7, env: {...process.env, ...env}})
  if (r.status !== 0) throw new Error(`${phase} failed: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

const REPS = Number(process.env.BACKFILL_BENCH_REPS ?? 3)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (x) => x.toFixed(2)

/**
 * DuckDB native, seneka (its default: for ALB DuckDB parses the lines), the JavaScript fast path
 * (SENEKA_DUCKDB_RAW=0) and seneka with the parser only (SENEKA_FAST_STAGE=0), alternating REPS times on the same
 * files (the machine is shared: ratios per round, then the median).
 */
function compare(label, dir, db, withParser, phases = {native: 'duckdb', seneka: 'seneka'}, withFast = false) {
  const rounds = []
  for (let i = 0; i < REPS; i++) {
    const duck = run(phases.native, dir, db)
    const sen = run(phases.seneka, dir, db)
    const parser = withParser ? run('seneka', dir, db, {SENEKA_FAST_STAGE: '0'}) : undefined
    const fast = withFast ? run(phases.seneka, dir, db, {SENEKA_DUCKDB_RAW: '0'}) : undefined
    rounds.push({duck, sen, parser, fast})
    if (fast && fast.rows !== sen.rows) console.log(`warning: row counts differ (DuckDB parsing ${sen.rows}, fast path ${fast.rows})`)
    if (duck.rows !== sen.rows) console.log(`warning: row counts differ (duckdb ${duck.rows}, seneka ${sen.rows})`)
  }
  const rows = rounds[0].sen.rows
  const mb = rounds[0].sen.bytes / 1e6
  const show = (name, pick) => {
    const ms = median(rounds.map((r) => pick(r).ms))
    const rss = median(rounds.map((r) => pick(r).maxRssMiB))
    const cpu = median(rounds.map((r) => pick(r).cpuMs))
    console.log(`${label} ${name.padEnd(26)} ${fmt(mb / (ms / 1000)).padStart(8)} MB/s ${String(Math.round(rows / (ms / 1000))).padStart(10)} rows/s ${fmt(rss).padStart(8)} MiB peak RSS ${fmt(cpu / 1000).padStart(6)} s CPU (${Math.round((100 * cpu) / ms)}%)`)
    return {ms, rss}
  }
  const d = show(phases.native === 'duckdb' ? 'duckdb read_csv (native)' : 'duckdb read_json (native)', (r) => r.duck)
  const s = show(withFast ? 'seneka (DuckDB parses)' : 'seneka backfill', (r) => r.sen)
  const ratios = rounds.map((r) => r.duck.ms / r.sen.ms)
  console.log(`${label} ratio seneka / native: median ${fmt(median(ratios))}x (rounds ${ratios.map(fmt).join(', ')}); RSS seneka - native ${fmt(s.rss - d.rss)} MiB`)
  if (withFast) {
    show(phases.seneka === 'seneka' ? 'seneka, JS fast path' : 'seneka, JS parser', (r) => r.fast)
    console.log(`${label} ratio fast-path / native: median ${fmt(median(rounds.map((r) => r.duck.ms / r.fast.ms)))}x (rounds ${rounds.map((r) => fmt(r.duck.ms / r.fast.ms)).join(', ')}); DuckDB-parses / fast path: time ${fmt(median(rounds.map((r) => r.fast.ms / r.sen.ms)))}x faster, CPU ${fmt(median(rounds.map((r) => r.sen.cpuMs / r.fast.cpuMs)))}x`)
  }
  if (withParser) {
    const p = show('seneka, parser only (before)', (r) => r.parser)
    console.log(`${label} ratio parser-only / native: ${fmt(median(rounds.map((r) => r.duck.ms / r.parser.ms)))}x; fast path / parser-only: ${fmt(median(rounds.map((r) => r.parser.ms / r.sen.ms)))}x`)
    void p
  }
  return {d, s, rows}
}

const dataRoot = path.join(here, '.data')
const small = path.join(dataRoot, `alb-${FILES}x${LINES}`)
await generate(small, FILES)
const compressed = walk(small).filter((f) => f.endsWith('.gz')).reduce((s, f) => s + statSync(f).size, 0)
const db = path.join(dataRoot, 'bench.duckdb')

if (process.env.BACKFILL_BENCH_SKIP_ALB !== '1') {
  const gz = run('gunzip', small)
  console.log(`${FILES} files x ${LINES} lines: ${fmt(compressed / 1e6)} MB gzipped, ${fmt(gz.bytes / 1e6)} MB uncompressed; seneka concurrency ${CONCURRENCY}; ${REPS} alternating rounds`)
  console.log(`1x  gunzip only (floor)          ${fmt(gz.bytes / 1e6 / (gz.ms / 1000)).padStart(8)} MB/s ${fmt(gz.maxRssMiB).padStart(8)} MiB peak RSS`)
  // the JavaScript fast path (SENEKA_DUCKDB_RAW=0) beside the default unless BACKFILL_BENCH_SKIP_FAST=1
  const withFast = process.env.BACKFILL_BENCH_SKIP_FAST !== '1'
  const one = compare('1x ', small, db, process.env.BACKFILL_BENCH_SKIP_PARSER !== '1', undefined, withFast)

  if (process.env.BACKFILL_BENCH_SKIP_10X !== '1') {
    const big = path.join(dataRoot, `alb-${FILES * 10}x${LINES}`)
    await generate(big, FILES * 10)
    const ten = compare('10x', big, db, false, undefined, withFast)
    console.log(`memory: seneka peak RSS ${fmt(one.s.rss)} MiB at 1x, ${fmt(ten.s.rss)} MiB at 10x: ratio ${fmt(ten.s.rss / one.s.rss)}x (target <= 1.2x); ${fmt(ten.s.rss / ten.d.rss)}x native's at 10x (target <= 1.2x)`)
  }
}
if (process.env.BACKFILL_BENCH_SKIP_JSONL !== '1') {
  const jdir = path.join(dataRoot, `jsonl-${FILES}x${LINES}`)
  await generateJsonl(jdir, FILES)
  const jgz = readdirSync(jdir).filter((f) => f.endsWith('.gz')).reduce((s, f) => s + statSync(path.join(jdir, f)).size, 0)
  console.log(`JSON lines: ${FILES} files x ${LINES} lines, ${fmt(jgz / 1e6)} MB gzipped; native = DuckDB read_json with the same typed columns`)
  // DuckDB parsing the lines (the default) beside the JavaScript parser (SENEKA_DUCKDB_RAW=0) unless BACKFILL_BENCH_SKIP_FAST=1
  const withFast = process.env.BACKFILL_BENCH_SKIP_FAST !== '1'
  compare('jsonl', jdir, db, false, {native: 'duckdb-json', seneka: 'seneka-jsonl'}, withFast)
  // at 1x native's whole read takes less than seneka's start-up: 10x shows the per-line cost
  if (process.env.BACKFILL_BENCH_SKIP_10X !== '1') {
    const jbig = path.join(dataRoot, `jsonl-${FILES * 10}x${LINES}`)
    await generateJsonl(jbig, FILES * 10)
    compare('jsonl 10x', jbig, db, false, {native: 'duckdb-json', seneka: 'seneka-jsonl'}, withFast)
  }
}
rmSync(db, {force: true})
