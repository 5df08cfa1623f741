import {readFileSync} from 'node:fs'
import {Readable} from 'node:stream'
import path from 'node:path'
import {gzipSync} from 'node:zlib'
import {describe, expect, it} from 'vitest'
import {DuckDBInstance} from '@duckdb/node-api'
import {ordinaryRegex, rawPlainFile, rawRead, unnumbered} from '../../../src/lib/warehouse/duckdb/raw.js'
import {newCounters} from '../../../src/lib/loader/read-object.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {KEPT_REJECTS, LineStager} from '../../../src/lib/warehouse/duckdb/stage.js'
import {albFixture} from '../../helpers/alb-fixtures.js'
import {gunzipSync} from 'node:zlib'
import {tempDir} from '../../helpers/tmp.js'
import {DuckDBWarehouse, lineThreads, loadThreads} from '../../../src/lib/warehouse/duckdb/warehouse.js'

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

describe('the raw file numbers each line for DuckDB, and gives the bytes back without the numbers', () => {
  const inputs: Array<[string, Buffer[]]> = [
    ['BOM, blank and spaced lines, no final line feed', [Buffer.from('\ufeffab\n\n   \n  cdef\nlast  ')]],
    ['final line feed', [Buffer.from('one\ntwo\n')]],
    ['cut inside lines and at line feeds', [Buffer.from('al'), Buffer.from('pha\nbe'), Buffer.from('ta\n'), Buffer.from('\ngamma')]],
    ['a BOM cut short, CR, NUL', [Buffer.from([0xef, 0xbb]), Buffer.from([0xbf, 0x61, 0x0d, 0x0a, 0x00, 0x0a])]],
    ['only line feeds', [Buffer.from('\n\n\n')]],
    ['empty', []],
  ]
  it.each(inputs)('%s', async (_name, parts) => {
    const file = path.join(tempDir(), 'raw')
    const counters = newCounters()
    await rawPlainFile(chunks(...parts), file, counters)
    const original = Buffer.concat(parts)
    // byte by byte through the stripper, then in one piece: the object's bytes exactly
    const strip = async (pieces: Buffer[]): Promise<Buffer> => {
      const out: Buffer[] = []
      for await (const b of chunks(...pieces).pipe(unnumbered())) out.push(b as Buffer)
      return Buffer.concat(out)
    }
    const written = readFileSync(file)
    expect(await strip([written])).toEqual(original)
    expect(await strip([...written].map((b) => Buffer.from([b])))).toEqual(original)
    // every line (as the scanner counts them) has its number, in order
    const text = written.toString('latin1').replace(/^\u00ef\u00bb\u00bf/, '')
    const lines = (s: string): string[] => s.split('\n').filter((l, i, all) => i < all.length - 1 || l !== '')
    const numbers = lines(text).map((l) => Number(l.slice(0, l.indexOf(' '))))
    expect(numbers).toEqual(Array.from({length: lines(original.toString('latin1')).length}, (_, i) => i + 1))
    if (counters.lines > 0) expect(numbers).toHaveLength(counters.lines)
  })

  it('writes the bytes as they are when not numbered (JSON lines)', async () => {
    const file = path.join(tempDir(), 'raw')
    const bytes = Buffer.from('\ufeff{"a":1}\n\n{"b":2}')
    await rawPlainFile(chunks(bytes.subarray(0, 5), bytes.subarray(5)), file, newCounters(), false)
    expect(readFileSync(file)).toEqual(bytes)
  })

  it("DuckDB's line reader gives each line its number and text (a blank line NULL)", async () => {
    const file = path.join(tempDir(), 'raw')
    await rawPlainFile(chunks(Buffer.from('\ufeffab\n\n   \n  cdef\nlast  ')), file, newCounters())
    const inst = await DuckDBInstance.create(':memory:')
    const c = await inst.connect()
    try {
      const rows = (await c.runAndReadAll(`SELECT line, l FROM ${rawRead(`'${file}'`, 10, true)}`)).getRowObjects()
      expect(rows.map((r) => [Number(r.line), r.l])).toEqual([[1, 'ab'], [2, null], [3, '   '], [4, '  cdef'], [5, 'last  ']])
    } finally {
      c.closeSync()
      inst.closeSync()
    }
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
  it('loads take SENEKA_DUCKDB_THREADS threads (by default DuckDB\'s own), line-by-line raw INSERTs one unless it says otherwise; a loader gives the count back on close', async () => {
    expect(loadThreads({})).toBeUndefined()
    expect(loadThreads({SENEKA_DUCKDB_THREADS: '3'})).toBe(3)
    expect(lineThreads({})).toBe(1)
    expect(lineThreads({SENEKA_DUCKDB_THREADS: '2'})).toBe(2)
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

  it("a backfill's loader turns DuckDB's row-group merging off while it loads and gives the setting back on close; a stream's leaves it on", async () => {
    const wh = await DuckDBWarehouse.open(path.join(tempDir(), 'w.duckdb'))
    const vacuum = async (): Promise<number> => Number((await wh.query(`SELECT current_setting('max_vacuum_tasks') AS n`))[0].n)
    try {
      await wh.query('SET max_vacuum_tasks = 7')
      const stream = await wh.openLoader({concurrency: 1})
      expect(await vacuum()).toBe(7)
      await stream.close()
      const bulk = await wh.openLoader({concurrency: 1, bulk: true})
      expect(await vacuum()).toBe(0)
      await bulk.close()
      expect(await vacuum()).toBe(7)
    } finally {
      await wh.close()
    }
  })
})
