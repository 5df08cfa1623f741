import {readdirSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {albFixture, PREFIX} from '../helpers/alb-fixtures.js'
import {jsonResult, runCli} from '../helpers/cli.js'
import {count} from '../helpers/duckdb.js'
import {tempDir} from '../helpers/tmp.js'

function setup(opts: Parameters<typeof albFixture>[0] = {}) {
  const dir = tempDir()
  const src = path.join(dir, 's3')
  const db = path.join(dir, 'wh.duckdb')
  const fx = albFixture({...opts, dir: src})
  return {src: path.join(src, PREFIX), db, fx}
}

describe('seneka backfill (CLI)', () => {
  it('--json prints one JSON document and nothing else on stdout', async () => {
    const {src, db, fx} = setup({malformedRate: 0.02})
    const r = await runCli(['backfill', src, '--format', 'alb', '--warehouse', `duckdb:${db}`, '--table', 't', '--json'])
    expect(r.code).toBe(0)
    const doc = jsonResult(r.stdout)
    expect(doc.objects).toEqual({loaded: fx.files.length, replaced: 0, skipped: 0, failed: 0})
    expect(doc.rows).toBe(fx.good)
    expect(doc.rejected).toBe(fx.malformed)
    expect(doc.plan.days.length).toBe(3)
  })

  it('--dry-run prints the plan per day with request counts', async () => {
    const {src, db, fx} = setup()
    const r = await runCli(['backfill', src, '--format', 'alb', '--warehouse', `duckdb:${db}`, '--since', '2024-05-02', '--dry-run'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/2024-05-02\s+\d+/)
    expect(r.stdout).not.toMatch(/2024-05-01/)
    expect(r.stdout).toMatch(/LIST made while planning/)
    expect(r.stdout).toMatch(/Dry run: nothing was written/)
    expect(r.stdout).toMatch(new RegExp(`Run again without --dry-run to load ${fx.files.length - fx.files.filter((f) => f.key.includes('/2024/05/01/')).length} objects`))
  })

  it('a process killed mid-run and re-run gives exactly the rows of an uninterrupted run', async () => {
    const {src, db, fx} = setup({days: 4, intervalMinutes: 30, linesPerFile: 400})
    const args = ['backfill', src, '--format', 'alb', '--warehouse', `duckdb:${db}`, '--table', 't', '--concurrency', '2']
    // kill -9 shortly after planning, while objects are being loaded
    let killed = false
    const first = await runCli(args, {
      onStderr: (s, child) => {
        if (!killed && s.includes('Planned')) {
          killed = true
          setTimeout(() => child.kill('SIGKILL'), 400)
        }
      },
    })
    expect(first.signal).toBe('SIGKILL')
    const partial = await count(db, 'SELECT count(*) FROM _seneka_ledger')
    expect(partial).toBeLessThan(fx.files.length) // it really was interrupted
    expect(await count(db, 'SELECT count(*) FROM t')).toBe(await count(db, 'SELECT coalesce(sum(rows), 0) FROM _seneka_ledger'))
    const second = await runCli([...args, '--json'])
    expect(second.code).toBe(0)
    const doc = jsonResult(second.stdout)
    expect(doc.objects.skipped).toBe(partial)
    expect(doc.objects.loaded).toBe(fx.files.length - partial)
    expect(await count(db, 'SELECT count(*) FROM t')).toBe(fx.good)
    expect(await count(db, 'SELECT count(*) FROM (SELECT DISTINCT _source_uri, _line FROM t)')).toBe(fx.good)
    expect(await count(db, 'SELECT count(*) FROM _seneka_ledger')).toBe(fx.files.length)
  }, 120_000)

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s: finishes the loads running, says what was committed, exits %i, removes its stage folder; a re-run continues', async (sig, code) => {
    const {src, db, fx} = setup({days: 1, intervalMinutes: 30, linesPerFile: 200})
    const args = ['backfill', src, '--format', 'alb', '--warehouse', `duckdb:${db}`, '--table', 't', '--concurrency', '2']
    let sent = false
    const first = await runCli(args, {
      onStderr: (s, child) => {
        if (!sent && s.includes('Planned')) {
          sent = true
          setTimeout(() => child.kill(sig), 100)
        }
      },
    })
    expect(first.signal).toBeNull()
    expect(first.code).toBe(code)
    expect(first.stderr).toMatch(new RegExp(`${sig}: finishing the loads running`))
    const ledger = await count(db, 'SELECT count(*) FROM _seneka_ledger')
    const rows = await count(db, 'SELECT count(*) FROM t')
    expect(ledger).toBeGreaterThan(0)
    expect(ledger).toBeLessThan(fx.files.length) // it really was interrupted, and the queued objects were not loaded
    expect(first.stdout).toContain(`Interrupted: ${ledger} objects of ${fx.files.length} (${rows.toLocaleString('en-US')} rows) were committed, ${fx.files.length - ledger} objects were not loaded; run the same command again to continue`)
    expect(readdirSync(path.dirname(db)).filter((n) => n.startsWith('.seneka-stage-'))).toEqual([])
    const second = await runCli([...args, '--json'])
    expect(second.code).toBe(0)
    expect(jsonResult(second.stdout).objects).toMatchObject({skipped: ledger, loaded: fx.files.length - ledger})
    expect(await count(db, 'SELECT count(*) FROM t')).toBe(fx.good)
  }, 120_000)

  it.each([
    [['backfill', '.', '--format', 'csv'], 2, /Expected --format=csv to be one of: alb, elb, jsonl/],
    [['backfill', '.', '--format', 'alb', '--since', 'yesterday'], 2, /--since "yesterday" is not a date or timestamp/],
    [['backfill', '.', '--format', 'alb', '--shard', '3/3'], 2, /--shard "3\/3" is not of the form i\/n/],
    [['backfill', '.', '--format', 'alb', '--table', 'bad-name', '--dry-run'], 2, /"bad-name" is not a valid table name/],
    [['backfill', 'ftp://x/y', '--format', 'alb', '--dry-run'], 2, /Unsupported location "ftp:\/\/x\/y"/],
    [['backfill', 'missing-folder-xyz', '--format', 'alb', '--dry-run'], 2, /The folder .*missing-folder-xyz does not exist/],
    [['backfill', '.', '--format', 'alb', '--warehouse', 'postgres://x', '--dry-run'], 2, /"postgres:\/\/x" is not a warehouse URI/],
    [['backfill', '.', '--format', 'alb', '--dry-run'], 1, /No log objects were found under \., so nothing was planned\./],
  ])('%j exits %i with one clear sentence and no stack trace', async (args, code, message) => {
    const r = await runCli(args as string[], {cwd: tempDir()})
    expect(r.code).toBe(code)
    expect(r.stderr).toMatch(message)
    expect(r.stderr).not.toMatch(/\n\s+at .*\.(js|ts):\d+/)
  })

  it('exits 3 when an object failed, and says so', async () => {
    const {src, db} = setup({days: 1})
    const {writeFileSync, readdirSync} = await import('node:fs')
    const day = path.join(src, '2024/05/01')
    const victim = readdirSync(day)[0]
    writeFileSync(path.join(day, victim), Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5]))
    const r = await runCli(['backfill', src, '--format', 'alb', '--warehouse', `duckdb:${db}`])
    expect(r.code).toBe(3)
    expect(r.stdout).toMatch(/1 failed/)
    expect(r.stdout).toContain(victim)
  })

  it('a wrong --format fails every object (exit 3), names the format the lines look like and commits nothing', async () => {
    const {src, db, fx} = setup({days: 1})
    const r = await runCli(['backfill', src, '--format', 'elb', '--warehouse', `duckdb:${db}`, '--table', 't'])
    expect(r.code).toBe(3)
    expect(r.stdout).toMatch(new RegExp(`${fx.files.length} failed`))
    // one summary line for all of them, with one example; no promise that a re-run helps
    expect(r.stdout).toMatch(new RegExp(`^  ${fx.files.length} objects were rejected as elb, so nothing from them was loaded; their lines look like alb: run again with --format alb \\(e\\.g\\. `, 'm'))
    expect(r.stdout).not.toContain('re-run the same command')
    expect(await count(db, 'SELECT count(*) FROM _seneka_ledger')).toBe(0)
  })

  it('--max-rejects exits 4 and says why: how many rejects, the limit, where they are listed and what was committed', async () => {
    const {src, db, fx} = setup({days: 1, malformedRate: 0.05})
    expect(fx.malformed).toBeGreaterThan(0)
    const r = await runCli(['backfill', src, '--format', 'alb', '--warehouse', `duckdb:${db}`, '--table', 't', '--max-rejects', '0'])
    expect(r.code).toBe(4)
    const said = r.stderr.replace(/\s+/g, ' ')
    expect(said).toContain(`Exit 4: ${fx.malformed} lines were rejected, more than --max-rejects 0; they are listed in the table _seneka_rejects (load_id = 'bf-`)
    expect(said).toContain(`and the ${fx.good.toLocaleString('en-US')} rows of the ${fx.files.length} objects loaded were committed.`)
    const json = await runCli(['backfill', src, '--format', 'alb', '--warehouse', `duckdb:${db}`, '--table', 't2', '--max-rejects', '0', '--json'])
    expect(json.code).toBe(4)
    expect(jsonResult(json.stdout).rejectsExceeded).toMatch(/lines were rejected, more than --max-rejects 0/)
  })

  it('--help documents examples and exit codes', async () => {
    const r = await runCli(['backfill', '--help'])
    expect(r.stdout).toMatch(/EXAMPLES/)
    expect(r.stdout).toMatch(/EXIT CODES/)
    expect(r.stdout).toMatch(/--dry-run/)
  })

  it('off a terminal, a progress line on stderr as the load starts (then every 10 s); none under --json', async () => {
    const {src, db, fx} = setup({days: 1})
    const plain = await runCli(['backfill', src, '--format', 'alb', '--warehouse', `duckdb:${db}`, '--table', 't'])
    expect(plain.code, plain.stderr).toBe(0)
    expect(plain.stderr).toMatch(new RegExp(`^progress: 0/${fx.files.length} objects, 0 B/\\S+ \\S+, 0 rows, 0 rows/s, ETA unknown$`, 'm'))
    const json = await runCli(['backfill', src, '--format', 'alb', '--warehouse', `duckdb:${db}`, '--table', 't2', '--json'])
    expect(json.code, json.stderr).toBe(0)
    expect(json.stderr).not.toMatch(/^progress:/m)
  })
})
