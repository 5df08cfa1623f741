import {CreateBucketCommand, DeleteObjectCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {Readable} from 'node:stream'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {renderSummary} from '../../../src/lib/backfill/render.js'
import {type BackfillOptions, runBackfill} from '../../../src/lib/backfill/run.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {albFixture, PREFIX} from '../../helpers/alb-fixtures.js'
import {count} from '../../helpers/duckdb.js'
import {startAws} from '../../helpers/fauxqs.js'
import {type InventoryRow, listAll, putInventory} from '../../helpers/inventory.js'
import {tempDir} from '../../helpers/tmp.js'

let aws: Awaited<ReturnType<typeof startAws>>
const fx = albFixture({days: 4, intervalMinutes: 360})
// a key S3 Inventory's CSV must URL-encode: a space, a "+" and a comma
const ODD = `${PREFIX}2024/05/02/odd name+1,x.log`
let rows: InventoryRow[]

beforeAll(async () => {
  aws = await startAws()
  for (const b of ['logs', 'inventory', 'other']) await aws.s3.send(new CreateBucketCommand({Bucket: b}))
  for (const f of fx.files) await aws.s3.send(new PutObjectCommand({Bucket: 'logs', Key: f.key, Body: f.body}))
  await aws.s3.send(new PutObjectCommand({Bucket: 'logs', Key: ODD, Body: fx.files[0].body}))
  await aws.s3.send(new PutObjectCommand({Bucket: 'logs', Key: `${PREFIX}2024/05/02/_SUCCESS`, Body: ''}))
  await aws.s3.send(new PutObjectCommand({Bucket: 'logs', Key: 'elsewhere/2024/05/02/x.log', Body: 'x'}))
  rows = await listAll(aws.s3, 'logs')
})
afterAll(async () => aws?.stop())

const base = (db: string): BackfillOptions => ({
  sources: [`s3://logs/${PREFIX}`],
  format: getFormat('alb'),
  warehouse: `duckdb:${db}`,
  table: 'alb',
  range: {since: new Date('2024-05-02T00:00:00Z'), until: new Date('2024-05-04T00:00:00Z')},
  include: ['*.log*'],
  shard: {index: 1, count: 2},
  concurrency: 4,
  dryRun: true,
})

/** the uri column of a plan file, in order */
const planUris = (file: string): string[] =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => (l.startsWith('"') ? l.slice(1, l.indexOf('",')) : l.slice(0, l.indexOf(','))))

describe('backfill planned from S3 Inventory (fauxqs, real AWS SDK)', () => {
  it.each(['CSV', 'Parquet'] as const)('plans from a %s inventory exactly the objects and order of a LIST-based plan (range, globs, shard, markers)', async (format) => {
    const dir = tempDir()
    const manifest = await putInventory(aws.s3, {bucket: 'inventory', source: 'logs', rows, format, files: 2})
    const listOut = path.join(dir, 'list.csv')
    const invOut = path.join(dir, 'inv.csv')
    const byList = await runBackfill({...base(path.join(dir, 'wh.duckdb')), planOut: listOut})
    const byInv = await runBackfill({...base(path.join(dir, 'wh.duckdb')), planOut: invOut, from: {kind: 'inventory', manifest}})
    expect(planUris(invOut)).toEqual(planUris(listOut))
    expect(planUris(invOut).length).toBeGreaterThan(3)
    expect(byInv.plan.totals).toEqual(byList.plan.totals)
    expect(byInv.plan.days).toEqual(byList.plan.days)
    expect(byInv.plan.otherShards).toBe(byList.plan.otherShards)
    expect(byInv.plan.requests.list).toBe(0)
    expect(byInv.plan.from?.inventory?.rows).toBe(rows.length)
    // the URL-encoded key was decoded (it is in shard 1/2 or not, as in the LIST plan; with no shard it is planned)
    const all = await runBackfill({...base(path.join(dir, 'wh.duckdb')), shard: undefined, include: undefined, planOut: invOut, from: {kind: 'inventory', manifest}})
    expect(planUris(invOut)).toContain(`s3://logs/${ODD}`)
    expect(all.plan.markers.objects).toBe(1)
    expect(renderSummary(all)).toMatch(/Inventory of 2024-06-01T01:00:00.000Z: objects added to s3:\/\/logs after it are not in this plan/)
  })

  it.each([
    ['a data file whose MD5 is not the one listed', {tamper: (m: Record<string, unknown>) => ((m.files as Array<{MD5checksum: string}>)[0].MD5checksum = '0'.repeat(32))}, /lists the data file .* with MD5 0{32}, but its content has MD5/],
    ['a manifest.checksum that does not match', {checksum: 'f'.repeat(32)}, /does not match its manifest.checksum/],
    ['the inventory of another bucket', {source: 'other'}, /is the inventory of the bucket "other", not of the source bucket "logs"/],
    ['no ETag in fileSchema', {tamper: (m: Record<string, unknown>) => (m.fileSchema = 'Bucket, Key, Size, LastModifiedDate')}, /has no ETag field in its fileSchema/],
    ['ORC data files', {tamper: (m: Record<string, unknown>) => (m.fileFormat = 'ORC')}, /lists ORC files, which seneka cannot read/],
  ])('rejects %s in one sentence', async (_what, opts, message) => {
    const manifest = await putInventory(aws.s3, {bucket: 'inventory', source: 'logs', rows, ...opts})
    const err = await runBackfill({...base(path.join(tempDir(), 'wh.duckdb')), from: {kind: 'inventory', manifest}}).catch((e: Error) => e)
    expect(err).toBeInstanceOf(Error)
    expect((err as Error).message).toMatch(message)
    expect((err as Error).message).not.toMatch(/\n/)
    expect((err as Error).message.match(/\.(\s|$)/g)).toHaveLength(1)
  })

  it('loads from the inventory, reports objects gone or changed since (not failures), and covers every planned object', async () => {
    const db = path.join(tempDir(), 'wh.duckdb')
    await aws.s3.send(new CreateBucketCommand({Bucket: 'logs2'}))
    const day = fx.files.filter((f) => f.key.includes('/2024/05/02/'))
    for (const f of day) await aws.s3.send(new PutObjectCommand({Bucket: 'logs2', Key: f.key, Body: f.body}))
    const manifest = await putInventory(aws.s3, {bucket: 'inventory', source: 'logs2', rows: await listAll(aws.s3, 'logs2')})
    await aws.s3.send(new DeleteObjectCommand({Bucket: 'logs2', Key: day[0].key}))
    await aws.s3.send(new PutObjectCommand({Bucket: 'logs2', Key: day[1].key, Body: day[2].body}))
    const r = await runBackfill({...base(db), sources: [`s3://logs2/${PREFIX}`], include: undefined, shard: undefined, dryRun: false, from: {kind: 'inventory', manifest}})
    expect(r.objects).toEqual({loaded: day.length - 2, replaced: 0, skipped: 0, failed: 0})
    expect(r.missing).toEqual({gone: 1, changed: 1, samples: expect.arrayContaining([{uri: `s3://logs2/${day[0].key}`, reason: 'gone'}, {uri: `s3://logs2/${day[1].key}`, reason: 'changed'}])})
    expect(r.coverage).toEqual({planned: day.length, loaded: day.length - 2, replaced: 0, skipped: 0, failed: 0, gone: 1, changed: 1, notStarted: 0, leftOut: 0})
    const text = renderSummary(r)
    expect(text).toMatch(/1 gone, 1 changed/)
    expect(text).toMatch(/coverage {2}\d+ planned = .*; none left out/)
    expect(await count(db, 'SELECT count(DISTINCT _source_uri) FROM alb')).toBe(day.length - 2)
  })

  it('runs a saved plan exactly (--plan-out then --plan), and the ledger diff skips what is loaded', async () => {
    const dir = tempDir()
    const db = path.join(dir, 'wh.duckdb')
    const planFile = path.join(dir, 'plan.csv')
    const manifest = await putInventory(aws.s3, {bucket: 'inventory', source: 'logs', rows})
    const dry = await runBackfill({...base(db), planOut: planFile, from: {kind: 'inventory', manifest}})
    // the reviewed plan runs without its selection flags and without a source
    const run = await runBackfill({...base(db), sources: [], range: {}, include: undefined, shard: undefined, dryRun: false, from: {kind: 'plan', file: planFile}})
    expect(run.objects.loaded).toBe(dry.plan.totals.objects)
    expect(run.coverage?.leftOut).toBe(0)
    expect(await count(db, 'SELECT count(DISTINCT _source_uri) FROM alb')).toBe(dry.plan.totals.objects)
    const again = await runBackfill({...base(db), planOut: path.join(dir, 'again.csv'), from: {kind: 'plan', file: planFile}})
    expect(again.plan.totals).toMatchObject({objects: dry.plan.totals.objects, skip: dry.plan.totals.objects, load: 0})
    expect(planUris(path.join(dir, 'again.csv'))).toEqual(planUris(planFile))
    // --shard splits a saved plan across jobs: the shards together are the plan, with no overlap
    const parts = []
    for (const index of [0, 1, 2]) {
      const out = path.join(dir, `shard-${index}.csv`)
      await runBackfill({...base(db), shard: {index, count: 3}, planOut: out, from: {kind: 'plan', file: planFile}}).catch(() => undefined)
      parts.push(...(existsSync(out) ? planUris(out) : []))
    }
    expect(parts.sort()).toEqual([...planUris(planFile)].sort())
  })

  it('plans from a file list on standard input (keys and URIs), reporting keys that do not exist', async () => {
    const keys = fx.files.filter((f) => f.key.includes('/2024/05/03/')).map((f) => f.key)
    const lines = [keys[0], `s3://logs/${keys[1]}`, '', '# a comment', ...keys.slice(2), `${PREFIX}2024/05/03/missing.log`].join('\n')
    const r = await runBackfill({...base(path.join(tempDir(), 'wh.duckdb')), include: undefined, shard: undefined, from: {kind: 'files', file: '-', stdin: Readable.from([lines])}})
    expect(r.plan.totals.objects).toBe(keys.length)
    expect(r.plan.from?.notFound).toEqual({objects: 1, samples: [`s3://logs/${PREFIX}2024/05/03/missing.log`]})
    expect(r.plan.from?.head).toBe(keys.length + 1)
    const outside = await runBackfill({...base(path.join(tempDir(), 'wh.duckdb')), from: {kind: 'files', file: '-', stdin: Readable.from(['other/key.log\n'])}}).catch((e: Error) => e)
    expect((outside as Error).message).toMatch(/Line 1 of standard input names other\/key.log, which is not under the source s3:\/\/logs\//)
  })

  it('writes a plan file that a bad edit cannot smuggle another bucket into', async () => {
    const dir = tempDir()
    const planFile = path.join(dir, 'plan.csv')
    const manifest = await putInventory(aws.s3, {bucket: 'inventory', source: 'logs', rows})
    await runBackfill({...base(path.join(dir, 'wh.duckdb')), planOut: planFile, from: {kind: 'inventory', manifest}})
    writeFileSync(planFile, readFileSync(planFile, 'utf8').replace(/s3:\/\/logs\//, 's3://other/'))
    const err = await runBackfill({...base(path.join(dir, 'wh.duckdb')), sources: [], from: {kind: 'plan', file: planFile}}).catch((e: Error) => e)
    expect((err as Error).message).toMatch(/has objects of several buckets/)
  })
})
