import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {type BackfillOptions, runBackfill} from '../../../src/lib/backfill/run.js'
import {parseCutoverConfig} from '../../../src/lib/cutover/config.js'
import {LocalStateStore} from '../../../src/lib/cutover/state.js'
import {cutoverStatus} from '../../../src/lib/cutover/status.js'
import {analyzeObjects, parseNamePattern} from '../../../src/lib/dedupe/objects.js'
import {UserError} from '../../../src/lib/errors.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {isMarkerKey} from '../../../src/lib/store/markers.js'
import {LocalStore} from '../../../src/lib/store/local.js'
import {StreamLoader} from '../../../src/lib/stream/object-loader.js'
import {emptyCounters} from '../../../src/lib/stream/stats.js'
import type {ObjectLoader} from '../../../src/lib/warehouse/types.js'
import {albFixture, PREFIX} from '../../helpers/alb-fixtures.js'
import {count} from '../../helpers/duckdb.js'
import {tempDir} from '../../helpers/tmp.js'

function base(dir: string, src: string): BackfillOptions {
  return {sources: [src], format: getFormat('alb'), warehouse: `duckdb:${path.join(dir, 'wh.duckdb')}`, table: 'alb_logs', range: {}, concurrency: 2, dryRun: false}
}

describe('empty results say so', () => {
  it('backfill of a prefix with no objects fails with one sentence instead of "0 loaded"', async () => {
    const dir = tempDir()
    const src = path.join(dir, 'empty')
    mkdirSync(src)
    await expect(runBackfill(base(dir, src))).rejects.toThrow(/^No log objects were found under .*empty, so nothing was loaded\.$/)
    await expect(runBackfill({...base(dir, src), dryRun: true})).rejects.toThrow(/so nothing was planned\./)
    // a range that selects nothing (a typo in --since) names the range
    const fx = path.join(dir, 's3')
    albFixture({days: 1, dir: fx})
    const err = await runBackfill({...base(dir, path.join(fx, PREFIX)), range: {since: new Date('2025-05-01T00:00:00Z')}}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UserError)
    expect((err as UserError).message).toMatch(/in \[2025-05-01T00:00:00.000Z, \+inf\), so nothing was loaded/)
    expect((err as UserError).suggestion).toMatch(/--since\/--until/)
  })

  it('dedupe --objects where no object name matches the pattern fails instead of reporting no duplicates', async () => {
    const dir = tempDir()
    writeFileSync(path.join(dir, 'app-2024-05-01.log'), '{"a":1}\n')
    await expect(analyzeObjects({location: dir, pattern: parseNamePattern('kafka-connect'), concurrency: 2})).rejects.toThrow(
      /^None of the 1 objects under .* has a name that matches --name-pattern kafka-connect \(for example .*app-2024-05-01\.log\), so nothing was checked\.$/,
    )
    const empty = path.join(dir, 'none')
    mkdirSync(empty)
    await expect(analyzeObjects({location: empty, pattern: parseNamePattern('kafka-connect'), concurrency: 2})).rejects.toThrow(/^There are no objects under .*none/)
  })

  it('cutover status --bucket of an unknown bucket fails instead of printing an empty table', async () => {
    const cfg = parseCutoverConfig({buckets: {'my-logs': {wave: 1, queue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q', table: 't'}}})
    const store = new LocalStateStore(path.join(tempDir(), 'state.json'))
    expect((await cutoverStatus(cfg, store, {bucket: 'my-logs'})).buckets).toHaveLength(1)
    await expect(cutoverStatus(cfg, store, {bucket: 'nosuch'})).rejects.toThrow(/^The bucket nosuch is neither in the cutover configuration nor in the state/)
    await expect(cutoverStatus(cfg, store, {wave: 7})).rejects.toThrow(/^No bucket is in wave 7/)
  })
})

describe('marker objects', () => {
  it('recognises job markers, folder markers, checksum files and the AWS access-log test file', () => {
    for (const k of ['a/_SUCCESS', '_SUCCESS', 'AWSLogs/123/ELBAccessLogTestFile', 'out/.part-0.crc', 'x/y_$folder$', 'folder/']) expect(isMarkerKey(k), k).toBe(true)
    for (const k of ['a/x.log.gz', 'SUCCESS.log', 'a/_SUCCESS.log', 'ELBAccessLogTestFile.gz']) expect(isMarkerKey(k), k).toBe(false)
  })

  it('backfill skips them and counts them apart, and a prefix of markers only is no load', async () => {
    const dir = tempDir()
    const src = path.join(dir, 's3')
    const fx = albFixture({days: 1, dir: src})
    const day = path.join(src, PREFIX, '2024/05/01')
    writeFileSync(path.join(day, '_SUCCESS'), '')
    writeFileSync(path.join(day, 'ELBAccessLogTestFile'), 'Enable AccessLog for ELB: my-lb at 2024-05-01T00:00:00.000Z\n')
    const r = await runBackfill(base(dir, path.join(src, PREFIX)))
    expect(r.objects).toEqual({loaded: fx.files.length, replaced: 0, skipped: 0, failed: 0})
    expect(r.rejected).toBe(0)
    expect(r.plan.markers.objects).toBe(2)
    expect(r.plan.markers.samples.map((s) => path.basename(s)).sort()).toEqual(['ELBAccessLogTestFile', '_SUCCESS'])
    expect(await count(path.join(dir, 'wh.duckdb'), "SELECT count(*) FROM _seneka_ledger WHERE object_uri LIKE '%_SUCCESS' OR object_uri LIKE '%TestFile'")).toBe(0)
    const only = path.join(dir, 'markers')
    mkdirSync(only)
    writeFileSync(path.join(only, '_SUCCESS'), '')
    await expect(runBackfill(base(dir, only))).rejects.toThrow(/\(only 1 marker object such as .*_SUCCESS, which are never loaded\), so nothing was loaded/)
  })

  it('stream skips them without loading and counts them apart', async () => {
    const dir = tempDir()
    writeFileSync(path.join(dir, '_SUCCESS'), '')
    const counters = emptyCounters()
    const loader = {load: () => Promise.reject(new Error('a marker must not be loaded')), close: async () => {}} as ObjectLoader
    const sl = new StreamLoader({loader, table: 't', format: getFormat('alb'), loadId: 'x', concurrency: 1, counters, latency: {record() {}} as never})
    const store = new LocalStore(dir)
    const info = (await store.head('_SUCCESS'))!
    expect(await sl.loadFile(store, info)).toBe('marker')
    expect(await sl.loadEvent({bucket: 'logs', key: 'AWSLogs/123/ELBAccessLogTestFile', etag: null, sequencer: null, eventTime: null} as never)).toBe('marker')
    expect(counters.objects).toMatchObject({markers: 2, loaded: 0, failed: 0})
    await sl.close()
  })
})
