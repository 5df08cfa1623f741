import {CreateBucketCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import type {ChildProcess} from 'node:child_process'
import {readdirSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it, onTestFinished} from 'vitest'
import {albFixture, PREFIX} from '../helpers/alb-fixtures.js'
import {type CliResult, jsonResult, runCli} from '../helpers/cli.js'
import {count} from '../helpers/duckdb.js'
import {startAws} from '../helpers/fauxqs.js'
import {gatedS3} from '../helpers/gated-s3.js'
import {tempDir} from '../helpers/tmp.js'

const BUCKET = 'bf-interrupt'

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

describe('seneka backfill interrupted (CLI; S3 behind a proxy that holds reads, so the run is caught mid-way)', () => {
  let aws: Awaited<ReturnType<typeof startAws>>
  beforeAll(async () => {
    aws = await startAws()
    await aws.s3.send(new CreateBucketCommand({Bucket: BUCKET}))
  })
  afterAll(() => aws?.stop())

  /** ALB objects in S3 (one prefix per test) and a proxy that lets the first 4 object reads through, then holds them */
  async function s3Setup(name: string) {
    const fx = albFixture({days: 1, intervalMinutes: 60, linesPerFile: 200})
    await Promise.all(fx.files.map((f) => aws.s3.send(new PutObjectCommand({Bucket: BUCKET, Key: `${name}/${f.key}`, Body: f.body}))))
    const gate = await gatedS3(aws.endpoint, {pass: 4})
    onTestFinished(() => gate.close())
    const db = path.join(tempDir(), 'wh.duckdb')
    const args = ['backfill', `s3://${BUCKET}/${name}/${PREFIX}`, '--format', 'alb', '--warehouse', `duckdb:${db}`, '--table', 't', '--concurrency', '2']
    return {fx, gate, db, args, env: {AWS_ENDPOINT_URL_S3: gate.url}}
  }

  /** Runs the CLI until it reads no further (two reads held: --concurrency 2), then calls `interrupt`. */
  async function caughtMidway(s: Awaited<ReturnType<typeof s3Setup>>, interrupt: (child: ChildProcess) => Promise<void>): Promise<CliResult> {
    let child!: ChildProcess
    const run = runCli(s.args, {env: s.env, onSpawn: (c) => (child = c)})
    await Promise.race([
      s.gate.waitHeld(2),
      run.then((r) => {
        throw new Error(`the run ended before its reads were held (exit ${r.code}): ${r.stderr}`)
      }),
    ])
    await interrupt(child)
    return run
  }

  it('a process killed mid-run and re-run gives exactly the rows of an uninterrupted run', async () => {
    const s = await s3Setup('kill9')
    const first = await caughtMidway(s, async (child) => {
      child.kill('SIGKILL')
    })
    s.gate.release()
    expect(first.signal).toBe('SIGKILL')
    const partial = await count(s.db, 'SELECT count(*) FROM _seneka_ledger')
    expect(partial).toBeLessThanOrEqual(4) // it really was interrupted: at most the objects read before the hold
    expect(await count(s.db, 'SELECT count(*) FROM t')).toBe(await count(s.db, 'SELECT coalesce(sum(rows), 0) FROM _seneka_ledger'))
    const second = await runCli([...s.args, '--json'], {env: s.env})
    expect(second.code).toBe(0)
    const doc = jsonResult(second.stdout)
    expect(doc.objects.skipped).toBe(partial)
    expect(doc.objects.loaded).toBe(s.fx.files.length - partial)
    expect(await count(s.db, 'SELECT count(*) FROM t')).toBe(s.fx.good)
    expect(await count(s.db, 'SELECT count(*) FROM (SELECT DISTINCT _source_uri, _line FROM t)')).toBe(s.fx.good)
    expect(await count(s.db, 'SELECT count(*) FROM _seneka_ledger')).toBe(s.fx.files.length)
  }, 120_000)

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s: finishes the loads running, says what was committed, exits %i, removes its stage folder; a re-run continues', async (sig, code) => {
    const s = await s3Setup(sig.toLowerCase())
    const first = await caughtMidway(s, async (child) => {
      const heard = new Promise<void>((resolve) => {
        let err = ''
        child.stderr!.on('data', (d) => {
          err += d
          if (err.includes(`${sig}: finishing the loads running`)) resolve()
        })
      })
      child.kill(sig)
      await heard
      // the two loads running read on; the loads waiting for a slot are not started
      s.gate.release()
    })
    expect(first.signal).toBeNull()
    expect(first.code).toBe(code)
    const ledger = await count(s.db, 'SELECT count(*) FROM _seneka_ledger')
    const rows = await count(s.db, 'SELECT count(*) FROM t')
    // the 4 objects read before the hold and the 2 running when the signal came: nothing queued was started
    expect(ledger).toBe(6)
    expect(first.stdout).toContain(`Interrupted: ${ledger} objects of ${s.fx.files.length} (${rows.toLocaleString('en-US')} rows) were committed, ${s.fx.files.length - ledger} objects were not loaded; run the same command again to continue`)
    expect(readdirSync(path.dirname(s.db)).filter((n) => n.startsWith('.seneka-stage-'))).toEqual([])
    const second = await runCli([...s.args, '--json'], {env: s.env})
    expect(second.code).toBe(0)
    expect(jsonResult(second.stdout).objects).toMatchObject({skipped: ledger, loaded: s.fx.files.length - ledger})
    expect(await count(s.db, 'SELECT count(*) FROM t')).toBe(s.fx.good)
  }, 120_000)
})
