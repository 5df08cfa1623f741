#!/usr/bin/env node
// BigQuery Storage Write API on loopback doubles: the strict gRPC double of BigQueryWrite and the REST/GCS double of
// test/helpers, in a process of their own (bench/lib/google-doubles.mjs, TypeScript loaded with Node's own type
// stripping: bench/lib/ts-hooks.mjs). Three phases, each beside its baseline in the same run:
// 1. stream: small ALB objects put into S3 (fauxqs, in-process) with their SQS event at 5 and 50 objects/s;
//    PutObject -> rows committed (the worker's commit returned: rows visible in the double's table, ledger
//    recorded), p50/p99, --load-method write-api beside load-jobs at its shortest --max-latency (58 s).
// 2. backfill: `seneka backfill` of the backfill bench's gzipped ALB files, one process, --load-method write-api
//    (into the doubles) vs into a DuckDB file; 4 `--shard i/4` processes on one table vs 1; DML statements at the
//    double counted; a CPU profile of the Write API run (--cpu-prof), by thread. The Write API double keeps the
//    target table's rows serialized as they arrive and decodes them when the bench counts them after the run
//    (the real service decodes on Google's machines, not the worker's); each round also runs with the double
//    decoding every row on arrival, as the test suite's does (the second ratio).
// 3. memory: a spawned Write API backfill worker's RSS at every 100th object: around 1,000 vs the end (and 10,000).
// Sizes: WAPI_BENCH_STREAM_SECONDS (10) of write-api arrivals, WAPI_BENCH_LOADJOBS_SECONDS (10) of load-jobs
// arrivals (each such run still lasts the 58 s window), WAPI_BENCH_LINES (20) lines per stream object,
// BACKFILL_BENCH_FILES/LINES as bench/backfill.bench.js, WAPI_BENCH_REPS (3), WAPI_BENCH_RSS_OBJECTS (3000),
// WAPI_BENCH_RSS_CONCURRENCY (16). Skips: WAPI_BENCH_SKIP=1
// (all), WAPI_BENCH_SKIP_STREAM, WAPI_BENCH_SKIP_LOADJOBS, WAPI_BENCH_SKIP_BACKFILL, WAPI_BENCH_SKIP_PROFILE,
// WAPI_BENCH_SKIP_RSS, WAPI_BENCH_SKIP_VARIANTS (the stream phase's non-default settings), WAPI_BENCH_SKIP_STRICT (the
// backfill rounds with the double decoding rows on arrival).
import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {gzipSync} from 'node:zlib'
import {startDoubles} from './lib/google-doubles-client.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.dirname(here)
const env = process.env
if (env.WAPI_BENCH_SKIP === '1') {
  console.log('skipped (WAPI_BENCH_SKIP=1)')
  process.exit(0)
}
const {albLine, prng} = await import('../dist/lib/demo/alb-generator.js')

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (x, d = 2) => x.toFixed(d)
const tmp = mkdtempSync(path.join(os.tmpdir(), 'seneka-wapi-bench-'))
const DATASET = 'bench'
const PROJECT = 'bench-project'

// ---- 1. stream latency ---------------------------------------------------------------------------------------
async function streamPhase() {
  const {startFauxqs} = await import('fauxqs')
  const {CreateBucketCommand, PutObjectCommand, S3Client} = await import('@aws-sdk/client-s3')
  const {CreateQueueCommand, SendMessageCommand, SQSClient} = await import('@aws-sdk/client-sqs')
  const {runStream} = await import('../dist/lib/stream/run.js')
  const {getFormat} = await import('../dist/lib/formats/index.js')
  const server = await startFauxqs({port: 0, logger: false})
  const endpoint = server.address
  Object.assign(env, {AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_S3: endpoint, AWS_ENDPOINT_URL_SQS: endpoint})
  const s3 = new S3Client({endpoint, forcePathStyle: true})
  const sqs = new SQSClient({endpoint})
  await s3.send(new CreateBucketCommand({Bucket: 'alb-logs'}))
  const google = await startDoubles()
  // rows decoded at their commit, as the test suite's double does: visibleAt is then the commit's time
  await google.call('strictRows', {on: true})
  const LINES = Number(env.WAPI_BENCH_LINES ?? 20)
  const rand = prng(5)
  let seq = 0

  let variants = 0
  /** One worker at one rate; `variant` names a non-default setting (its own table and queue). */
  async function run(method, rate, seconds, variant) {
    // each run its own queue, table and keys (a variant's objects are new objects, not ones loaded before)
    const name = `${method.replace('-', '')}${rate}${variant ? `v${++variants}` : ''}`
    const queue = (await sqs.send(new CreateQueueCommand({QueueName: name}))).QueueUrl
    const total = Math.max(1, Math.round(rate * seconds))
    const putAt = new Map()
    const latencies = []
    const abort = new AbortController()
    let rows = 0
    const dmlBefore = await google.call('dml')
    // where an object's time goes: when each step of its load was first reached, from its PutObject
    const steps = new Map()
    const onStep = method === 'write-api' ? (step, uri) => {
      const t = putAt.get(uri)
      if (t === undefined) return
      const at = steps.get(step) ?? new Map()
      steps.set(step, at)
      if (!at.has(uri)) at.set(uri, Date.now() - t)
    } : undefined
    const worker = runStream(
      {
        queue, format: getFormat('alb'), warehouse: `bigquery://${PROJECT}/${DATASET}`, table: name, concurrency: 8, waitSeconds: 1, statusIntervalMs: 0, signal: abort.signal, retries: 4,
        bigquery: {
          location: 'EU', apiEndpoint: google.endpoint, gcsEndpoint: google.endpoint, loadMethod: method, storageEmulatorHost: google.host,
          ...(method === 'load-jobs' ? {staging: 'gs://bench-staging/seneka', maxLatencyMs: 58_000} : {}),
          overrides: {retryBaseDelayMs: 5, pollIntervalMs: 5, ...(variant?.overrides ?? {}), ...(onStep ? {writeApi: {...variant?.overrides?.writeApi, onStep}} : {})},
        },
      },
      {
        onLoaded: (o) => {
          const t = putAt.get(o.uri)
          if (t === undefined || o.outcome !== 'loaded') return
          // committed: the worker's commit returned (write-api: stream committed and ledger row appended; load-jobs:
          // the merge transaction committed), so a query sees the rows from here on
          latencies.push(Date.now() - t)
          rows += o.rows
          if (latencies.length === total) abort.abort()
        },
      },
    )
    const first = Date.now()
    for (let i = 0; i < total; i++) {
      const wait = first + (i * 1000) / rate - Date.now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      const at = first + i * 40
      const text = `${Array.from({length: LINES}, (_, l) => albLine(rand, at + l * 10, {account: '1', region: 'eu-west-1', lb: 'app/bench/x'})).join('\n')}\n`
      const key = `AWSLogs/1/elasticloadbalancing/eu-west-1/2024/05/01/${name}_${String(i).padStart(6, '0')}.log.gz`
      const body = gzipSync(text)
      const started = Date.now()
      const res = await s3.send(new PutObjectCommand({Bucket: 'alb-logs', Key: key, Body: body}))
      putAt.set(`s3://alb-logs/${key}`, started)
      seq++
      const record = {eventVersion: '2.1', eventSource: 'aws:s3', eventTime: new Date().toISOString(), eventName: 'ObjectCreated:Put', s3: {bucket: {name: 'alb-logs'}, object: {key, size: body.length, eTag: res.ETag.replaceAll('"', ''), sequencer: seq.toString(16).toUpperCase().padStart(16, '0')}}}
      await sqs.send(new SendMessageCommand({QueueUrl: queue, MessageBody: JSON.stringify({Records: [record]})}))
    }
    const r = await worker
    latencies.sort((a, b) => a - b)
    const visible = await google.call('rows', {table: `${DATASET}.${name}`})
    // queryable: when the double made the object's rows visible (its stream's batch commit), from its PutObject;
    // the worker reports the object later (its committed ledger row, the check for a rival's commit)
    const shown = (await google.call('visibleAt', {table: `${DATASET}.${name}`})).map(([uri, at]) => at - putAt.get(uri)).sort((a, b) => a - b)
    await google.call('trim')
    const out = {method: variant ? `${method}, ${variant.label}` : method, rate, total, loaded: r.objects.loaded, rows, visible, p50: pct(latencies, 50), p99: pct(latencies, 99), max: latencies.at(-1), dml: await google.call('dml') - dmlBefore}
    if (shown.length > 0) Object.assign(out, {q50: pct(shown, 50), q99: pct(shown, 99)})
    const queryable = out.q50 === undefined ? '' : `queryable p50 ${String(out.q50).padStart(6)} ms  p99 ${String(out.q99).padStart(6)} ms; `
    console.log(`  ${out.method.padEnd(9)} ${String(rate).padStart(2)}/s x ${String(total).padStart(4)} objects: ${queryable}reported p50 ${String(out.p50).padStart(6)} ms  p99 ${String(out.p99).padStart(6)} ms  max ${String(out.max).padStart(6)} ms  (rows committed ${rows}, in the table ${visible}; DML statements ${out.dml})`)
    if (steps.size > 0) console.log(`    step medians from PutObject (ms): ${[...steps].map(([step, at]) => `${step} ${median([...at.values()])}`).join(', ')}`)
    if (visible !== rows) console.log(`  warning: ${rows} rows reported committed, ${visible} in the double's table`)
    return out
  }

  const seconds = Number(env.WAPI_BENCH_STREAM_SECONDS ?? 10)
  const ljSeconds = Number(env.WAPI_BENCH_LOADJOBS_SECONDS ?? 10)
  console.log(`stream: ALB objects of ${LINES} lines (gzipped), S3 + SQS (fauxqs) -> seneka stream -> BigQuery doubles; --concurrency 8`)
  const results = []
  for (const rate of [5, 50]) {
    results.push(await run('write-api', rate, seconds))
    // not defaults: a worker alone in its project (a third of the CreateWriteStream quota is the default budget);
    // look-ups paced at 1 s (a quarter of the billed statements); look-ups unpaced (what the pacing costs)
    if (env.WAPI_BENCH_SKIP_VARIANTS !== '1') {
      // the baseline of the committed lane: every group in a PENDING stream of its own (the CreateWriteStream budget)
      await run('write-api', rate, seconds, {label: 'pending streams only', overrides: {writeApi: {groups: {committedLane: false}}}})
      await run('write-api', rate, seconds, {label: 'pending only, one worker (9,000 streams/h)', overrides: {writeApi: {groups: {committedLane: false, streamsPerHour: 9000}}}})
      await run('write-api', rate, seconds, {label: 'look-ups 1 s', overrides: {writeApi: {minLookupIntervalMs: 1000}}})
      await run('write-api', rate, seconds, {label: 'look-ups unpaced', overrides: {writeApi: {minLookupIntervalMs: 0}}})
    }
    if (env.WAPI_BENCH_TRY) await run('write-api', rate, seconds, {label: 'try', overrides: {writeApi: JSON.parse(env.WAPI_BENCH_TRY)}})
    if (env.WAPI_BENCH_SKIP_LOADJOBS !== '1') results.push(await run('load-jobs', rate, ljSeconds))
  }
  for (const rate of [5, 50]) {
    const w = results.find((r) => r.method === 'write-api' && r.rate === rate)
    const l = results.find((r) => r.method === 'load-jobs' && r.rate === rate)
    // the target is PutObject -> queryable: the double's commit of the object's rows
    const verdict = `target p50 <= 500 ms: ${w.q50 <= 500 ? 'met' : 'NOT met'}; p99 <= 2,000 ms: ${w.q99 <= 2000 ? 'met' : 'NOT met'}`
    console.log(`  ${rate}/s: write-api queryable p50 ${w.q50} ms, p99 ${w.q99} ms (${verdict}); reported p50 ${w.p50} ms, p99 ${w.p99} ms${l ? `; load-jobs p50 ${l.p50} ms, p99 ${l.p99} ms; load-jobs / write-api: p50 ${fmt(l.p50 / w.q50)}x, p99 ${fmt(l.p99 / w.q99)}x` : ''}`)
  }
  if (env.WAPI_BENCH_SKIP_LOADJOBS !== '1') console.log(`  load-jobs: arrivals spread over ${ljSeconds} s of the 58 s window; in a steady stream they cover all of it: p50 about 29 s + the merge, p99 about 57.4 s + the merge`)
  s3.destroy()
  sqs.destroy()
  await google.close()
  await server.stop()
}

// ---- 2. backfill: Write API vs DuckDB, 4 shards vs 1 ------------------------------------------------------------
const USAGE_HOOK = path.join(here, 'lib', 'usage.mjs')
/** the seneka processes running: a failed bench must not leave them waiting for doubles that are gone */
const children = new Set()
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL')
})

/** `seneka backfill` in its own process; resolves with its wall time, its CPU (all threads) and its --json result. */
function backfill(args, extraEnv = {}, nodeArgs = []) {
  const usage = path.join(tmp, `usage-${Math.random().toString(36).slice(2)}.json`)
  const t0 = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, '--import', USAGE_HOOK, path.join(root, 'bin', 'run.js'), 'backfill', ...args, '--json'], {env: {...env, ...extraEnv, SENEKA_USAGE_FILE: usage, SENEKA_CONFIG: ''}, stdio: ['ignore', 'pipe', 'pipe']})
    children.add(child)
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('close', (code) => {
      children.delete(child)
      const ms = performance.now() - t0
      if (code !== 0) return reject(new Error(`backfill ${args.join(' ')} exited ${code}: ${err.split("\n").filter((l) => !l.startsWith("ledger look-up")).join("\n").slice(-3000)} ${out.slice(0, 3000)}`))
      const u = JSON.parse(readFileSync(usage, 'utf8'))
      resolve({ms, cpuMs: u.cpuMs, maxRssMiB: u.maxRssMiB, result: JSON.parse(out).result})
    })
  })
}

async function albFiles() {
  const FILES = Number(env.BACKFILL_BENCH_FILES ?? 20)
  const LINES = Number(env.BACKFILL_BENCH_LINES ?? 10000)
  const dir = path.join(here, '.data', `alb-${FILES}x${LINES}`)
  if (!existsSync(path.join(dir, '.complete'))) {
    rmSync(dir, {recursive: true, force: true})
    const {generateAlbFiles} = await import('../dist/lib/demo/alb-generator.js')
    let n = 0
    for (const f of generateAlbFiles({start: new Date('2024-05-01T00:00:00Z'), days: Math.ceil(FILES / 288), nodes: 1, linesPerFile: LINES, seed: 11})) {
      if (n++ >= FILES) break
      mkdirSync(path.dirname(path.join(dir, f.key)), {recursive: true})
      writeFileSync(path.join(dir, f.key), f.body)
    }
    writeFileSync(path.join(dir, '.complete'), '')
  }
  return {dir, files: FILES, lines: LINES}
}

/** Self time per thread of a --cpu-prof directory: the top functions of each profile. */
function summarizeProfiles(dir) {
  const out = []
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'))) {
    const p = JSON.parse(readFileSync(path.join(dir, f), 'utf8'))
    const dt = new Map()
    for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0))
    const self = new Map()
    let total = 0
    let idle = 0
    for (const n of p.nodes) {
      const us = dt.get(n.id) ?? 0
      const fn = n.callFrame.functionName || '(anonymous)'
      if (fn === '(idle)') {
        idle += us
        continue
      }
      total += us
      const where = n.callFrame.url ? `${path.basename(n.callFrame.url)}:${n.callFrame.lineNumber + 1}` : ''
      const k = `${fn} ${where}`.trim()
      self.set(k, (self.get(k) ?? 0) + us)
    }
    // Node names the profiles CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: thread 0 is the main thread
    const thread = Number(f.split('.').at(-3)) === 0 ? 'main' : `worker ${f.split('.').at(-3)}`
    const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8)
    out.push({thread, busyMs: total / 1000, idleMs: idle / 1000, top: top.map(([k, us]) => ({fn: k, ms: us / 1000}))})
  }
  return out.sort((a, b) => (a.thread === 'main' ? -1 : b.thread === 'main' ? 1 : a.thread.localeCompare(b.thread)))
}

async function backfillPhase() {
  const {dir, files, lines} = await albFiles()
  const google = await startDoubles()
  const gEnv = google.env
  const bq = (table) => ['--warehouse', `bigquery://${PROJECT}/${DATASET}`, '--location', 'EU', '--load-method', 'write-api', '--table', table, '--concurrency', '4']
  const common = [dir, '--format', 'alb']
  const REPS = Number(env.WAPI_BENCH_REPS ?? 3)
  console.log(`backfill: ${files} gzipped ALB files x ${lines} lines (the backfill bench's), seneka backfill --concurrency 4, each run its own process; ${REPS} alternating rounds`)
  const rounds = []
  /** one write-api run into a table of its own; the rows the double then holds are decoded and counted after it */
  async function wapiRun(table) {
    const before = await google.call('dml')
    const cpuBefore = await google.call('cpuMs')
    const run = await backfill([...common, ...bq(table)], gEnv)
    const doublesCpuMs = (await google.call('cpuMs')) - cpuBefore
    const dml = (await google.call('dml')) - before
    const inTable = await google.call('rows', {table: `${DATASET}.${table}`})
    if (inTable !== run.result.rows) console.log(`  warning: ${run.result.rows} rows reported committed, ${inTable} in the double's table ${table}`)
    await google.call('trim')
    return {...run, dml, doublesCpuMs}
  }
  for (let i = 0; i < REPS; i++) {
    const db = path.join(tmp, `duck-${i}.duckdb`)
    const duck = await backfill([...common, '--warehouse', `duckdb:${db}`, '--table', 'alb_logs', '--concurrency', '4'])
    rmSync(db, {force: true})
    const wapi = await wapiRun(`one_${i}`)
    let strict
    if (env.WAPI_BENCH_SKIP_STRICT !== '1') {
      await google.call('strictRows', {on: true})
      strict = await wapiRun(`strict_${i}`)
      await google.call('strictRows', {on: false})
    }
    rounds.push({duck, wapi, strict})
  }
  const rows = rounds[0].wapi.result.rows
  const show = (label, pick) => {
    const ms = median(rounds.map((r) => pick(r).ms))
    const cpu = median(rounds.map((r) => pick(r).cpuMs))
    const rss = median(rounds.map((r) => pick(r).maxRssMiB))
    console.log(`  ${label.padEnd(44)} ${String(Math.round(rows / (ms / 1000))).padStart(8)} rows/s  ${fmt(ms / 1000)} s  CPU ${fmt(cpu / 1000)} s (${Math.round((100 * cpu) / ms)}%)  peak RSS ${fmt(rss, 0)} MiB`)
  }
  const ratioLine = (label, pick) => {
    const ratios = rounds.map((r) => r.duck.ms / pick(r).ms)
    const cpuRatios = rounds.map((r) => r.duck.cpuMs / pick(r).cpuMs)
    console.log(`  ratio ${label} / DuckDB rows/s: median ${fmt(median(ratios))}x (rounds ${ratios.map((x) => fmt(x)).join(', ')}; target >= 0.9x); rows per CPU-second ${fmt(median(cpuRatios))}x; the doubles' CPU ${fmt(median(rounds.map((r) => pick(r).doublesCpuMs)) / 1000)} s per run`)
  }
  show('DuckDB file (baseline)', (r) => r.duck)
  show('BigQuery, --load-method write-api', (r) => r.wapi)
  const strictToo = rounds.every((r) => r.strict)
  if (strictToo) show('  the same, the double decoding rows on arrival', (r) => r.strict)
  ratioLine('write-api', (r) => r.wapi)
  if (strictToo) ratioLine('write-api (double decoding on arrival)', (r) => r.strict)
  console.log(`  the double keeps the target table's rows serialized as they arrive and decodes them after the run (the real service decodes on Google's machines); decoding on arrival puts that work on the same 2 cores (second ratio)`)
  console.log(`  rows ${rows} per run (DuckDB ${rounds[0].duck.result.rows}); DML statements at the double per write-api run: ${rounds.map((r) => r.wapi.dml).join(', ')}`)

  // 4 shards on one table, side by side, vs 1 process on the same files
  const before = await google.call('dml')
  const shardCpu = await google.call('cpuMs')
  const t0 = performance.now()
  const shards = await Promise.all([0, 1, 2, 3].map((i) => backfill([...common, ...bq('sharded'), '--shard', `${i}/4`], gEnv)))
  const shardMs = performance.now() - t0
  const dml = await google.call('dml') - before
  const shardRows = shards.reduce((n, s) => n + s.result.rows, 0)
  const inTable = await google.call('rows', {table: `${DATASET}.sharded`})
  const oneMs = median(rounds.map((r) => r.wapi.ms))
  console.log(`  4 shards (--shard i/4, 4 processes, one table): ${fmt(shardMs / 1000)} s wall vs 1 process ${fmt(oneMs / 1000)} s (${fmt(oneMs / shardMs)}x); rows ${shardRows} (table ${inTable}, expected ${rows}); objects per shard ${shards.map((s) => s.result.objects.loaded).join('/')}; DML statements ${dml} (target 0); CPU of the 4 processes ${fmt(shards.reduce((n, x) => n + x.cpuMs, 0) / 1000)} s, of the doubles ${fmt(((await google.call('cpuMs')) - shardCpu) / 1000)} s`)
  const commits = await google.call('calls', {method: 'BatchCommitWriteStreams'})
  await google.call('trim')
  console.log(`  BatchCommitWriteStreams calls at the double so far: ${commits}`)

  if (env.WAPI_BENCH_SKIP_PROFILE !== '1') {
    const profDir = path.join(tmp, 'prof')
    mkdirSync(profDir, {recursive: true})
    const p = await backfill([...common, ...bq('profiled')], gEnv, ['--cpu-prof', '--cpu-prof-dir', profDir])
    console.log(`  CPU profile of one write-api run (--cpu-prof; ${fmt(p.ms / 1000)} s wall, ${fmt(p.cpuMs / 1000)} s CPU of the process, all threads): JavaScript self time per thread`)
    for (const t of summarizeProfiles(profDir)) {
      console.log(`    ${t.thread}: busy ${fmt(t.busyMs / 1000)} s, idle ${fmt(t.idleMs / 1000)} s; top: ${t.top.map((x) => `${x.fn} ${fmt(x.ms / 1000)} s`).join('; ')}`)
    }
    if (env.WAPI_BENCH_KEEP_PROFILE) for (const f of readdirSync(profDir)) writeFileSync(path.join(env.WAPI_BENCH_KEEP_PROFILE, f), readFileSync(path.join(profDir, f)))
  }
  await google.close()
}

// ---- 3. worker RSS over many objects -----------------------------------------------------------------------------
async function rssPhase() {
  const N = Number(env.WAPI_BENCH_RSS_OBJECTS ?? 3000)
  const RSS_CONCURRENCY = Number(env.WAPI_BENCH_RSS_CONCURRENCY ?? 16)
  const google = await startDoubles()
  await google.call('putJsonl', {bucket: 'soak', prefix: 'logs/', n: N})
  const t0 = performance.now()
  const child = spawn(process.execPath, [path.join(root, 'bin', 'run.js'), 'backfill', 'gs://soak/logs/', '--format', 'jsonl', '--table', 'app', '--warehouse', `bigquery://${PROJECT}/soak`, '--location', 'EU', '--load-method', 'write-api', '--concurrency', String(RSS_CONCURRENCY), '--json'], {
    env: {...env, ...google.env, SENEKA_CONFIG: ''},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  // sampled by the doubles at every 100th object committed (objects share streams: commits are fewer)
  await google.call('strictRows', {on: true})
  await google.call('watchRss', {pid: child.pid, every: 100})
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err = (err + d).slice(-4000)))
  const code = await new Promise((r) => child.on('close', r))
  const secs = (performance.now() - t0) / 1000
  if (code !== 0) throw new Error(`the RSS worker exited ${code}: ${err} ${out.slice(-2000)}`)
  const loaded = JSON.parse(out).result.objects.loaded
  const pts = await google.call('rssSamples')
  // RSS moves with GC and allocator timing: each point is the median of the samples within 200 objects of it
  const around = (k) => median(pts.filter(([x]) => Math.abs(x - k) <= 200).map(([, v]) => v))
  const lastK = pts.at(-1)?.[0] ?? 0
  console.log(`memory: a spawned backfill worker (--load-method write-api, --concurrency ${RSS_CONCURRENCY}), ${N} JSON-lines objects of 5 lines, ${loaded} loaded in ${fmt(secs, 1)} s (${fmt(loaded / secs, 1)} objects/s)`)
  console.log(`  RSS at every 100th object committed (MiB): ${pts.map(([, v]) => fmt(v, 0)).join(' ')}`)
  if (lastK >= 1400) {
    const k1 = 1000
    const k2 = lastK - 200
    const r1 = around(k1)
    const r2 = around(k2)
    const slope = (r2 - r1) / (k2 - k1)
    // RSS grows in steps (V8 and the allocator keep the pages they grew into): the second half's slope too
    const kh = Math.max(k1, Math.round(lastK / 2 / 100) * 100)
    const rh = around(kh)
    const tail = (r2 - rh) / Math.max(1, k2 - kh)
    const measured = lastK >= 10_000
    const est = (sl) => (measured ? around(10_000 - 200) : r2 + sl * (10_000 - k2))
    console.log(`  RSS around 1,000: ${fmt(r1, 1)} MiB; around ${kh}: ${fmt(rh, 1)} MiB; around ${k2}: ${fmt(r2, 1)} MiB; slope ${fmt(slope * 1000, 1)} MiB per 1,000 objects from 1,000, ${fmt(tail * 1000, 1)} over the second half`)
    console.log(`  RSS at 10,000 ${measured ? `measured ${fmt(est(0), 1)} MiB` : `extrapolated: ${fmt(est(slope), 1)} MiB at the slope from 1,000, ${fmt(est(tail), 1)} MiB at the second half's`} = ${fmt((est(slope) / r1 - 1) * 100, 1)}%${measured ? '' : ` / ${fmt((est(tail) / r1 - 1) * 100, 1)}%`} above 1,000 (target <= 10%)`)
  }
  await google.close()
}

try {
  if (env.WAPI_BENCH_SKIP_STREAM !== '1') await streamPhase()
  if (env.WAPI_BENCH_SKIP_BACKFILL !== '1') await backfillPhase()
  if (env.WAPI_BENCH_SKIP_RSS !== '1' && existsSync('/proc/self/status')) await rssPhase()
} finally {
  rmSync(tmp, {recursive: true, force: true})
}
process.exit(0)
