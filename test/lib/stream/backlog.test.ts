import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {getFormat} from '../../../src/lib/formats/index.js'
import {runStream} from '../../../src/lib/stream/run.js'
import {count} from '../../helpers/duckdb.js'
import {startAws} from '../../helpers/fauxqs.js'
import {tempDir} from '../../helpers/tmp.js'
import {createBucket, createQueue, type EventSpec, notification, putObject, queueDepth, send} from './fixtures.js'

let aws: Awaited<ReturnType<typeof startAws>>
const MESSAGES = Number(process.env.STREAM_BACKLOG_MESSAGES ?? 10_000)
/** each object is notified 10 times: one DuckDB commit per object keeps the 10,000 messages under a minute */
const OBJECTS = Math.ceil(MESSAGES / 10)

beforeAll(async () => {
  aws = await startAws()
  await createBucket(aws.s3, 'backlog')
})
afterAll(async () => aws?.stop())

describe('a large backlog', () => {
  it(`drains ${MESSAGES} messages (each object notified 10 times) and loads each object once`, {timeout: 240_000}, async () => {
    const db = path.join(tempDir(), 'wh.duckdb')
    const queue = await createQueue(aws.sqs, 'backlog')
    const events: EventSpec[] = []
    for (let i = 0; i < OBJECTS; i += 50) {
      const batch = await Promise.all(Array.from({length: Math.min(50, OBJECTS - i)}, (_, j) => putObject(aws.s3, 'backlog', `k/${i + j}.log`, `{"time":"2024-05-01T00:00:00Z","n":${i + j}}\n`)))
      events.push(...batch)
    }
    // at-least-once delivery: every object notified again and again, the repeats spread over the backlog
    const bodies: string[] = []
    for (let round = 0; bodies.length < MESSAGES; round++) {
      for (let i = 0; i < OBJECTS && bodies.length < MESSAGES; i++) bodies.push(notification(events[(i * 7 + round * 13) % OBJECTS]))
    }
    await send(aws.sqs, queue, ...bodies)
    expect((await queueDepth(aws.sqs, queue)).visible).toBe(MESSAGES)

    const t0 = performance.now()
    const r = await runStream({queue, format: getFormat('jsonl'), warehouse: `duckdb:${db}`, table: 'app', concurrency: 8, waitSeconds: 1, stopWhenIdleMs: 1500, statusIntervalMs: 0})
    console.log(`${MESSAGES} messages drained in ${Math.round(performance.now() - t0)} ms`)
    expect(r.messages.received).toBe(MESSAGES)
    expect(r.messages.deleted).toBe(MESSAGES)
    expect(r.objects.loaded).toBe(OBJECTS)
    expect(r.objects.skipped).toBe(MESSAGES - OBJECTS)
    expect(r.objects.failed).toBe(0)
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(OBJECTS)
    expect(await count(db, 'SELECT count(DISTINCT _source_uri) FROM app')).toBe(OBJECTS)
    expect(await queueDepth(aws.sqs, queue)).toEqual({visible: 0, inFlight: 0})
  })
})
