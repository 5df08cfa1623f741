import {existsSync, readdirSync, statSync, utimesSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {gunzipSync, gzipSync} from 'node:zlib'
import {describe, expect, it} from 'vitest'
import {runBackfill, type BackfillOptions} from '../../../src/lib/backfill/run.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {albFixture, PREFIX} from '../../helpers/alb-fixtures.js'
import {count, duckQuery} from '../../helpers/duckdb.js'
import {tempDir} from '../../helpers/tmp.js'

function setup(opts: Parameters<typeof albFixture>[0] = {}) {
  const dir = tempDir()
  const src = path.join(dir, 's3')
  const db = path.join(dir, 'wh.duckdb')
  const fx = albFixture({...opts, dir: src})
  const base: BackfillOptions = {
    sources: [path.join(src, PREFIX)],
    format: getFormat('alb'),
    warehouse: `duckdb:${db}`,
    table: 'alb_logs',
    range: {},
    concurrency: 3,
    dryRun: false,
  }
  return {dir, src, db, fx, base}
}

describe('runBackfill on local folders into DuckDB', () => {
  it('leaves no empty DuckDB file behind when it fails before loading anything', async () => {
    const {db, dir, base} = setup()
    await expect(runBackfill({...base, sources: [path.join(dir, 'no-such-folder') + '/']})).rejects.toThrow()
    expect(existsSync(db)).toBe(false)
    expect(existsSync(`${db}.wal`)).toBe(false)
  })

  it('refuses a warehouse file in a folder that does not exist instead of creating the folder', async () => {
    const {dir, base} = setup()
    const db = path.join(dir, 'sneka', 'wh.duckdb')
    await expect(runBackfill({...base, warehouse: `duckdb:${db}`})).rejects.toThrow(/folder .*sneka of the DuckDB file does not exist/)
    expect(existsSync(path.join(dir, 'sneka'))).toBe(false)
  })

  it('loads every good line once, with provenance, and keeps malformed lines aside', async () => {
    const {db, fx, base} = setup({malformedRate: 0.05})
    expect(fx.malformed).toBeGreaterThan(0)
    const r = await runBackfill(base)
    expect(r.objects).toEqual({loaded: fx.files.length, replaced: 0, skipped: 0, failed: 0})
    expect(r.rows).toBe(fx.good)
    expect(r.rejected).toBe(fx.malformed)
    expect(await count(db, 'SELECT count(*) FROM alb_logs')).toBe(fx.good)
    expect(await count(db, 'SELECT count(*) FROM _seneka_rejects')).toBe(fx.malformed)
    expect(await count(db, 'SELECT count(*) FROM _seneka_ledger')).toBe(fx.files.length)
    // every row knows its object and line; (object, line) is unique
    expect(await count(db, 'SELECT count(*) FROM (SELECT DISTINCT _source_uri, _line FROM alb_logs)')).toBe(fx.good)
    const [row] = await duckQuery(db, "SELECT _load_id, _load_path, _ingested_at IS NOT NULL AS ing, _object_modified_at IS NOT NULL AS om FROM alb_logs LIMIT 1")
    expect(row).toEqual({_load_id: r.loadId, _load_path: 'backfill', ing: true, om: true})
    // ledger rows and rejected counts add up per object
    expect(await count(db, 'SELECT sum(rows) FROM _seneka_ledger')).toBe(fx.good)
    expect(await count(db, 'SELECT sum(rejected) FROM _seneka_ledger')).toBe(fx.malformed)
    const [rej] = await duckQuery(db, 'SELECT object_uri, line, reason FROM _seneka_rejects ORDER BY object_uri, line LIMIT 1')
    expect(String(rej.object_uri)).toMatch(/^file:\/\/.*\.log\.gz$/)
    expect(rej.line).toBeGreaterThan(0)
    expect(String(rej.reason).length).toBeGreaterThan(5)
  })

  it('is exactly once: a re-run skips everything and adds no row', async () => {
    const {db, fx, base} = setup()
    await runBackfill(base)
    const again = await runBackfill(base)
    expect(again.objects).toEqual({loaded: 0, replaced: 0, skipped: fx.files.length, failed: 0})
    expect(again.plan.requests.get).toBe(0)
    expect(await count(db, 'SELECT count(*) FROM alb_logs')).toBe(fx.good)
  })

  it('replaces the rows of an object whose ETag changed, never adding to them', async () => {
    const {src, db, fx, base} = setup()
    await runBackfill(base)
    const target = fx.files[2]
    const file = path.join(src, target.key)
    const newLines = 7
    // rewrite the object with the first 7 lines of another object: same key, new content, new ETag
    const lines = gunzipSync(fx.files[3].body).toString().split('\n').slice(0, newLines).join('\n')
    writeFileSync(file, gzipSync(`${lines}\n`))
    utimesSync(file, new Date(), new Date(Date.now() + 5000))
    const r = await runBackfill(base)
    expect(r.objects).toMatchObject({loaded: 0, replaced: 1, skipped: fx.files.length - 1})
    const uri = `file://${file}`
    expect(await count(db, `SELECT count(*) FROM alb_logs WHERE _source_uri = '${uri}'`)).toBe(newLines)
    expect(await count(db, 'SELECT count(*) FROM alb_logs')).toBe(fx.good - (target.lines - target.malformed) + newLines)
    expect(await count(db, `SELECT count(*) FROM _seneka_ledger WHERE object_uri = '${uri}'`)).toBe(1)
  })

  it('a local file keeps its version when only its modification time changes; a ledger of the older "size-mtime" form still matches', async () => {
    const {src, db, fx, base} = setup()
    await runBackfill(base)
    const file = path.join(src, fx.files[1].key)
    utimesSync(file, new Date(), new Date(Date.now() + 60_000)) // touch
    const touched = await runBackfill(base)
    expect(touched.objects).toEqual({loaded: 0, replaced: 0, skipped: fx.files.length, failed: 0})
    // a ledger written by an older version recorded "size-mtimeNs" as the ETag of a local file
    const {DuckDBWarehouse} = await import('../../../src/lib/warehouse/duckdb/warehouse.js')
    const wh = await DuckDBWarehouse.open(db)
    for (const f of fx.files) {
      const st = statSync(path.join(src, f.key), {bigint: true})
      await wh.query(`UPDATE _seneka_ledger SET etag = $etag WHERE object_uri = $uri`, {etag: `${st.size}-${st.mtimeNs}`, uri: `file://${path.join(src, f.key)}`})
    }
    await wh.close()
    expect(await count(db, "SELECT count(*) FROM _seneka_ledger WHERE etag LIKE '%-%'")).toBe(fx.files.length)
    const legacy = await runBackfill(base)
    expect(legacy.objects).toEqual({loaded: 0, replaced: 0, skipped: fx.files.length, failed: 0})
  })

  it('--dry-run writes nothing: no database file is created', async () => {
    const {db, fx, base} = setup()
    const r = await runBackfill({...base, dryRun: true})
    expect(existsSync(db)).toBe(false)
    expect(r.plan.totals).toMatchObject({objects: fx.files.length, load: fx.files.length, skip: 0})
    expect(r.rows).toBe(0)
  })

  it('--dry-run on an existing warehouse changes nothing in it and reports what is loaded', async () => {
    const {dir, db, fx, base} = setup()
    await runBackfill({...base, range: {since: new Date('2024-05-02T00:00:00Z')}})
    const before = readdirSync(dir).map((f) => [f, statSync(path.join(dir, f)).size, statSync(path.join(dir, f)).mtimeMs])
    const r = await runBackfill({...base, dryRun: true})
    const after = readdirSync(dir).map((f) => [f, statSync(path.join(dir, f)).size, statSync(path.join(dir, f)).mtimeMs])
    expect(after).toEqual(before)
    const day1 = fx.files.filter((f) => f.key.includes('/2024/05/01/')).length
    expect(r.plan.totals.load).toBe(day1)
    expect(r.plan.totals.skip).toBe(fx.files.length - day1)
    expect(r.plan.days.find((d) => d.day === '2024-05-01')).toMatchObject({load: day1, skip: 0})
    expect(await count(db, 'SELECT count(*) FROM _seneka_ledger')).toBe(fx.files.length - day1)
  })

  it('reports a corrupt gzip beside good objects and loads nothing from it', async () => {
    const {src, db, fx, base} = setup()
    const bad = fx.files[1]
    const good = bad.body
    writeFileSync(path.join(src, bad.key), Buffer.concat([good.subarray(0, 60), Buffer.alloc(300, 1), good.subarray(360)]))
    const r = await runBackfill(base)
    expect(r.objects.failed).toBe(1)
    expect(r.failures[0].uri).toContain(bad.key)
    expect(r.failures[0].error).toMatch(/nothing from this object was loaded/)
    const badUri = `file://${path.join(src, bad.key)}`
    expect(await count(db, `SELECT count(*) FROM alb_logs WHERE _source_uri = '${badUri}'`)).toBe(0)
    expect(await count(db, `SELECT count(*) FROM _seneka_ledger WHERE object_uri = '${badUri}'`)).toBe(0)
    expect(await count(db, 'SELECT count(*) FROM alb_logs')).toBe(fx.good - (bad.lines - bad.malformed))
    // fixing the object and re-running loads exactly it
    writeFileSync(path.join(src, bad.key), good)
    const r2 = await runBackfill(base)
    expect(r2.objects).toMatchObject({loaded: 1, failed: 0})
    expect(await count(db, 'SELECT count(*) FROM alb_logs')).toBe(fx.good)
  })

  it('lists only the day folders in range and selects objects by time', async () => {
    const {db, fx, base} = setup({days: 4})
    const r = await runBackfill({...base, range: {since: new Date('2024-05-02T00:00:00Z'), until: new Date('2024-05-03T00:00:00Z')}})
    // the source folder is the store root: prefixes are listed relative to it
    const listed = r.plan.requests.listedPrefixes.map((p) => p.replace(/^.*eu-west-1\/?/, ''))
    expect(listed).toEqual(['', '2024/', '2024/05/', '2024/05/02/'])
    expect(r.rows).toBe(fx.goodByDay.get('2024-05-02'))
    expect(r.plan.days.map((d) => d.day)).toEqual(['2024-05-02'])
    expect(await count(db, "SELECT count(*) FROM alb_logs WHERE event_time < '2024-05-01 23:00' OR event_time >= '2024-05-03'")).toBe(0)
  })

  it('consecutive ranges tile: loading day by day equals loading everything', async () => {
    const {db, fx, base} = setup({days: 3, intervalMinutes: 60})
    let total = 0
    for (const [since, until] of [['2024-05-01', '2024-05-01T13:30:00Z'], ['2024-05-01T13:30:00Z', '2024-05-03'], ['2024-05-03', '2024-05-04']]) {
      const r = await runBackfill({...base, range: {since: new Date(since.length === 10 ? `${since}T00:00:00Z` : since), until: new Date(until.length === 10 ? `${until}T00:00:00Z` : until)}})
      total += r.objects.loaded
    }
    expect(total).toBe(fx.files.length)
    expect(await count(db, 'SELECT count(*) FROM alb_logs')).toBe(fx.good)
  })

  it('--shard i/n splits objects with no overlap and no gap', async () => {
    const {db, fx, base} = setup()
    const loaded: number[] = []
    for (let i = 0; i < 3; i++) loaded.push((await runBackfill({...base, shard: {index: i, count: 3}})).objects.loaded)
    expect(loaded.reduce((a, b) => a + b, 0)).toBe(fx.files.length)
    expect(loaded.every((n) => n > 0)).toBe(true)
    expect(await count(db, 'SELECT count(*) FROM alb_logs')).toBe(fx.good)
  })

  it('applies include and exclude globs', async () => {
    const {fx, base, src} = setup()
    writeFileSync(path.join(src, PREFIX, '2024/05/01/README.txt'), 'not a log')
    const r = await runBackfill({...base, include: ['*.log.gz'], exclude: ['**/2024/05/03/**'], dryRun: true})
    expect(r.plan.totals.objects).toBe(fx.files.filter((f) => !f.key.includes('/2024/05/03/')).length)
  })

  it('refuses an empty time range with a clear message', async () => {
    const {base} = setup()
    await expect(runBackfill({...base, range: {since: new Date('2024-05-02T00:00:00Z'), until: new Date('2024-05-01T00:00:00Z')}})).rejects.toThrow(/time range is empty/)
  })
})

describe('runBackfill of single local files', () => {
  it('loads a file named as the source by name, without listing, and not its look-alike neighbours', async () => {
    const {src, db, fx, base} = setup({days: 1})
    const one = fx.files[0]
    const file = path.join(src, one.key)
    writeFileSync(`${file}.bak`, one.body) // a neighbour whose name starts with the same characters
    const r = await runBackfill({...base, sources: [file]})
    expect(r.objects.loaded).toBe(1)
    expect(r.plan.requests.list).toBe(0)
    expect(await count(db, 'SELECT count(*) FROM alb_logs')).toBe(one.lines - one.malformed)
  })
})
