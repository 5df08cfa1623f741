import type {ChildProcess} from 'node:child_process'
import {mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {ExitCode} from '../../src/lib/exit-codes.js'
import {type CliResult, jsonResult, runCli} from '../helpers/cli.js'
import {count} from '../helpers/duckdb.js'
import {holdFile} from '../helpers/duckdb-holder.js'
import {tempDir} from '../helpers/tmp.js'

/** n JSON lines with event times on the given day of May 2024. */
function lines(n: number, tag: string, day: number): string {
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(JSON.stringify({time: new Date(Date.UTC(2024, 4, day, 0, 0, i % 60)).toISOString(), msg: `${tag}-${i}`}))
  return `${out.join('\n')}\n`
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

describe('seneka commands beside a running stream worker (one DuckDB file)', () => {
  it('reconcile, latency-report, backfill --dry-run and a backfill run while stream --watch loads, and every row is there once', {timeout: 120_000}, async () => {
    const root = tempDir()
    const watched = path.join(root, 'in')
    const batch = path.join(root, 'batch')
    mkdirSync(watched)
    mkdirSync(batch)
    const db = path.join(root, 'wh.duckdb')
    const warehouse = ['--warehouse', `duckdb:${db}`]
    for (const [name, n] of [['a.log', 40], ['b.log', 30]] as const) {
      writeFileSync(path.join(watched, name), lines(n, name, 1))
      // the batch path gets the same day-1 objects: reconcile compares the two
      writeFileSync(path.join(batch, name), lines(n, name, 1))
    }

    let stderr = ''
    let child: ChildProcess | undefined
    const loaded = (name: string): boolean => new RegExp(`\\nloaded \\S*/in/${name.replace('.', '\\.')} `).test(`\n${stderr}`)
    const worker = runCli(['stream', '--watch', watched, '--format', 'jsonl', '--table', 'app', ...warehouse, '--settle', '200ms', '--poll-interval', '100ms', '--status-interval', '0s', '--log-level', 'debug'], {
      onStderr: (s, c) => {
        stderr += s
        child = c
      },
    })
    let dropped = 0
    let dropping = true
    try {
      await until('the first files to load', () => loaded('a.log') && loaded('b.log'))
      // keep the worker busy while the others run: a new file (day 2, outside the reconciled day) every 150 ms
      const dropper = (async () => {
        while (dropping) {
          writeFileSync(path.join(watched, `d${String(dropped).padStart(3, '0')}.log`), lines(25, `d${dropped}`, 2))
          dropped++
          await sleep(150)
        }
      })()
      const loadedBefore = (stderr.match(/\nloaded /g) ?? []).length
      const timed = async (args: string[]): Promise<CliResult & {ms: number}> => {
        const t0 = performance.now()
        const r = await runCli(args)
        return {...r, ms: performance.now() - t0}
      }

      // a writer: another table, from another folder
      const bf = await timed(['backfill', batch, '--format', 'jsonl', '--table', 'batch', ...warehouse, '--json'])
      expect(bf.stderr).not.toMatch(/in use by another process/)
      expect(bf.code).toBe(ExitCode.OK)
      expect(jsonResult(bf.stdout).objects.loaded).toBe(2)

      const dry = await timed(['backfill', watched, '--format', 'jsonl', '--table', 'app', ...warehouse, '--dry-run', '--json'])
      expect(dry.code).toBe(ExitCode.OK)
      // the worker's commits are visible: a.log and b.log (at least) are already loaded
      expect(jsonResult(dry.stdout).plan.totals.skip).toBeGreaterThanOrEqual(2)

      const rec = await timed(['reconcile', '--batch-table', 'batch', '--stream-table', 'app', ...warehouse, '--since', '2024-05-01', '--until', '2024-05-02', '--json'])
      expect(rec.code).toBe(ExitCode.OK)
      expect(jsonResult(rec.stdout).totals).toMatchObject({batch: 70, stream: 70, difference: 0})

      const lat = await timed(['latency-report', '--table', 'app', ...warehouse, '--json'])
      expect(lat.code).toBe(ExitCode.OK)
      expect(jsonResult(lat.stdout).count).toBeGreaterThanOrEqual(70)
      for (const r of [dry, rec, lat]) expect(r.stderr).not.toMatch(/in use by another process/)

      dropping = false
      await dropper
      // the worker went on committing while the others came and went
      expect((stderr.match(/\nloaded /g) ?? []).length).toBeGreaterThan(loadedBefore)
      for (let i = 0; i < dropped; i++) {
        const name = `d${String(i).padStart(3, '0')}.log`
        await until(name, () => loaded(name))
      }
    } finally {
      dropping = false
      child?.kill('SIGINT')
    }
    const r = await worker
    expect(r.code).toBe(0)
    expect(r.stderr).not.toMatch(/load failed|in use by another process/)

    // every row exactly once
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(70 + dropped * 25)
    expect(await count(db, 'SELECT count(*) FROM (SELECT _source_uri, _line FROM app GROUP BY ALL HAVING count(*) > 1)')).toBe(0)
    expect(await count(db, 'SELECT count(DISTINCT _source_uri) FROM app')).toBe(2 + dropped)
    expect(await count(db, 'SELECT count(*) FROM batch')).toBe(70)
    expect(await count(db, "SELECT count(*) FROM _seneka_ledger WHERE target_table = 'app'")).toBe(2 + dropped)
    expect(dropped).toBeGreaterThan(3)
    // nothing left beside the file: no wait markers, no staging folders
    expect(readdirSync(root).filter((f) => f.startsWith('.seneka-'))).toEqual([])
  })

  it('a reader that cannot get the file within SENEKA_DUCKDB_LOCK_WAIT fails with one sentence and a suggestion', {timeout: 60_000}, async () => {
    const root = tempDir()
    const db = path.join(root, 'wh.duckdb')
    const data = path.join(root, 'in')
    mkdirSync(data)
    writeFileSync(path.join(data, 'a.log'), lines(5, 'a', 1))
    expect((await runCli(['backfill', data, '--format', 'jsonl', '--table', 'app', '--warehouse', `duckdb:${db}`])).code).toBe(0)
    // a long reader holds the file (a read-only open locks a writer out): the writer waits 1 s, then gives up
    const holder = holdFile(db, 20_000, {mode: 'ro'})
    try {
      await holder.held
      const t0 = performance.now()
      const r = await runCli(['backfill', data, '--format', 'jsonl', '--table', 'app', '--warehouse', `duckdb:${db}`], {env: {SENEKA_DUCKDB_LOCK_WAIT: '1500ms'}})
      expect(r.code).toBe(ExitCode.ERROR)
      expect(performance.now() - t0).toBeGreaterThan(1500)
      const text = r.stderr.replace(/\s*›\s*/g, ' ').replace(/\s+/g, ' ')
      expect(text).toContain(`Waiting for another seneka process (PID ${holder.child.pid}) to release ${db}`)
      expect(text).toContain(`The DuckDB file ${db} is in use by another process (PID ${holder.child.pid}) and was not released within 1.5s.`)
      expect(text).toMatch(/SENEKA_DUCKDB_LOCK_WAIT=5m/)
      expect(r.stderr).not.toMatch(/\n\s+at /)
    } finally {
      holder.stop()
    }
  })
})
