import {readFileSync} from 'node:fs'
import {Readable} from 'node:stream'
import path from 'node:path'
import {gzipSync} from 'node:zlib'
import {describe, expect, it} from 'vitest'
import {DuckDBInstance} from '@duckdb/node-api'
import {ordinaryRegex, rawPlainFile} from '../../../src/lib/warehouse/duckdb/raw.js'
import {newCounters} from '../../../src/lib/loader/read-object.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {KEPT_REJECTS, LineStager} from '../../../src/lib/warehouse/duckdb/stage.js'
import {albFixture} from '../../helpers/alb-fixtures.js'
import {gunzipSync} from 'node:zlib'
import {tempDir} from '../../helpers/tmp.js'
import {DuckDBWarehouse, loadThreads, rawThreads} from '../../../src/lib/warehouse/duckdb/warehouse.js'

/** the bytes as a stream of the given chunks */
const chunks = (...parts: Buffer[]): Readable => Readable.from(parts)

async function check(source: Readable) {
  const counters = newCounters()
  const r = await rawPlainFile(source, path.join(tempDir(), 'raw'), counters)
  return {clean: r.clean, lines: r.lines, maxLine: r.maxLine, counted: counters.lines}
}

describe('the raw path takes only objects DuckDB numbers line by line as the scanner does', () => {
  it('counts non-blank lines, the longest line, and drops a BOM from the first', async () => {
    expect(await check(chunks(Buffer.from('\ufeffab\n\n   \ncdef\nlast')))).toEqual({clean: true, lines: 4, maxLine: 4, counted: 5})
    expect(await check(chunks(Buffer.from('\ufeff\nab\n')))).toEqual({clean: true, lines: 1, maxLine: 2, counted: 2})
    expect(await check(chunks(gzipSync('one\ntwo\n')))).toMatchObject({clean: true, lines: 2})
  })

  it('keeps a character cut between chunks, refuses invalid UTF-8, CR, NUL and U+0001', async () => {
    const e = Buffer.from('café\n')
    expect(await check(chunks(Buffer.from('abc'), e.subarray(0, 4), e.subarray(4)))).toMatchObject({clean: true, lines: 1, maxLine: 8})
    expect(await check(chunks(Buffer.from('abc\n'), Buffer.from([0x63, 0xc3, 0x0a])))).toMatchObject({clean: false})
    expect(await check(chunks(Buffer.from('abc\nlast'), Buffer.from([0xc3])))).toMatchObject({clean: false})
    for (const bad of ['a\r\nb\n', 'a\rb\n', 'a\0b\n', 'a\x01b\n']) expect(await check(chunks(Buffer.from(bad))), JSON.stringify(bad)).toMatchObject({clean: false})
  })
})

describe("the raw path's fallback (lines SQL could not prove ordinary)", () => {
  it('parses them as they come into files: 20,000 rejects keep 50 in memory, rows are written as they grow', async () => {
    const dir = tempDir()
    const bad = new LineStager(getFormat('alb'), path.join(dir, 'bad'))
    for (let i = 1; i <= 20_000; i++) await bad.add(`not an alb line ${i}`, i)
    const r = await bad.close()
    expect([r.rows, r.rejected, r.rejects.length, bad.hasRows]).toEqual([0, 20_000, KEPT_REJECTS, false])
    expect(readFileSync(r.rejectsFile!, 'utf8').split('\n').filter(Boolean)).toHaveLength(20_000)

    const fx = albFixture({days: 1, intervalMinutes: 1440, linesPerFile: 5000})
    const lines = gunzipSync(fx.files[0].body).toString().split('\n').filter(Boolean)
    const good = new LineStager(getFormat('alb'), path.join(dir, 'good'))
    for (const [i, l] of lines.entries()) await good.add(l, i + 1)
    const g = await good.close()
    expect([g.rows, g.rejected, good.hasRows]).toEqual([5000, 0, true])
    const staged = readFileSync(good.file, 'utf8').split('\n').filter(Boolean)
    expect(staged).toHaveLength(5000)
    expect(staged.at(-1)!.endsWith('\t5000')).toBe(true)
  })
})

describe("the raw path's ordinary shape", () => {
  it('takes every line of generated logs, browser user agents with spaces included (none held for the parser)', async () => {
    const fx = albFixture({days: 1, intervalMinutes: 720, linesPerFile: 2000})
    const lines = fx.files.flatMap((f) => gunzipSync(f.body).toString().split('\n').filter(Boolean))
    expect(lines.some((l) => / "Mozilla\/5.0 \(/.test(l))).toBe(true)
    const inst = await DuckDBInstance.create(':memory:')
    const c = await inst.connect()
    try {
      await c.run('CREATE TABLE l (l VARCHAR)')
      const app = await c.createAppender('l')
      for (const l of lines) {
        app.appendVarchar(l)
        app.endRow()
      }
      app.closeSync()
      const held = await c.runAndReadAll(`SELECT count(*) FROM l WHERE NOT regexp_full_match(l, '${ordinaryRegex('alb')}')`)
      expect(Number(held.getRows()[0][0])).toBe(0)
    } finally {
      c.closeSync()
      inst.closeSync()
    }
  })
})

describe("the raw path's DuckDB threads", () => {
  it('raw INSERTs take one DuckDB thread unless SENEKA_DUCKDB_THREADS says otherwise; a loader gives the count back on close', async () => {
    expect(loadThreads({})).toBeUndefined()
    expect(loadThreads({SENEKA_DUCKDB_THREADS: '3'})).toBe(3)
    expect(rawThreads({})).toBe(1)
    expect(rawThreads({SENEKA_DUCKDB_THREADS: '2'})).toBe(2)
    for (const bad of ['0', '-1', '1.5', 'many']) expect(() => loadThreads({SENEKA_DUCKDB_THREADS: bad})).toThrow(/^SENEKA_DUCKDB_THREADS must be a positive whole number of threads, not "[^"]+"\.$/)

    const wh = await DuckDBWarehouse.open(path.join(tempDir(), 'w.duckdb'))
    const threads = async (): Promise<number> => Number((await wh.query(`SELECT current_setting('threads') AS n`))[0].n)
    process.env.SENEKA_DUCKDB_THREADS = '2'
    try {
      await wh.query('SET threads = 3')
      const loader = await wh.openLoader({concurrency: 1, bulk: true})
      expect(await threads()).toBe(2)
      await loader.close()
      expect(await threads()).toBe(3)
    } finally {
      delete process.env.SENEKA_DUCKDB_THREADS
      await wh.close()
    }
  })
})
