import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {ExitCode} from '../../src/lib/exit-codes.js'
import {DuckDBWarehouse} from '../../src/lib/warehouse/duckdb/warehouse.js'
import Dedupe from '../../src/commands/dedupe.js'
import {jsonResult, runCli, runCommand} from '../helpers/cli.js'
import {tempDir} from '../helpers/tmp.js'
import {body, count, kc, makeTable, records} from '../lib/dedupe/fixtures.js'

const T1 = '2024-05-01 06:00:00'

async function smallTable(dir: string, withDuplicates: boolean): Promise<string> {
  const base = records(0, 0, 20, 's3://b/a.jsonl', T1)
  return makeTable(dir, withDuplicates ? [...base, ...base.slice(0, 5).map((r) => ({...r, _source_uri: 's3://b/replay.jsonl'}))] : base)
}

describe('seneka dedupe (rows)', () => {
  it('reports without changing anything, and exits 12 with --fail-on-duplicates', async () => {
    const file = await smallTable(tempDir(), true)
    const wh = `duckdb:${file}`
    const plain = await runCli(['dedupe', '--warehouse', wh, '--table', 'app_logs', '--key', 'partition,offset'])
    expect(plain.code).toBe(0)
    expect(plain.stdout).toContain('duplicate rows   5')
    expect(plain.stdout).toContain('Report only: nothing was changed')
    const check = await runCli(['dedupe', '--warehouse', wh, '--table', 'app_logs', '--key', 'partition,offset', '--fail-on-duplicates', '--json'])
    expect(check.code).toBe(ExitCode.DUPLICATES_FOUND)
    const doc = jsonResult(check.stdout)
    expect(doc).toMatchObject({mode: 'rows', duplicatesFound: true, applied: null, report: {rows: 25, distinctKeys: 20, duplicateRows: 5}})
    expect(doc.report.perSource).toEqual([{source: 's3://b/replay.jsonl', rows: 5, duplicateRows: 5}])
    expect(await count(file, 'SELECT COUNT(*) FROM app_logs')).toBe(25)
  })

  it('--apply removes the duplicates; a clean table passes --fail-on-duplicates', async () => {
    const file = await smallTable(tempDir(), true)
    const wh = `duckdb:${file}`
    const applied = await runCli(['dedupe', '--warehouse', wh, '--table', 'app_logs', '--key', 'partition', '--key', 'offset', '--apply', '--json'])
    expect(applied.code).toBe(0)
    expect(jsonResult(applied.stdout).applied).toMatchObject({rowsRemoved: 5, after: {duplicateRows: 0, distinctKeys: 20}})
    expect(await count(file, `SELECT COUNT(*) FROM app_logs WHERE _source_uri = 's3://b/replay.jsonl'`)).toBe(0)
    const check = await runCli(['dedupe', '--warehouse', wh, '--table', 'app_logs', '--key', 'partition,offset', '--fail-on-duplicates'])
    expect(check.code).toBe(0)
    expect(check.stdout).toContain('No duplicates.')
  })

  it('an empty range is NO DATA: --fail-on-duplicates exits 12 (the rule of reconcile and latency-report); the report alone exits 0', async () => {
    const wh = `duckdb:${await smallTable(tempDir(), false)}`
    const argv = ['--warehouse', wh, '--table', 'app_logs', '--key', 'partition,offset', '--since', '2030-01-01', '--until', '2030-01-02']
    const check = await runCommand(Dedupe, [...argv, '--fail-on-duplicates'])
    expect(check.code).toBe(ExitCode.DUPLICATES_FOUND)
    expect(check.stdout).toContain('NO DATA: app_logs has no rows with event_time in [2030-01-01T00:00:00.000Z, 2030-01-02T00:00:00.000Z), so nothing was checked and nothing passed.')
    expect(check.stdout).not.toContain('No duplicates.')
    expect(check.result).toMatchObject({noData: true, duplicatesFound: false})
    const report = await runCommand(Dedupe, argv)
    expect(report.code).toBe(0)
    expect(report.stdout).toContain('NO DATA: app_logs has no rows')
  })

  it('exits 2 on bad flags and on a missing table (as reconcile and latency-report do)', async () => {
    const file = await smallTable(tempDir(), false)
    const wh = `duckdb:${file}`
    const bad = await runCli(['dedupe', '--warehouse', wh, '--table', 'app_logs', '--key', 'partition,off-set'])
    expect(bad.code).toBe(ExitCode.USAGE)
    expect(bad.stderr).toContain('is not a valid column name')
    expect((await runCli(['dedupe', '--warehouse', wh, '--table', 'app_logs'])).code).toBe(ExitCode.USAGE)
    expect((await runCli(['dedupe', '--warehouse', wh, '--table', 'app_logs', '--objects', '.', '--key', 'a'])).code).toBe(ExitCode.USAGE)
    expect((await runCli(['dedupe', '--warehouse', wh, '--key', 'a'])).code).toBe(ExitCode.USAGE)
    // parse-time flag errors: exit code decided by the base command; the message must name the problem
    const since = await runCli(['dedupe', '--warehouse', wh, '--table', 'app_logs', '--key', 'a', '--since', 'yesterday'])
    expect(since.code).not.toBe(0)
    expect(since.stderr).toContain('is not a date or timestamp')
    const missing = await runCli(['dedupe', '--warehouse', wh, '--table', 'nope', '--key', 'partition'])
    expect(missing.code).toBe(ExitCode.USAGE)
    expect(missing.stderr).toContain('does not exist')
  })

  it('has examples for both modes and the exit codes in --help', async () => {
    const help = await runCli(['dedupe', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('--key partition,offset')
    expect(help.stdout).toContain('--objects s3://')
    expect(help.stdout).toMatch(/EXIT CODES[\s\S]*12\s+duplicates/)
  })
})

describe('seneka dedupe --apply killed mid-way', () => {
  const ROWS = Number(process.env.SENEKA_TEST_KILL_ROWS ?? 300_000)
  const DISTINCT = Math.floor(ROWS * 0.7)

  async function bigTable(dir: string): Promise<string> {
    const file = path.join(dir, 'big.duckdb')
    const wh = await DuckDBWarehouse.open(file)
    // every key (partition, offset) once, 30% of them twice (a replay from other files, ingested later)
    await wh.query(`CREATE TABLE app_logs AS
      SELECT (r % 8)::INTEGER AS partition, (r % ${DISTINCT})::BIGINT AS "offset", TIMESTAMP '2024-05-01' + to_seconds(r % 86400) AS event_time,
        'message ' || (r % ${DISTINCT}) AS message, 's3://b/f' || (r // 10000) || '.gz' AS _source_uri, r::BIGINT AS _line,
        TIMESTAMP '2024-06-01' + to_seconds(r) AS _ingested_at
      FROM range(${ROWS}) t(r)`)
    await wh.close()
    return file
  }

  /** Runs --apply and SIGKILLs it as soon as stderr shows `marker`. */
  function applyAndKill(file: string, marker: string): Promise<{signal: NodeJS.Signals | null; stderr: string}> {
    let seen = ''
    return runCli(['dedupe', '--warehouse', `duckdb:${file}`, '--table', 'app_logs', '--key', 'partition,offset', '--apply', '--samples', '0'], {
      onStderr: (s, child) => {
        seen += s
        if (seen.includes(marker)) child.kill('SIGKILL')
      },
    })
  }

  it('leaves the table untouched or fully deduplicated, and a re-run finishes the job', async () => {
    const dir = tempDir()
    const file = await bigTable(dir)
    const before = await count(file, 'SELECT COUNT(*) FROM app_logs')
    const distinct = await count(file, 'SELECT COUNT(*) FROM (SELECT DISTINCT partition, "offset" FROM app_logs)')
    expect(before).toBe(ROWS)
    expect(distinct).toBeLessThan(ROWS)
    const outcomes: string[] = []
    for (const marker of ['Removing duplicate rows.', 'Verifying:', 'Verified; committing.']) {
      const run = await applyAndKill(file, marker)
      expect(run.stderr).toContain(marker)
      const rows = await count(file, 'SELECT COUNT(*) FROM app_logs')
      const keys = await count(file, 'SELECT COUNT(*) FROM (SELECT DISTINCT partition, "offset" FROM app_logs)')
      expect(keys).toBe(distinct)
      expect([before, distinct]).toContain(rows)
      outcomes.push(`${marker} -> ${run.signal ?? 'exited'} -> ${rows === before ? 'untouched' : 'deduplicated'}`)
      if (rows === distinct) break
    }
    // the kill after "Removing" lands inside the transaction on any machine that takes >0ms to delete
    expect(outcomes[0]).toMatch(/SIGKILL -> untouched/)
    console.log(`kill outcomes: ${outcomes.join('; ')}`)
    const rerun = await runCli(['dedupe', '--warehouse', `duckdb:${file}`, '--table', 'app_logs', '--key', 'partition,offset', '--apply', '--fail-on-duplicates', '--samples', '0'])
    expect(await count(file, 'SELECT COUNT(*) FROM app_logs')).toBe(distinct)
    expect(await count(file, 'SELECT COUNT(*) FROM (SELECT partition, "offset" FROM app_logs GROUP BY ALL HAVING COUNT(*) > 1)')).toBe(0)
    // a rerun exits 12 only when it still found duplicates to remove
    expect([0, ExitCode.DUPLICATES_FOUND]).toContain(rerun.code)
  })
})

describe('seneka dedupe --objects', () => {
  it('exits 12 on a replayed range with --fail-on-duplicates, needs --output for --apply, writes the list', async () => {
    const dir = tempDir()
    const put = (key: string, data: Buffer): void => {
      const f = path.join(dir, 'topics', ...key.split('/'))
      mkdirSync(path.dirname(f), {recursive: true})
      writeFileSync(f, data)
    }
    put(`a/${kc('app', 0, 0)}`, body(0, 50))
    put(`a/${kc('app', 0, 50)}`, body(50, 50))
    put(`b/${kc('app', 0, 25)}`, body(25, 50)) // a replay of offsets 25..75
    const src = path.join(dir, 'topics')
    const rep = await runCli(['dedupe', '--objects', src, '--fail-on-duplicates'])
    expect(rep.code).toBe(ExitCode.DUPLICATES_FOUND)
    expect(rep.stdout).toContain('redundant files  1 (50 records')
    expect((await runCli(['dedupe', '--objects', src, '--apply'])).code).toBe(ExitCode.USAGE)
    expect((await runCli(['dedupe', '--objects', src, '--name-pattern', '(?<offset>\\d+)'])).code).toBe(ExitCode.USAGE)
    const out = path.join(dir, 'redundant.json')
    const applied = await runCli(['dedupe', '--objects', src, '--apply', '--output', out, '--json'])
    expect(applied.code).toBe(0)
    const doc = jsonResult(applied.stdout)
    expect(doc.written).toEqual({output: out, manifest: null, objects: 1})
    expect(doc.redundant[0].key).toBe(`b/${kc('app', 0, 25)}`)
  })
})
