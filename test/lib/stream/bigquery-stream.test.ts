import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'
import {getFormat} from '../../../src/lib/formats/index.js'
import {runStream} from '../../../src/lib/stream/run.js'
import {startAws} from '../../helpers/fauxqs.js'
import {type GcpDouble, startGcpDouble} from '../../helpers/gcp-doubles.js'
import {createBucket, createQueue, jsonl, notification, putObject, send} from './fixtures.js'

let aws: Awaited<ReturnType<typeof startAws>>
let g: GcpDouble
beforeAll(async () => {
  ;[aws, g] = await Promise.all([startAws(), startGcpDouble()])
  g.pollsUntilDone = 0
  await createBucket(aws.s3, 'bq-logs')
})
afterAll(async () => {
  await aws?.stop()
  await g?.close()
})

describe('stream from SQS into BigQuery (fauxqs + the BigQuery double)', () => {
  it('holds as many messages as a batch takes: 60 objects in two batches at --max-latency, not a handful per interval', async () => {
    const queue = await createQueue(aws.sqs, 'bq-stream')
    const objects: Array<Awaited<ReturnType<typeof putObject>>> = []
    for (let i = 0; i < 60; i++) objects.push(await putObject(aws.s3, 'bq-logs', `app/2024/05/01/o${i}.log`, jsonl(3, `o${i}`)))
    // two bursts; each burst fits one batch as long as the worker receives more than --concurrency messages
    await send(aws.sqs, queue, ...objects.slice(0, 30).map((o) => notification(o)))
    const lines: string[] = []
    const run = runStream(
      {
        queue,
        format: getFormat('jsonl'),
        warehouse: 'bigquery://test-project/logs',
        table: 'app',
        concurrency: 2,
        waitSeconds: 1,
        stopWhenIdleMs: 2500,
        statusIntervalMs: 0,
        bigquery: {
          staging: 'gs://stage/seneka',
          location: 'EU',
          apiEndpoint: g.endpoint,
          gcsEndpoint: g.endpoint,
          maxLatencyMs: 20_000,
          overrides: {retryBaseDelayMs: 1, pollIntervalMs: 1},
        },
      },
      {onInfo: (l) => lines.push(l)},
    )
    setTimeout(() => void send(aws.sqs, queue, ...objects.slice(30).map((o) => notification(o))), 2000)
    const r = await run
    expect(r.objects).toMatchObject({loaded: 60, failed: 0})
    expect(g.tables.get('logs.app')!.rows).toHaveLength(180)
    // with --concurrency 2 and the old cap of 10 messages, 60 objects took six or more batches (each --max-latency
    // after its first object: a latency far above the time the bursts take to arrive, so a busy machine splits none)
    expect(g.jobs('load').length).toBeLessThanOrEqual(3)
    expect(lines.join('\n')).toMatch(/a batch commits when full \(1,000 objects\) or 20\.0s after its first object/)
  }, 300_000)
})

describe('stream from SQS into BigQuery with the Storage Write API (fauxqs + the REST and gRPC doubles)', () => {
  it('each object commits on its own, once, duplicates and redeliveries included, with no load job and no DML', async () => {
    const {DuckDbStandIn} = await import('../../helpers/bigquery-on-duckdb.js')
    const {startWriteApiDouble} = await import('../../helpers/write-api-double.js')
    const sql = await DuckDbStandIn.open()
    g.sql = sql
    const w = await startWriteApiDouble(g)
    try {
      const queue = await createQueue(aws.sqs, 'bq-wapi')
      const objects: Array<Awaited<ReturnType<typeof putObject>>> = []
      for (let i = 0; i < 20; i++) objects.push(await putObject(aws.s3, 'bq-logs', `wapi/2024/05/01/o${i}.log`, jsonl(3, `w${i}`)))
      // every object notified twice (at-least-once delivery)
      await send(aws.sqs, queue, ...objects.map((o) => notification(o)), ...objects.map((o) => notification(o)))
      const before = g.jobs().length
      const r = await runStream({
        queue,
        format: getFormat('jsonl'),
        warehouse: 'bigquery://test-project/wapi',
        table: 'app',
        concurrency: 4,
        waitSeconds: 1,
        stopWhenIdleMs: 1500,
        statusIntervalMs: 0,
        bigquery: {location: 'EU', apiEndpoint: g.endpoint, loadMethod: 'write-api', storageEmulatorHost: w.host, overrides: {retryBaseDelayMs: 1, pollIntervalMs: 1, writeApi: {minLookupIntervalMs: 0}}},
      })
      expect(r.objects.failed).toBe(0)
      const rows = await sql.rows('wapi', 'app')
      expect(rows).toHaveLength(60)
      expect(new Set(rows.map((x) => `${x._source_uri}#${x._line}`)).size).toBe(60)
      const jobs = g.jobs().slice(before)
      expect(jobs.filter((j) => j.configuration.load)).toEqual([])
      expect(jobs.filter((j) => !j.configuration.dryRun && /\b(MERGE|UPDATE|DELETE|INSERT)\b/.test(String(j.configuration.query?.query)))).toEqual([])
      await vi.waitFor(() => expect(w.openConnections).toBe(0))
    } finally {
      g.sql = undefined
      await w.close()
      sql.close()
    }
  }, 60_000)
})
