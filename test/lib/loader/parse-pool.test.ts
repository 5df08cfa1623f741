import {createReadStream, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {getFormat} from '../../../src/lib/formats/index.js'
import {type ReadCounters, readBatches} from '../../../src/lib/loader/read-object.js'
import {KEPT_REJECTS, stageBatches, stageObject} from '../../../src/lib/warehouse/duckdb/stage.js'
import {albFixture} from '../../helpers/alb-fixtures.js'
import {tempDir} from '../../helpers/tmp.js'

// Worker threads run compiled code: the pool is imported from dist/ (npm test builds first).
const {ParsePool} = await import('../../../dist/lib/warehouse/parse-pool.js' as string)

const counters = (): ReadCounters => ({storedBytes: 0, bytes: 0, lines: 0, gzip: false})

describe('staging paths (worker pool, direct, batched) agree', () => {
  const fx = albFixture({days: 1, intervalMinutes: 720, linesPerFile: 3000, malformedRate: 0.01})
  const format = getFormat('alb')
  const setup = (): {dir: string; file: string} => {
    const dir = tempDir()
    const file = path.join(dir, 'in.log.gz')
    writeFileSync(file, fx.files[0].body)
    return {dir, file}
  }

  it('writes byte-identical staging files with the same rows and rejects', async () => {
    const {dir, file} = setup()
    const pool = ParsePool.get()
    expect(pool).not.toBeNull()
    const c1 = counters()
    // the parser's staging path (the ALB fast path has its own file and test: test/lib/warehouse/duckdb-alb.test.ts)
    process.env.SENEKA_FAST_STAGE = '0'
    const viaPool = await pool.stage(createReadStream(file, {highWaterMark: 4096}), format, path.join(dir, 'pool.tsv'), c1).finally(() => delete process.env.SENEKA_FAST_STAGE)
    const viaDirect = await stageObject(createReadStream(file), format, path.join(dir, 'direct.tsv'), counters())
    const viaBatches = await stageBatches(readBatches(createReadStream(file), format, counters()), path.join(dir, 'batches.tsv'))
    expect(viaPool.rows).toBe(fx.files[0].lines - fx.files[0].malformed)
    expect(viaPool.rejected).toBe(fx.files[0].malformed)
    expect(viaPool.rejects.length).toBe(Math.min(fx.files[0].malformed, KEPT_REJECTS))
    const same = ({rejectsFile: _f, ...r}: {rejectsFile?: string}) => r
    expect(same(viaDirect)).toEqual(same(viaPool))
    expect(same(viaBatches)).toEqual(same(viaPool))
    for (const name of ['pool.tsv', 'pool.tsv.rejects']) {
      const pooled = readFileSync(path.join(dir, name))
      expect(pooled.equals(readFileSync(path.join(dir, name.replace('pool', 'direct'))))).toBe(true)
      expect(pooled.equals(readFileSync(path.join(dir, name.replace('pool', 'batches'))))).toBe(true)
    }
    expect(viaPool.rejectsFile).toBe(path.join(dir, 'pool.tsv.rejects'))
    expect(c1).toMatchObject({gzip: true, storedBytes: fx.files[0].body.length, lines: fx.files[0].lines})
  })

  it('reports a corrupt gzip from the worker with its zlib code', async () => {
    const {dir} = setup()
    const body = fx.files[0].body
    const bad = path.join(dir, 'bad.log.gz')
    writeFileSync(bad, Buffer.concat([body.subarray(0, 50), Buffer.alloc(400, 9), body.subarray(450)]))
    const err = await ParsePool.get().stage(createReadStream(bad), format, path.join(dir, 'bad.tsv'), counters()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Error)
    expect((err as {code?: string}).code).toMatch(/^Z_/)
  })
})
