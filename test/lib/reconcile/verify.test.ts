import {PutObjectCommand, CreateBucketCommand} from '@aws-sdk/client-s3'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {gzipSync} from 'node:zlib'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {UserError} from '../../../src/lib/errors.js'
import {ExitCode} from '../../../src/lib/exit-codes.js'
import {reconcile} from '../../../src/lib/reconcile/run.js'
import type {ObjectReport} from '../../../src/lib/reconcile/types.js'
import {countSourceLines} from '../../../src/lib/reconcile/verify.js'
import {startAws} from '../../helpers/fauxqs.js'
import {tempDir} from '../../helpers/tmp.js'
import {buildWarehouse} from './fixtures.js'

const lines = (n: number): string => Array.from({length: n}, (_, i) => `line ${i + 1}`).join('\n') + '\n'

describe('--verify-source', () => {
  let aws: Awaited<ReturnType<typeof startAws>>
  beforeAll(async () => {
    aws = await startAws()
    await aws.s3.send(new CreateBucketCommand({Bucket: 'logs'}))
    await aws.s3.send(new PutObjectCommand({Bucket: 'logs', Key: 'app/s3.log.gz', Body: gzipSync(lines(30))}))
  })
  afterAll(async () => aws.stop())

  it('counts non-empty lines of plain and gzip objects, locally and on S3', async () => {
    const dir = tempDir()
    writeFileSync(path.join(dir, 'a.log'), `${lines(5)}\n\n`)
    writeFileSync(path.join(dir, 'b.log.gz'), gzipSync(lines(7).trimEnd()))
    const uris = [`file://${dir}/a.log`, `file://${dir}/b.log.gz`, `file://${dir}/gone.log`, 's3://logs/app/s3.log.gz']
    const counts = await countSourceLines(uris, {storeOptions: {s3Endpoint: aws.endpoint, region: 'us-east-1'}})
    expect(Object.fromEntries(counts)).toEqual({
      [uris[0]]: {lines: 5, error: null},
      [uris[1]]: {lines: 7, error: null},
      [uris[2]]: {lines: null, error: 'the object does not exist'},
      [uris[3]]: {lines: 30, error: null},
    })
  })

  it('flags objects both sides loaded the same but incompletely, and counts rejected lines as accounted for', async () => {
    const dir = tempDir()
    const src = (name: string): string => `file://${dir}/${name}`
    writeFileSync(path.join(dir, 'full.log'), lines(10))
    writeFileSync(path.join(dir, 'short.log'), lines(10))
    writeFileSync(path.join(dir, 'rejects.log'), lines(10))
    const objects = [
      {uri: src('full.log'), start: '2024-05-01 00:00:00', count: 10},
      // both paths lost the last 4 lines: the sides agree, the source does not
      {uri: src('short.log'), start: '2024-05-01 00:10:00', count: 6},
      // 8 rows + 2 rejected lines recorded in the ledger = 10 lines
      {uri: src('rejects.log'), start: '2024-05-01 00:20:00', count: 8},
      {uri: src('missing.log'), start: '2024-05-01 00:30:00', count: 3},
    ]
    const wh = await buildWarehouse(dir, {
      batch: objects,
      stream: objects,
      ledger: {
        batch_logs: {[src('rejects.log')]: {rows: 8, rejected: 2}},
        stream_logs: {[src('rejects.log')]: {rows: 8, rejected: 2}},
      },
    })
    const r = (await reconcile({
      warehouse: wh,
      batchTable: 'batch_logs',
      streamTable: 'stream_logs',
      since: new Date('2024-05-01T00:00:00Z'),
      until: new Date('2024-05-01T01:00:00Z'),
      by: 'object',
      verifySource: true,
    })) as ObjectReport
    expect(r.verifiedSource).toBe(true)
    expect(r.rows.map((x) => [path.basename(x.object!), x.status, x.side, x.sourceLines, x.detail])).toEqual([
      ['full.log', 'ok', null, 10, 'same rows on both sides and in the source'],
      ['missing.log', 'source_differs', null, null, 'the source could not be read: the object does not exist'],
      ['rejects.log', 'ok', null, 10, 'same rows on both sides and in the source'],
      ['short.log', 'source_differs', 'batch', 10, '6 rows in batch, the source has 10 lines'],
    ])
    expect(r.passed).toBe(false)
  })

  it('a source check that could not run (S3 unreachable) is an error (exit 1), not a difference from the source', async () => {
    const dir = tempDir()
    const objects = [{uri: 's3://logs/app/s3.log.gz', start: '2024-05-01 00:00:00', count: 30}]
    const wh = await buildWarehouse(dir, {batch: objects, stream: objects})
    const args = {warehouse: wh, batchTable: 'batch_logs', streamTable: 'stream_logs', since: new Date('2024-05-01T00:00:00Z'), until: new Date('2024-05-01T01:00:00Z'), by: 'object' as const, verifySource: true}
    // reachable: the check runs and passes
    const ok = (await reconcile({...args, storeOptions: {s3Endpoint: aws.endpoint, region: 'us-east-1'}})) as ObjectReport
    expect(ok.passed).toBe(true)
    // nothing listens on the endpoint: an outage
    const err = await reconcile({...args, storeOptions: {s3Endpoint: 'http://127.0.0.1:9', region: 'us-east-1'}}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UserError)
    expect((err as UserError).exitCode).toBe(ExitCode.ERROR)
    expect((err as UserError).message).toMatch(/^Could not read 1 of 1 source objects to count their lines \(first: s3:\/\/logs\/app\/s3\.log\.gz: .+\), so --verify-source did not run\.$/)
  })
})
