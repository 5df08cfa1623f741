import {CreateBucketCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import {existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {Readable} from 'node:stream'
import {gzipSync} from 'node:zlib'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {analyzeObjects, countRecords, manifestKey, parseNamePattern, parseObjectName} from '../../../src/lib/dedupe/objects.js'
import {runDedupe} from '../../../src/lib/dedupe/run.js'
import {UsageError} from '../../../src/lib/errors.js'
import {startAws} from '../../helpers/fauxqs.js'
import {tempDir} from '../../helpers/tmp.js'
import {body, kc} from './fixtures.js'

function put(dir: string, key: string, data: Buffer, mtime?: number): void {
  const file = path.join(dir, ...key.split('/'))
  mkdirSync(path.dirname(file), {recursive: true})
  writeFileSync(file, data)
  if (mtime !== undefined) utimesSync(file, mtime, mtime)
}

const KC = parseNamePattern('kafka-connect')

describe('name patterns', () => {
  it('parses Kafka Connect, Secor and user patterns', () => {
    expect(parseObjectName('topics/app/dt=2024-05-01/app+3+0000001200.json.gz', KC)).toEqual({topic: 'app', partition: 3, startOffset: 1200})
    expect(parseObjectName('secor/app/dt=2024-05-01/1_7_00000000000000004500.gz', parseNamePattern('secor'))).toEqual({topic: '', partition: 7, startOffset: 4500})
    const custom = parseNamePattern('(?<topic>[^/]+)/p(?<partition>\\d+)-o(?<offset>\\d+)\\.jsonl$')
    expect(parseObjectName('dump/clicks/p2-o99.jsonl', custom)).toEqual({topic: 'clicks', partition: 2, startOffset: 99})
    expect(parseObjectName('dump/clicks/readme.txt', custom)).toBeUndefined()
    expect(parseObjectName('app+0+abc.json', KC)).toBeUndefined()
    expect(() => parseNamePattern('(?<partition>\\d+)')).toThrow(UsageError)
    expect(() => parseNamePattern('([')).toThrow(/not a valid regular expression/)
  })

  it('URL-encodes manifest keys but keeps slashes', () => {
    expect(manifestKey('topics/app/app+0+0000000000.json.gz')).toBe('topics/app/app%2B0%2B0000000000.json.gz')
    expect(manifestKey('a b/c')).toBe('a%20b/c')
  })
})

describe('countRecords', () => {
  it('counts non-empty lines of plain and gzip bytes, with or without a final newline, CRLF, multi-member gzip', async () => {
    const count = async (b: Buffer, chunk = 7): Promise<number> => {
      const parts: Buffer[] = []
      for (let i = 0; i < b.length; i += chunk) parts.push(b.subarray(i, i + chunk))
      return (await countRecords(Readable.from(parts))).records
    }
    expect(await count(Buffer.from('a\nb\nc\n'))).toBe(3)
    expect(await count(Buffer.from('a\nb\nc'))).toBe(3)
    expect(await count(Buffer.from('a\r\n\r\n\nb\r\n'), 1)).toBe(2)
    expect(await count(Buffer.from(''))).toBe(0)
    expect(await count(body(0, 1000))).toBe(1000)
    expect(await count(Buffer.concat([gzipSync('a\nb\n'), gzipSync('c\n')]))).toBe(3)
    await expect(countRecords(Readable.from([Buffer.from([0x1f, 0x8b, 1, 2, 3])]))).rejects.toThrow()
  })
})

describe('dedupe objects: local folders', () => {
  it('finds nothing wrong in a clean sequence', async () => {
    const dir = tempDir()
    for (const p of [0, 1]) for (const start of [0, 100, 200]) put(dir, `topics/app/${kc('app', p, start)}`, body(start, 100))
    put(dir, 'topics/app/_SUCCESS', Buffer.from(''))
    const r = await analyzeObjects({location: dir, pattern: KC, concurrency: 4})
    expect(r.totals).toMatchObject({files: 6, records: 600, partitions: 2, redundantFiles: 0, overlappingFiles: 0, gaps: 0, duplicateRecords: 0})
    expect([r.objects, r.unmatched, r.duplicatesFound]).toEqual([7, 1, false])
    expect(r.partitions.map((p) => [p.topic, p.partition, p.firstOffset, p.endOffset])).toEqual([
      ['app', 0, 0, 300],
      ['app', 1, 0, 300],
    ])
  })

  it('reports a full replay, a partial overlap and a gap, and writes the list with --apply (no manifest outside S3)', async () => {
    const dir = tempDir()
    const old = Date.now() / 1000 - 86_400
    // partition 0: original day folder, then the whole range replayed into the next day's folder
    for (const start of [0, 100]) put(dir, `dt=2024-05-01/${kc('app', 0, start)}`, body(start, 100), old)
    for (const start of [0, 100]) put(dir, `dt=2024-05-02/${kc('app', 0, start)}`, body(start, 100))
    // partition 1: a file overlapping the next by 30 records, then a gap of 50 offsets
    put(dir, `dt=2024-05-01/${kc('app', 1, 0)}`, body(0, 100))
    put(dir, `dt=2024-05-01/${kc('app', 1, 70)}`, body(70, 100))
    put(dir, `dt=2024-05-01/${kc('app', 1, 220)}`, body(220, 10, false))
    mkdirSync(path.join(dir, 'out'))
    const out = path.join(dir, 'out', 'redundant.json')
    const r = await runDedupe({mode: 'objects', apply: true, location: dir, pattern: KC, concurrency: 2, output: out})
    if (r.mode !== 'objects') throw new Error('objects result expected')
    expect(r.redundant.map((f) => [f.key, f.identicalTo])).toEqual([
      [`dt=2024-05-02/${kc('app', 0, 0)}`, r.redundant[0].uri.replace('dt=2024-05-02', 'dt=2024-05-01')],
      [`dt=2024-05-02/${kc('app', 0, 100)}`, r.redundant[1].uri.replace('dt=2024-05-02', 'dt=2024-05-01')],
    ])
    expect(r.overlapping.map((o) => [o.key, o.overlapFrom, o.overlapTo, o.overlapRecords])).toEqual([[`dt=2024-05-01/${kc('app', 1, 70)}`, 70, 100, 30]])
    expect(r.gaps.map((g) => [g.partition, g.from, g.to, g.missing])).toEqual([[1, 170, 220, 50]])
    expect(r.totals).toMatchObject({redundantFiles: 2, redundantRecords: 200, overlappingRecords: 30, duplicateRecords: 230, gaps: 1, missingRecords: 50})
    expect(r.duplicatesFound).toBe(true)
    expect(r.written).toEqual({output: out, manifest: null, objects: 2})
    const list = JSON.parse(readFileSync(out, 'utf8'))
    expect(list.objects.map((o: {key: string}) => o.key)).toEqual(r.redundant.map((f) => f.key))
  })

  it('refuses an --output in a folder that does not exist instead of creating it', async () => {
    const dir = tempDir()
    put(dir, kc('a', 0, 0), body(0, 5))
    const out = path.join(dir, 'reprots', 'redundant.json')
    await expect(runDedupe({mode: 'objects', apply: true, location: dir, pattern: KC, concurrency: 1, output: out})).rejects.toThrow(/folder .*reprots of the output file does not exist/)
    expect(existsSync(path.join(dir, 'reprots'))).toBe(false)
  })

  it('needs --output with --apply, and leaves the objects in place', async () => {
    const dir = tempDir()
    put(dir, kc('a', 0, 0), body(0, 5))
    await expect(runDedupe({mode: 'objects', apply: true, location: dir, pattern: KC, concurrency: 1})).rejects.toThrow(/--output/)
  })
})

describe('dedupe objects: S3 (fauxqs)', () => {
  let aws: Awaited<ReturnType<typeof startAws>>
  beforeAll(async () => {
    aws = await startAws()
    await aws.s3.send(new CreateBucketCommand({Bucket: 'kafka-logs'}))
  })
  afterAll(async () => aws?.stop())

  it('analyses a Secor prefix and writes an S3 Batch Operations manifest', async () => {
    const putS3 = (key: string, data: Buffer) => aws.s3.send(new PutObjectCommand({Bucket: 'kafka-logs', Key: key, Body: data}))
    const secor = (gen: number, p: number, start: number) => `${gen}_${p}_${String(start).padStart(20, '0')}.gz`
    await putS3(`secor/app/dt=2024-05-01/${secor(1, 0, 0)}`, body(0, 40))
    await putS3(`secor/app/dt=2024-05-01/${secor(1, 0, 40)}`, body(40, 40))
    // a consumer rebalance re-read from offset 60
    await putS3(`secor/app/dt=2024-05-01/${secor(2, 0, 60)}`, body(60, 20))
    await putS3(`secor/app/dt=2024-05-02/${secor(2, 0, 80)}`, body(80, 40))
    await putS3(`secor/other/${secor(1, 0, 0)}`, body(0, 10)) // outside the prefix
    const dir = tempDir()
    const out = path.join(dir, 'redundant.json')
    const r = await analyzeObjects({location: 's3://kafka-logs/secor/app/', pattern: parseNamePattern('secor'), concurrency: 3, output: out, storeOptions: {s3Endpoint: aws.endpoint}})
    expect(r.totals).toMatchObject({files: 4, records: 140, redundantFiles: 1, redundantRecords: 20, overlappingFiles: 0, gaps: 0, duplicateRecords: 20})
    expect(r.redundant[0].key).toBe(`secor/app/dt=2024-05-01/${secor(2, 0, 60)}`)
    expect(r.redundant[0].coveredBy).toEqual([`s3://kafka-logs/secor/app/dt=2024-05-01/${secor(1, 0, 40)}`])
    expect(r.written?.manifest).toBe(path.join(dir, 'redundant.manifest.csv'))
    expect(readFileSync(r.written!.manifest!, 'utf8')).toBe(`kafka-logs,secor/app/dt%3D2024-05-01/${secor(2, 0, 60)}\n`)
  })
})
