import {CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client} from '@aws-sdk/client-s3'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {runBackfill} from '../../../src/lib/backfill/run.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {S3Store} from '../../../src/lib/store/s3.js'
import {albFixture, PREFIX} from '../../helpers/alb-fixtures.js'
import {count} from '../../helpers/duckdb.js'
import {startAws} from '../../helpers/fauxqs.js'
import {tempDir} from '../../helpers/tmp.js'

let aws: Awaited<ReturnType<typeof startAws>>
const fx = albFixture({days: 5, intervalMinutes: 360, malformedRate: 0.02})

beforeAll(async () => {
  aws = await startAws()
  await aws.s3.send(new CreateBucketCommand({Bucket: 'logs'}))
  for (const f of fx.files) await aws.s3.send(new PutObjectCommand({Bucket: 'logs', Key: f.key, Body: f.body}))
})
afterAll(async () => aws?.stop())

/** A real S3 client whose ListObjectsV2 requests are recorded (prefix, delimiter) by SDK middleware. */
function recordingStore(listed: Array<{prefix?: string; delimiter?: string}>) {
  return (bucket: string) => {
    const client = new S3Client({endpoint: aws.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: {accessKeyId: 'test', secretAccessKey: 'test'}})
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === ListObjectsV2Command.name) {
          const input = args.input as {Prefix?: string; Delimiter?: string}
          listed.push({prefix: input.Prefix, delimiter: input.Delimiter})
        }
        return next(args)
      },
      {step: 'initialize'},
    )
    return new S3Store(bucket, client)
  }
}

describe('backfill from S3 (fauxqs, real AWS SDK)', () => {
  it('lists only the day prefixes in range, never the whole bucket, and loads exactly those days', async () => {
    const db = path.join(tempDir(), 'wh.duckdb')
    const listed: Array<{prefix?: string; delimiter?: string}> = []
    const opts = {
      sources: [`s3://logs/${PREFIX}`],
      format: getFormat('alb'),
      warehouse: `duckdb:${db}`,
      table: 'alb',
      range: {since: new Date('2024-05-02T00:00:00Z'), until: new Date('2024-05-04T00:00:00Z')},
      concurrency: 4,
    }
    await runBackfill({...opts, dryRun: false})
    // plan again through a recording client to see exactly which requests planning makes
    const plan = await runBackfill({...opts, dryRun: true, storeFactories: {s3: recordingStore(listed)}})
    expect(listed.filter((l) => l.delimiter === '/').map((l) => l.prefix)).toEqual([PREFIX, `${PREFIX}2024/`, `${PREFIX}2024/05/`])
    expect(listed.filter((l) => l.delimiter === undefined).map((l) => l.prefix).sort()).toEqual([`${PREFIX}2024/05/02/`, `${PREFIX}2024/05/03/`])
    expect(listed.some((l) => l.prefix === '' || l.prefix === undefined)).toBe(false)
    expect(plan.plan.totals.skip).toBe(plan.plan.totals.objects)
    const expected = (fx.goodByDay.get('2024-05-02') ?? 0) + (fx.goodByDay.get('2024-05-03') ?? 0)
    expect(await count(db, 'SELECT count(*) FROM alb')).toBe(expected)
    expect(await count(db, "SELECT count(*) FROM alb WHERE _source_uri NOT LIKE 's3://logs/%'")).toBe(0)
  })

  it('loads a whole prefix without a range and records S3 ETags in the ledger', async () => {
    const db = path.join(tempDir(), 'wh.duckdb')
    const r = await runBackfill({sources: [`s3://logs/${PREFIX}`], format: getFormat('alb'), warehouse: `duckdb:${db}`, table: 'alb', range: {}, concurrency: 4, dryRun: false})
    expect(r.objects.loaded).toBe(fx.files.length)
    expect(r.rows).toBe(fx.good)
    expect(r.rejected).toBe(fx.malformed)
    expect(await count(db, "SELECT count(*) FROM _seneka_ledger WHERE length(etag) = 32 AND etag NOT LIKE '%\"%'")).toBe(fx.files.length)
  })

  it('says clearly when the bucket does not exist', async () => {
    const db = path.join(tempDir(), 'wh.duckdb')
    await expect(
      runBackfill({sources: ['s3://no-such-bucket/x/'], format: getFormat('alb'), warehouse: `duckdb:${db}`, table: 'alb', range: {}, concurrency: 1, dryRun: true}),
    ).rejects.toThrow(/bucket no-such-bucket does not exist/)
  })
})
