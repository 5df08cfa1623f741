import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {gzipSync} from 'node:zlib'
import {DuckDBInstance} from '@duckdb/node-api'
import {describe, expect, it} from 'vitest'
import {generateAppLogFiles} from '../../../src/lib/demo/app-generator.js'
import {tempDir} from '../../helpers/tmp.js'
import {edgeLines, randomLines, withTs} from '../../helpers/jsonl-fixtures.js'
import {except} from '../../helpers/except-both-ways.js'

// DuckDB parses raw objects in the parse workers' path, which runs compiled code: import from dist/ (npm test builds first).
const {runBackfill} = await import('../../../dist/lib/backfill/run.js' as string)
const {getFormat, parseJsonlColumns} = await import('../../../dist/lib/formats/index.js' as string)
const {rawPathCounts} = await import('../../../dist/lib/warehouse/duckdb/warehouse.js' as string)
const {rawFormat} = await import('../../../dist/lib/warehouse/duckdb/raw.js' as string)

type Path = 'parser' | 'raw'
/** what the compiled runBackfill returns, as far as these tests read it */
type Result = {objects: Record<string, number>; failures: Array<{error: string}>; rows: number; rejected: number}

async function loadWith(p: Path, src: string, dir: string, format: unknown): Promise<string> {
  const db = path.join(dir, `${p}.duckdb`)
  // SENEKA_DUCKDB_RAW=0: the parse workers parse every line with the JSON-lines parser (the reference)
  process.env.SENEKA_DUCKDB_RAW = p === 'raw' ? '1' : '0'
  try {
    const r: Result = await runBackfill({sources: [src], format, warehouse: `duckdb:${db}`, table: 't', range: {}, concurrency: 2, dryRun: false})
    expect(r.failures).toEqual([])
  } finally {
    delete process.env.SENEKA_DUCKDB_RAW
  }
  return db
}

/** the parser's load against DuckDB's: EXCEPT ALL both ways, rows and rejects; how many lines DuckDB left to the parser */
async function bothPaths(src: string, dir: string, format: unknown) {
  const parser = await loadWith('parser', src, dir, format)
  const before = {...rawPathCounts}
  const d = await except(parser, await loadWith('raw', src, dir, format))
  return {...d, held: rawPathCounts.held - before.held, lineObjects: rawPathCounts.lines - before.lines}
}

const FULL = 'partition:int,offset:bigint,score:double,at:timestamp,tags:json,who:string'

function srcDir(): {dir: string; src: string} {
  const dir = tempDir()
  const src = path.join(dir, 'src')
  mkdirSync(src)
  return {dir, src}
}

describe('DuckDB parses JSON lines exactly as the JSON-lines parser does (EXCEPT ALL both ways, rejects included)', () => {
  it('edge cases of every rule: the same rows, values, NULLs, rejects and lines', async () => {
    const {dir, src} = srcDir()
    const lines = edgeLines()
    writeFileSync(path.join(src, 'edge.jsonl'), `${lines.join('\n')}\n`)
    writeFileSync(path.join(src, 'edge.jsonl.gz'), gzipSync(`\ufeff${lines.join('\n')}\n\n  \n${withTs('1714557600')}`))
    writeFileSync(path.join(src, 'blank-first.jsonl'), `\n\n${lines.slice(0, 5).join('\n')}\n`)
    writeFileSync(path.join(src, 'crlf.jsonl'), `${lines.slice(0, 5).join('\r\n')}\r\n`)
    writeFileSync(path.join(src, 'empty.jsonl'), '')
    const d = await bothPaths(src, dir, getFormat('jsonl', {columns: parseJsonlColumns(FULL)}))
    expect(d).toMatchObject({aNotB: 0, bNotA: 0, rejectsDiffer: 0})
    expect(d.rows).toBeGreaterThan(300)
    expect(d.rejects).toBeGreaterThan(150)
    // DuckDB read the three edge objects (and the empty one) line by line, the CRLF one went to the parser whole
    expect(d.lineObjects).toBe(4)
    expect(d.held).toBeLessThan(d.rows + d.rejects)
  })

  it('the default columns and a --time-field: the same rows, values and rejects', async () => {
    const {dir, src} = srcDir()
    const lines = edgeLines()
    writeFileSync(path.join(src, 'edge.jsonl'), `${lines.join('\n')}\n`)
    const plain = await bothPaths(src, dir, getFormat('jsonl'))
    expect(plain).toMatchObject({aNotB: 0, bNotA: 0, rejectsDiffer: 0})
    const {dir: dir2} = srcDir()
    const at = await bothPaths(src, dir2, getFormat('jsonl', {timeField: 'at', columns: parseJsonlColumns('who')}))
    expect(at).toMatchObject({aNotB: 0, bNotA: 0, rejectsDiffer: 0})
    expect(at.rows).toBeGreaterThan(20)
  })

  it('keeps formats on the JavaScript path whose field names DuckDB would read differently', () => {
    const jsonl = (timeField?: string, columns = ''): boolean => rawFormat(getFormat('jsonl', {timeField, columns: columns ? parseJsonlColumns(columns) : undefined}))
    expect([jsonl(), jsonl('at'), jsonl('@t', 'partition:int'), jsonl('a.b'), jsonl('a b')]).toEqual([true, true, true, true, true])
    // a quote, backslash or slash in a name; a name every JavaScript object inherits (the parser sees a function)
    expect([jsonl('a"b'), jsonl('a\\b'), jsonl('a/b'), jsonl('constructor'), jsonl(undefined, 'constructor'), jsonl(undefined, 'toString:int')]).toEqual([false, false, false, false, false, false])
  })

  it('seeded random times and values over every magnitude: the same rows, every line in SQL', async () => {
    const {dir, src} = srcDir()
    writeFileSync(path.join(src, 'random.jsonl.gz'), gzipSync(`${randomLines(20_000).join('\n')}\n`))
    const d = await bothPaths(src, dir, getFormat('jsonl', {columns: parseJsonlColumns(FULL)}))
    expect(d).toMatchObject({aNotB: 0, bNotA: 0, rejectsDiffer: 0})
    expect(d.rows + d.rejects).toBe(20_000)
    // the lines left to the parser are its rejects, and epoch values whose microseconds pass 2^53 (the parser's
    // value is then a rounded double: SQL leaves it to the parser), about 2% of these
    expect(d.held - d.rejects).toBeLessThan(20_000 * 0.03)
  })

  it('generated application logs (the demo generator): the same rows, none left to the parser', async () => {
    const {dir, src} = srcDir()
    for (const f of generateAppLogFiles({hours: 8, partitions: 3, perFile: 500})) {
      mkdirSync(path.dirname(path.join(src, f.key)), {recursive: true})
      writeFileSync(path.join(src, `${f.key}.gz`), gzipSync(f.body))
    }
    const d = await bothPaths(src, dir, getFormat('jsonl', {columns: parseJsonlColumns('topic,partition:int,offset:bigint')}))
    expect(d).toMatchObject({aNotB: 0, bNotA: 0, rejectsDiffer: 0, rejects: 0, held: 0})
    expect(d.rows).toBe(8 * 3 * 500 + 3)
  })

  it('lines beyond DuckDB default line size (3 MB, 16 MB) and invalid UTF-8: the same rows, values and rejects', async () => {
    const {dir, src} = srcDir()
    const msg = (n: number): string => withTs('1714557600', {message: `"${'x'.repeat(n)}"`})
    writeFileSync(path.join(src, 'long.jsonl.gz'), gzipSync(`${withTs('1')}\n${msg(3_000_000)}\n${withTs('2')}\n${msg(16_000_000)}\n${msg(17 * 1024 * 1024)}\n${withTs('3')}\n`))
    writeFileSync(path.join(src, 'utf8.jsonl'), Buffer.concat([Buffer.from(`${withTs('1')}\n${withTs('2', {message: '"caf'})}`), Buffer.from([0xc3]), Buffer.from(`"}\n${withTs('3')}\n`)]))
    const d = await bothPaths(src, dir, getFormat('jsonl', {columns: parseJsonlColumns('partition:int,offset:bigint')}))
    expect(d).toMatchObject({aNotB: 0, bNotA: 0, rejectsDiffer: 0, rows: 7, rejects: 2})
  })
})

describe('DuckDB parsing JSON lines keeps the ledger, the reject rule and exactly once', () => {
  it('fails a 95%-rejected object beside good ones, counts rows and rejects in the ledger, replaces on --reload', async () => {
    const {dir, src} = srcDir()
    const files = generateAppLogFiles({hours: 4, partitions: 2, perFile: 300})
    // one bad line in every good object, and an object that is nearly all garbage
    for (const [i, f] of files.entries()) writeFileSync(path.join(src, `f${i}.jsonl.gz`), gzipSync(`${f.body}{"ts":"not a time"}\n`))
    writeFileSync(path.join(src, 'victim.jsonl'), `${withTs('1714557600')}\n${Array.from({length: 19}, (_, i) => `garbage ${i}`).join('\n')}\n`)
    const db = path.join(dir, 'raw.duckdb')
    const opts = {sources: [src], format: getFormat('jsonl', {columns: parseJsonlColumns('topic,partition:int,offset:bigint')}), warehouse: `duckdb:${db}`, table: 't', range: {}, concurrency: 2, dryRun: false}
    const run = async (more: Record<string, unknown> = {}): Promise<Result> => {
      process.env.SENEKA_DUCKDB_RAW = '1'
      try {
        return await runBackfill({...opts, ...more})
      } finally {
        delete process.env.SENEKA_DUCKDB_RAW
      }
    }
    const good = files.reduce((n, f) => n + f.lines, 0)
    const inst = await DuckDBInstance.create(':memory:')
    const c = await inst.connect()
    const one = async (sql: string): Promise<number> => Number((await c.runAndReadAll(sql)).getRows()[0][0])
    const check = async (): Promise<void> => {
      await c.run(`ATTACH '${db}' AS w (READ_ONLY)`)
      try {
        expect(await one('SELECT count(*) FROM w.t')).toBe(good)
        expect(await one('SELECT count(*) FROM (SELECT DISTINCT _source_uri, _line FROM w.t)')).toBe(good)
        expect(await one('SELECT sum(rows) FROM w._seneka_ledger')).toBe(good)
        expect(await one('SELECT sum(rejected) FROM w._seneka_ledger')).toBe(files.length)
        expect(await one('SELECT count(*) FROM w._seneka_rejects')).toBe(files.length)
        expect(await one(`SELECT count(*) FROM w.t WHERE _source_uri LIKE '%victim.jsonl'`)).toBe(0)
        expect(await one(`SELECT count(*) FROM w.t WHERE _load_path <> 'backfill'`)).toBe(0)
      } finally {
        await c.run('DETACH w')
      }
    }
    try {
      const before = rawPathCounts.lines
      const first = await run()
      expect(first.objects).toMatchObject({loaded: files.length, failed: 1})
      // every object went through DuckDB (a failed group is committed again object by object)
      expect(rawPathCounts.lines - before).toBeGreaterThanOrEqual(files.length + 1)
      expect(first.failures[0].error).toMatch(/^19 of 20 lines were rejected as jsonl/)
      await check()
      const again = await run({reload: true})
      expect(again.objects).toMatchObject({replaced: files.length, failed: 1})
      await check()
    } finally {
      c.closeSync()
      inst.closeSync()
    }
  })
})
