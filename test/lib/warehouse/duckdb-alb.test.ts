import {createReadStream, mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {gunzipSync, gzipSync} from 'node:zlib'
import {DuckDBInstance} from '@duckdb/node-api'
import {describe, expect, it} from 'vitest'
import {albFixture} from '../../helpers/alb-fixtures.js'
import {tempDir} from '../../helpers/tmp.js'
import {except} from '../../helpers/except-both-ways.js'
import {EDGE_LINES, elbLine, E, line} from '../../helpers/lb-lines.js'

// The fast path runs in the parse workers, which run compiled code: import from dist/ (npm test builds first).
const {runBackfill} = await import('../../../dist/lib/backfill/run.js' as string)
const {getFormat} = await import('../../../dist/lib/formats/index.js' as string)
const {stageObject} = await import('../../../dist/lib/warehouse/duckdb/stage.js' as string)
const {rawPathCounts} = await import('../../../dist/lib/warehouse/duckdb/warehouse.js' as string)

type Path = 'parser' | 'fast' | 'raw'
/** what the compiled runBackfill returns, as far as these tests read it */
type Result = {objects: Record<string, number>; failures: Array<{error: string}>}
/** SENEKA_FAST_STAGE=0: the parser only; SENEKA_DUCKDB_RAW=1: DuckDB parses; else the JavaScript fast path */
const PATH_ENV: Record<Path, Record<string, string>> = {parser: {SENEKA_FAST_STAGE: '0'}, fast: {SENEKA_FAST_STAGE: '1', SENEKA_DUCKDB_RAW: '0'}, raw: {SENEKA_FAST_STAGE: '1', SENEKA_DUCKDB_RAW: '1'}}

async function withPath<T>(p: Path, fn: () => Promise<T>): Promise<T> {
  Object.assign(process.env, PATH_ENV[p])
  try {
    return await fn()
  } finally {
    delete process.env.SENEKA_FAST_STAGE
    delete process.env.SENEKA_DUCKDB_RAW
  }
}

async function loadWith(p: Path, src: string, dir: string, concurrency = 2, format = 'alb'): Promise<string> {
  const db = path.join(dir, `${p}.duckdb`)
  const r: Result = await withPath(p, () => runBackfill({sources: [src], format: getFormat(format), warehouse: `duckdb:${db}`, table: 't', range: {}, concurrency, dryRun: false}))
  expect(r.failures).toEqual([])
  return db
}

/** the parser's load against the fast path's and DuckDB's (EXCEPT ALL both ways, each) */
async function bothPaths(src: string, dir: string, format = 'alb') {
  const parser = await loadWith('parser', src, dir, 2, format)
  const fast = await except(parser, await loadWith('fast', src, dir, 2, format))
  const raw = await except(parser, await loadWith('raw', src, dir, 2, format))
  expect(raw, 'DuckDB parsing').toMatchObject({aNotB: 0, bNotA: 0, rejectsDiffer: 0, rows: fast.rows, rejects: fast.rejects})
  return fast
}

/** every object of `src` goes whole through DuckDB's CSV reader, and the three paths load the same rows */
async function wholeByCsv(src: string, dir: string, fx: {good: number; files: unknown[]}): Promise<void> {
  const before = {...rawPathCounts}
  const d = await bothPaths(src, dir)
  expect(d).toMatchObject({aNotB: 0, bNotA: 0, rejectsDiffer: 0, rows: fx.good, rejects: 0})
  expect([rawPathCounts.csv - before.csv, rawPathCounts.lines - before.lines]).toEqual([fx.files.length, 0])
}

describe('the ALB fast path loads exactly what the parser loads', () => {
  it('edge cases: the same rows, values and rejects (EXCEPT ALL both ways)', async () => {
    const dir = tempDir()
    const src = path.join(dir, 'src')
    mkdirSync(src)
    writeFileSync(path.join(src, 'edge.log'), `${EDGE_LINES.join('\n')}\n`)
    writeFileSync(path.join(src, 'edge.log.gz'), gzipSync(`${EDGE_LINES.join('\n')}\n`))
    // DuckDB parses only objects it numbers line by line as the scanner does (no CR, NUL or U+0001): the edge
    // cases again without those lines, with blank and white-space lines, a BOM and no final line feed
    const clean = EDGE_LINES.filter((l) => !/[\r\0\x01]/.test(l))
    writeFileSync(path.join(src, 'clean.log.gz'), gzipSync(`\ufeff${clean.join('\n')}\n\n   \n\t\n${line()}`))
    writeFileSync(path.join(src, 'blank-first.log'), `\n\n${clean.slice(0, 3).join('\n')}\n`)
    writeFileSync(path.join(src, 'crlf.log'), `${clean.slice(0, 5).join('\r\n')}\r\n\r\n${line()}`)
    writeFileSync(path.join(src, 'empty.log'), '')
    writeFileSync(path.join(src, 'bom-only.log'), '\ufeff\n')
    const d = await bothPaths(src, dir)
    expect(d).toMatchObject({aNotB: 0, bNotA: 0, rejectsDiffer: 0})
    expect(d.rows).toBeGreaterThan(60)
    expect(d.rejects).toBeGreaterThan(20)
  })

  it("each edge case alone in an object of ordinary lines (DuckDB's CSV reader decides per object): the same rows, values and rejects", async () => {
    const dir = tempDir()
    const src = path.join(dir, 'src')
    mkdirSync(src)
    const clean = EDGE_LINES.filter((l) => !/[\r\0\x01]/.test(l) && l.trim() !== '')
    clean.forEach((l, i) => writeFileSync(path.join(src, `e${String(i).padStart(3, '0')}.log`), `${line()}\n${l}\n${line({1: '2024-05-01T10:00:01Z'})}\n`))
    const before = {...rawPathCounts}
    const d = await bothPaths(src, dir)
    expect(d).toMatchObject({aNotB: 0, bNotA: 0, rejectsDiffer: 0})
    // both ways were taken: objects whose lines the CSV reader proved ordinary, and the others line by line
    const csv = rawPathCounts.csv - before.csv
    expect(csv).toBeGreaterThan(30)
    expect(rawPathCounts.lines - before.lines).toBeGreaterThan(100)
    expect(csv + rawPathCounts.lines - before.lines).toBe(clean.length)
  })

  it('both paths store "" as the empty string, "-" as NULL (request parts too), and give glued text its own reason', async () => {
    const dir = tempDir()
    const src = path.join(dir, 'src')
    mkdirSync(src)
    writeFileSync(path.join(src, 'a.log'), `${[line({22: '""', 13: '"-"'}), line({13: '"glued"x'}), line({12: '"- http://host:80- -"'})].join('\n')}\n`)
    for (const fast of ['parser', 'fast', 'raw'] as const) {
      const db = await loadWith(fast, src, dir, 1)
      const inst = await DuckDBInstance.create(db)
      const c = await inst.connect()
      try {
        const rows = (await c.runAndReadAll('SELECT actions_executed, user_agent, request_verb, request_url, request_proto FROM t ORDER BY _line')).getRows()
        expect(rows, `fast=${fast}`).toEqual([
          ['', null, 'GET', 'http://x/', 'HTTP/1.1'],
          ['forward', 'curl/8', null, 'http://host:80-', null],
        ])
        const rej = (await c.runAndReadAll('SELECT reason FROM _seneka_rejects')).getRows()
        expect(rej, `fast=${fast}`).toEqual([['text after a closing quote (field 14)']])
      } finally {
        c.closeSync()
        inst.closeSync()
      }
    }
  })

  it('lines beyond DuckDB default line size (3 MB, 16 MB) and invalid UTF-8: the same rows, values and rejects', async () => {
    const dir = tempDir()
    const src = path.join(dir, 'src')
    mkdirSync(src)
    const ua = (n: number): string => line({13: `"${'x'.repeat(n)}"`})
    writeFileSync(path.join(src, 'long.log.gz'), gzipSync(`${line()}\n${ua(3_000_000)}\n${line({1: '-'})}\n${ua(16_000_000)}\n${line()}\n`))
    writeFileSync(path.join(src, 'utf8.log'), Buffer.concat([Buffer.from(`${line()}\n${line({13: '"caf'})}`), Buffer.from([0xc3]), Buffer.from(`"\n${line()}\n`)]))
    const d = await bothPaths(src, dir)
    expect(d).toMatchObject({aNotB: 0, bNotA: 0, rejectsDiffer: 0, rows: 6, rejects: 2})
  })

  it('generated logs with 1% malformed lines: the same rows, values and rejects', async () => {
    const dir = tempDir()
    const src = path.join(dir, 'src')
    albFixture({days: 1, intervalMinutes: 240, linesPerFile: 2000, malformedRate: 0.01, dir: src})
    const d = await bothPaths(src, dir)
    expect(d).toMatchObject({aNotB: 0, bNotA: 0, rejectsDiffer: 0})
    expect(d.rows).toBeGreaterThan(20_000)
  })

  it("generated logs without malformed lines: every object through DuckDB's CSV reader, the parser's rows", async () => {
    const dir = tempDir()
    const src = path.join(dir, 'src')
    const fx = albFixture({days: 1, intervalMinutes: 360, linesPerFile: 1500, dir: src})
    await wholeByCsv(src, dir, fx)
  })

  it("lines with fields AWS appended: DuckDB's CSV reader loads them whole, the parser's rows", async () => {
    const dir = tempDir()
    const src = path.join(dir, 'src')
    const fx = albFixture({days: 1, intervalMinutes: 720, linesPerFile: 1000})
    mkdirSync(src)
    fx.files.forEach((f, i) => {
      const lines = gunzipSync(f.body).toString().split('\n').filter(Boolean)
      writeFileSync(path.join(src, `appended-${i}.log.gz`), gzipSync(`${lines.map((l, n) => `${l} "new field ${n}" ${n} -`).join('\n')}\n`))
    })
    await wholeByCsv(src, dir, fx)
  })

  it('stages ordinary lines on the fast path', async () => {
    const dir = tempDir()
    const fx = albFixture({days: 1, intervalMinutes: 720, linesPerFile: 3000, malformedRate: 0.01})
    const file = path.join(dir, 'in.log.gz')
    writeFileSync(file, fx.files[0].body)
    const r = await stageObject(createReadStream(file), getFormat('alb'), path.join(dir, 'out.tsv'), {storedBytes: 0, bytes: 0, lines: 0, gzip: false}, {fast: true})
    expect(r.rows).toBe(fx.files[0].lines - fx.files[0].malformed)
    expect(r.fast.rows).toBeGreaterThan(r.rows * 0.95)
  })
})

describe('DuckDB parsing (SENEKA_DUCKDB_RAW=1) keeps the ledger, the reject rule and exactly once', () => {
  it('fails a 90%-rejected object beside good ones, counts rows and rejects in the ledger, replaces on --reload', async () => {
    const dir = tempDir()
    const src = path.join(dir, 'src')
    const fx = albFixture({days: 1, intervalMinutes: 240, linesPerFile: 500, malformedRate: 0.05, dir: src})
    const victim = fx.files[0]
    writeFileSync(path.join(src, victim.key), gzipSync(`${line()}\n${Array.from({length: 19}, (_, i) => `garbage ${i}`).join('\n')}\n`))
    const db = path.join(dir, 'raw.duckdb')
    const opts = {sources: [src], format: getFormat('alb'), warehouse: `duckdb:${db}`, table: 't', range: {}, concurrency: 2, dryRun: false}
    const first: Result = await withPath('raw', () => runBackfill(opts))
    expect(first.objects).toMatchObject({loaded: fx.files.length - 1, failed: 1})
    expect(first.failures[0].error).toMatch(/^19 of 20 lines were rejected as alb/)
    const good = fx.good - (victim.lines - victim.malformed)
    const inst = await DuckDBInstance.create(':memory:')
    const c = await inst.connect()
    const one = async (sql: string): Promise<number> => Number((await c.runAndReadAll(sql)).getRows()[0][0])
    const check = async (): Promise<void> => {
      await c.run(`ATTACH '${db}' AS w (READ_ONLY)`)
      try {
        expect(await one('SELECT count(*) FROM w.t')).toBe(good)
        expect(await one('SELECT count(*) FROM (SELECT DISTINCT _source_uri, _line FROM w.t)')).toBe(good)
        expect(await one('SELECT sum(rows) FROM w._seneka_ledger')).toBe(good)
        expect(await one('SELECT sum(rejected) FROM w._seneka_ledger')).toBe(fx.malformed - victim.malformed)
        expect(await one('SELECT count(*) FROM w._seneka_rejects')).toBe(fx.malformed - victim.malformed)
        expect(await one(`SELECT count(*) FROM w.t WHERE _source_uri LIKE '%${victim.key}'`)).toBe(0)
        expect(await one(`SELECT count(*) FROM w.t WHERE _load_path <> 'backfill'`)).toBe(0)
      } finally {
        await c.run('DETACH w')
      }
    }
    try {
      await check()
      const again: Result = await withPath('raw', () => runBackfill({...opts, reload: true}))
      expect(again.objects).toMatchObject({replaced: fx.files.length - 1, failed: 1})
      await check()
    } finally {
      c.closeSync()
      inst.closeSync()
    }
  })
})

describe('DuckDB parses ELB (classic) lines exactly as the ELB parser does', () => {
  it('edge cases and generated lines: the same rows, values and rejects (EXCEPT ALL both ways)', async () => {
    const dir = tempDir()
    const src = path.join(dir, 'src')
    mkdirSync(src)
    const lines = [
      elbLine(), elbLine({}, 11), elbLine({}, 12), elbLine({}, 10), `${elbLine()} extra "fields"`, `${elbLine()} `,
      elbLine({11: '"- - - "', 12: '"-"'}), elbLine({11: '"- http://host:80- -"'}), elbLine({11: '"GET - HTTP/1.1"'}),
      elbLine({0: '2024-02-30T00:00:00Z'}), elbLine({0: '0000-01-01T00:00:00Z'}), elbLine({0: '2024-05-01T10:00:00.1234567Z'}),
      elbLine({2: '[::1]:443'}), elbLine({3: '10.0.0.1:2147483648'}), elbLine({7: '2147483648'}), elbLine({9: '9223372036854775808'}),
      elbLine({12: '"ua \\"quoted\\""'}), elbLine({12: '"ünï"'}), elbLine({13: '"ECDHE"'}),
      ...E.flatMap((_, i) => ['-', '""', '"-"', ''].map((v) => elbLine({[i]: v}))),
      ...Array.from({length: 2000}, (_, i) =>
        elbLine({0: new Date(Date.UTC(2024, 4, 1) + i * 1777).toISOString().replace('Z', `${i % 1000}Z`).replace(/\.(\d{3})(\d*)Z/, '.$1$2Z'), 2: `10.1.${i % 256}.${(i * 7) % 256}:${1024 + i}`, 7: String(200 + (i % 5)), 10: String(i * 31), 11: `"${['GET', 'POST'][i % 2]} http://x/${i} HTTP/1.1"`}),
      ),
    ]
    writeFileSync(path.join(src, 'elb.log.gz'), gzipSync(`${lines.join('\n')}\n`))
    // the generated lines alone: an object DuckDB's CSV reader loads whole
    writeFileSync(path.join(src, 'generated.log.gz'), gzipSync(`${lines.slice(-2000).join('\n')}\n`))
    const before = rawPathCounts.csv
    const d = await bothPaths(src, dir, 'elb')
    expect(d).toMatchObject({aNotB: 0, bNotA: 0, rejectsDiffer: 0})
    expect(rawPathCounts.csv - before).toBe(1)
    expect(d.rows).toBeGreaterThan(4000)
    expect(d.rejects).toBeGreaterThan(8)
  })
})
