#!/usr/bin/env node
// seneka stream on loopback: a producer puts small JSON-lines objects into S3 (fauxqs, in-process) at a steady
// rate and sends the S3 event notification for each to SQS; the worker loads them into DuckDB. Measured: objects/s
// sustained and the latency from PutObject to rows queryable (the commit returned), p50/p99. Then the same kind
// of objects as a standing backlog: the stream worker draining it vs backfill loading the same objects in one
// run (the baseline). Sizes: STREAM_BENCH_RATE objects/s (default 40) for STREAM_BENCH_SECONDS (default 15),
// STREAM_BENCH_BACKLOG objects (default 600) of STREAM_BENCH_LINES lines (default 100), STREAM_BENCH_CONCURRENCY (8).
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {CreateBucketCommand, PutObjectCommand, S3Client} from '@aws-sdk/client-s3'
import {CreateQueueCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient} from '@aws-sdk/client-sqs'
import {startFauxqs} from 'fauxqs'
import {runBackfill} from '../dist/lib/backfill/run.js'
import {getFormat} from '../dist/lib/formats/index.js'
import {runStream} from '../dist/lib/stream/run.js'

const RATE = Number(process.env.STREAM_BENCH_RATE ?? 40)
const SECONDS = Number(process.env.STREAM_BENCH_SECONDS ?? 15)
const BACKLOG = Number(process.env.STREAM_BENCH_BACKLOG ?? 600)
const LINES = Number(process.env.STREAM_BENCH_LINES ?? 100)
const CONCURRENCY = Number(process.env.STREAM_BENCH_CONCURRENCY ?? 8)

const server = await startFauxqs({port: 0, logger: false})
const endpoint = server.address
Object.assign(process.env, {AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_S3: endpoint, AWS_ENDPOINT_URL_SQS: endpoint})
const s3 = new S3Client({endpoint, forcePathStyle: true})
const sqs = new SQSClient({endpoint})
await s3.send(new CreateBucketCommand({Bucket: 'bench-logs'}))
const tmp = mkdtempSync(path.join(os.tmpdir(), 'seneka-stream-bench-'))
const format = getFormat('jsonl')

function body(i) {
  const lines = []
  for (let l = 0; l < LINES; l++) lines.push(JSON.stringify({time: new Date(Date.UTC(2024, 4, 1, 0, 0, l % 60)).toISOString(), obj: i, line: l, msg: 'GET /api/items 200'}))
  return `${lines.join('\n')}\n`
}

let seq = 0
async function put(prefix, i) {
  const key = `${prefix}/2024/05/01/${String(i).padStart(6, '0')}.log`
  const b = body(i)
  const res = await s3.send(new PutObjectCommand({Bucket: 'bench-logs', Key: key, Body: b}))
  seq++
  const record = {
    eventVersion: '2.1', eventSource: 'aws:s3', eventTime: new Date().toISOString(), eventName: 'ObjectCreated:Put',
    s3: {bucket: {name: 'bench-logs'}, object: {key, size: Buffer.byteLength(b), eTag: res.ETag.replaceAll('"', ''), sequencer: seq.toString(16).toUpperCase().padStart(16, '0')}},
  }
  return {uri: `s3://bench-logs/${key}`, message: JSON.stringify({Records: [record]})}
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
const fmt = (x) => x.toFixed(1)

// ---- 1. steady arrival rate ----------------------------------------------------------------------
{
  const queue = (await sqs.send(new CreateQueueCommand({QueueName: 'steady'}))).QueueUrl
  const total = Math.round(RATE * SECONDS)
  const putAt = new Map()
  const latencies = []
  const abort = new AbortController()
  let firstPut = 0
  let lastCommit = 0
  const worker = runStream(
    {queue, format, warehouse: `duckdb:${path.join(tmp, 'steady.duckdb')}`, table: 'app', concurrency: CONCURRENCY, waitSeconds: 20, statusIntervalMs: 0, signal: abort.signal},
    {
      onLoaded: (o) => {
        const t = putAt.get(o.uri)
        if (t === undefined || o.outcome !== 'loaded') return
        latencies.push(o.committedAt.getTime() - t)
        lastCommit = o.committedAt.getTime()
        if (latencies.length === total) abort.abort()
      },
    },
  )
  firstPut = Date.now()
  for (let i = 0; i < total; i++) {
    const due = firstPut + (i * 1000) / RATE
    const wait = due - Date.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    const startedPut = Date.now()
    const {uri, message} = await put('steady', i)
    putAt.set(uri, startedPut)
    await sqs.send(new SendMessageCommand({QueueUrl: queue, MessageBody: message}))
  }
  const r = await worker
  latencies.sort((a, b) => a - b)
  const secs = (lastCommit - firstPut) / 1000
  console.log(`steady arrival: ${total} objects x ${LINES} lines offered at ${RATE}/s for ${SECONDS}s, concurrency ${CONCURRENCY}`)
  console.log(`  sustained ${fmt(r.objects.loaded / secs)} objects/s (${fmt(r.rows / secs)} rows/s); PutObject -> rows queryable p50 ${pct(latencies, 50)} ms, p99 ${pct(latencies, 99)} ms, max ${latencies.at(-1)} ms`)
}

// ---- 2. a standing backlog: stream drain vs backfill (baseline) ------------------------------------
{
  const queue = (await sqs.send(new CreateQueueCommand({QueueName: 'backlog'}))).QueueUrl
  const messages = []
  for (let i = 0; i < BACKLOG; i += 20) messages.push(...(await Promise.all(Array.from({length: Math.min(20, BACKLOG - i)}, (_, j) => put('backlog', i + j)))).map((m) => m.message))
  for (let i = 0; i < messages.length; i += 10) {
    await sqs.send(new SendMessageBatchCommand({QueueUrl: queue, Entries: messages.slice(i, i + 10).map((m, j) => ({Id: String(j), MessageBody: m}))}))
  }
  const idle = 1000
  let t0 = performance.now()
  const s = await runStream({queue, format, warehouse: `duckdb:${path.join(tmp, 'drain.duckdb')}`, table: 'app', concurrency: CONCURRENCY, waitSeconds: 1, stopWhenIdleMs: idle, statusIntervalMs: 0})
  const streamMs = performance.now() - t0 - idle
  t0 = performance.now()
  const b = await runBackfill({sources: ['s3://bench-logs/backlog/'], format, warehouse: `duckdb:${path.join(tmp, 'backfill.duckdb')}`, table: 'app', range: {}, concurrency: CONCURRENCY, dryRun: false})
  const backfillMs = performance.now() - t0
  if (s.objects.loaded !== BACKLOG || b.objects.loaded !== BACKLOG) console.log(`warning: stream loaded ${s.objects.loaded}, backfill ${b.objects.loaded} of ${BACKLOG}`)
  const so = BACKLOG / (streamMs / 1000)
  const bo = BACKLOG / (backfillMs / 1000)
  console.log(`backlog of ${BACKLOG} objects x ${LINES} lines, concurrency ${CONCURRENCY}:`)
  console.log(`  backfill (baseline)  ${fmt(bo).padStart(7)} objects/s  ${(backfillMs / 1000).toFixed(2)} s`)
  console.log(`  stream drain         ${fmt(so).padStart(7)} objects/s  ${(streamMs / 1000).toFixed(2)} s (idle wait excluded)`)
  console.log(`  ratio stream / backfill: ${(so / bo).toFixed(2)}x`)
}

s3.destroy()
sqs.destroy()
await server.stop()
rmSync(tmp, {recursive: true, force: true})
