import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {Readable} from 'node:stream'
import {gunzipSync, gzipSync} from 'node:zlib'
import {describe, expect, it} from 'vitest'
import {renderSummary} from '../../../src/lib/backfill/render.js'
import {type BackfillOptions, runBackfill} from '../../../src/lib/backfill/run.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {newCounters} from '../../../src/lib/loader/read-object.js'
import {mostlyRejected} from '../../../src/lib/loader/reject-rule.js'
import {KEPT_REJECTS, stageObject} from '../../../src/lib/warehouse/duckdb/stage.js'
import {albFixture, PREFIX} from '../../helpers/alb-fixtures.js'
import {count, duckQuery} from '../../helpers/duckdb.js'
import {tempDir} from '../../helpers/tmp.js'

function setup(opts: Parameters<typeof albFixture>[0] = {}) {
  const dir = tempDir()
  const src = path.join(dir, 's3')
  const db = path.join(dir, 'wh.duckdb')
  const fx = albFixture({days: 1, ...opts, dir: src})
  const base: BackfillOptions = {
    sources: [path.join(src, PREFIX)],
    format: getFormat('alb'),
    warehouse: `duckdb:${db}`,
    table: 'alb_logs',
    range: {},
    concurrency: 2,
    dryRun: false,
  }
  return {dir, src, db, fx, base}
}

describe('the reject rule', () => {
  it('fails objects whose lines are all rejected, or at least 90% of ten lines or more', () => {
    expect(mostlyRejected(0, 1)).toBe(true)
    expect(mostlyRejected(0, 0)).toBe(false)
    expect(mostlyRejected(1, 9)).toBe(true)
    expect(mostlyRejected(2, 8)).toBe(false)
    expect(mostlyRejected(1, 8)).toBe(false) // fewer than ten lines: only "all rejected" fails
    expect(mostlyRejected(100, 5)).toBe(false)
  })
})

describe('backfill does not call a wrong --format a load', () => {
  it('fails every object whose lines are all rejected, commits nothing for them and names the format they look like', async () => {
    const {db, fx, base} = setup()
    const r = await runBackfill({...base, format: getFormat('jsonl'), table: 'app_logs'})
    expect(r.objects).toEqual({loaded: 0, replaced: 0, skipped: 0, failed: fx.files.length})
    expect(r.rows).toBe(0)
    expect(r.failures[0].error).toMatch(/^all \d+ lines were rejected as jsonl \(line 1: .*\), so nothing from this object was loaded; the lines look like alb: run again with --format alb$/)
    expect(await count(db, "SELECT count(*) FROM _seneka_ledger WHERE target_table = 'app_logs'")).toBe(0)
    expect(await count(db, "SELECT count(*) FROM _seneka_rejects WHERE target_table = 'app_logs'")).toBe(0)
    // a wrong --format is one summary line with the count and one example, not a line per object, and no
    // promise that a re-run retries them: it would fail the same way
    expect(r.failures.every((f) => !f.retryable)).toBe(true)
    const text = renderSummary(r)
    const listed = text.split('\n').filter((l) => l.includes('rejected as'))
    expect(listed).toHaveLength(1)
    expect(listed[0]).toMatch(new RegExp(`^  ${fx.files.length} objects were rejected as jsonl, so nothing from them was loaded; their lines look like alb: run again with --format alb \\(e\\.g\\. file://\\S+: all of \\d+ lines rejected\\)$`))
    expect(text).not.toContain('re-run the same command')
    expect(text).not.toContain('more (see --json)')
    // the right format then loads everything
    const ok = await runBackfill(base)
    expect(ok.objects.loaded).toBe(fx.files.length)
    expect(ok.rows).toBe(fx.good)
  })

  it('fails an object that is 90% rejected lines and still loads the good objects beside it', async () => {
    const {src, db, fx, base} = setup()
    const victim = fx.files[0]
    const good = victim.body
    const {gunzipSync} = await import('node:zlib')
    const first = gunzipSync(good).toString().split('\n')[0]
    writeFileSync(path.join(src, victim.key), gzipSync(`${first}\n${Array.from({length: 19}, (_, i) => `garbage ${i}`).join('\n')}\n`))
    const r = await runBackfill(base)
    expect(r.objects).toMatchObject({loaded: fx.files.length - 1, failed: 1})
    expect(r.failures[0].uri).toContain(victim.key)
    expect(r.failures[0].error).toMatch(/^19 of 20 lines were rejected as alb/)
    expect(await count(db, `SELECT count(*) FROM alb_logs WHERE _source_uri LIKE '%${victim.key}'`)).toBe(0)
  })
})

describe('the ledger belongs to its table', () => {
  it('after the table is dropped, a re-run loads everything again', async () => {
    const {db, fx, base} = setup({malformedRate: 0.05})
    await runBackfill(base)
    await duckQuery(db, 'DROP TABLE alb_logs')
    const plan = await runBackfill({...base, dryRun: true})
    expect(plan.plan.totals).toMatchObject({load: fx.files.length, skip: 0})
    const r = await runBackfill(base)
    expect(r.objects).toEqual({loaded: fx.files.length, replaced: 0, skipped: 0, failed: 0})
    expect(await count(db, 'SELECT count(*) FROM alb_logs')).toBe(fx.good)
    expect(await count(db, 'SELECT count(*) FROM _seneka_ledger')).toBe(fx.files.length)
    expect(await count(db, 'SELECT count(*) FROM _seneka_rejects')).toBe(fx.malformed)
  })

  it('--reload loads the objects in range again, replacing their rows exactly once', async () => {
    const {db, fx, base} = setup({days: 2, malformedRate: 0.05})
    const first = await runBackfill(base)
    const day2 = {since: new Date('2024-05-02T00:00:00Z')}
    const n2 = fx.files.filter((f) => f.key.includes('/2024/05/02/')).length
    const plan = await runBackfill({...base, range: day2, reload: true, dryRun: true})
    expect(plan.plan.totals).toMatchObject({replace: n2, skip: 0, load: 0})
    const r = await runBackfill({...base, range: day2, reload: true})
    expect(r.objects).toEqual({loaded: 0, replaced: n2, skipped: 0, failed: 0})
    expect(await count(db, 'SELECT count(*) FROM alb_logs')).toBe(fx.good)
    expect(await count(db, 'SELECT count(*) FROM (SELECT DISTINCT _source_uri, _line FROM alb_logs)')).toBe(fx.good)
    expect(await count(db, 'SELECT count(*) FROM _seneka_ledger')).toBe(fx.files.length)
    expect(await count(db, 'SELECT count(*) FROM _seneka_rejects')).toBe(fx.malformed)
    expect(await count(db, `SELECT count(*) FROM alb_logs WHERE _load_id = '${r.loadId}'`)).toBe(fx.goodByDay.get('2024-05-02'))
    expect(await count(db, `SELECT count(*) FROM alb_logs WHERE _load_id = '${first.loadId}'`)).toBe(fx.good - fx.goodByDay.get('2024-05-02')!)
    // without --reload a re-run skips everything again
    expect((await runBackfill(base)).objects.skipped).toBe(fx.files.length)
  })
})

describe('rejected lines', () => {
  it('are all kept, byte for byte, in _seneka_rejects, while memory holds only the first few', async () => {
    const {src, db, fx, base} = setup({intervalMinutes: 720, linesPerFile: 60})
    const f = fx.files[0]
    // 60 good lines and 70 odd ones: tabs, quotes, a literal \N, a backslash, unicode; below the reject rule's 90%
    const odd = Array.from({length: 70}, (_, i) => ['x\ty', 'say "hi"', '\\N', 'back\\slash', 'ünï ✓', 'a,b;c'][i % 6] + ` #${i}`)
    const body = `${gunzipSync(f.body).toString().trimEnd()}\n${odd.join('\n')}\n`
    writeFileSync(path.join(src, f.key), gzipSync(body))
    const r = await runBackfill(base)
    expect(r.objects.failed).toBe(0)
    expect(r.rejected).toBe(fx.malformed + 70)
    const stored = await duckQuery(db, `SELECT raw FROM _seneka_rejects WHERE object_uri LIKE '%${path.basename(f.key)}' ORDER BY line`)
    expect(stored.map((x) => x.raw)).toEqual([...gunzipSync(f.body).toString().split('\n').filter((l) => l && !getFormat('alb').parse(l).ok), ...odd])
    const ledger = await duckQuery(db, `SELECT rejected FROM _seneka_ledger WHERE object_uri LIKE '%${path.basename(f.key)}'`)
    expect(Number(ledger[0].rejected)).toBe(stored.length)
  })

  it('are spilled to a file as they come: 20,000 rejects keep 50 in memory', async () => {
    const dir = tempDir()
    const text = Array.from({length: 20_000}, (_, i) => `not a log line ${i}`).join('\n')
    const r = await stageObject(Readable.from([Buffer.from(text)]), getFormat('alb'), path.join(dir, 's.tsv'), newCounters())
    expect([r.rows, r.rejected, r.rejects.length]).toEqual([0, 20_000, KEPT_REJECTS])
    expect(readFileSync(r.rejectsFile!, 'utf8').split('\n').filter(Boolean)).toHaveLength(20_000)
  })
})

