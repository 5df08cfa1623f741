import {CreateBucketCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {stripVTControlCharacters} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {albFixture, PREFIX} from '../helpers/alb-fixtures.js'
import {jsonResult, ROOT, runCli} from '../helpers/cli.js'
import {count} from '../helpers/duckdb.js'
import {startAws} from '../helpers/fauxqs.js'
import {listAll, putInventory} from '../helpers/inventory.js'
import {tempDir} from '../helpers/tmp.js'

/** The built CLI with `input` on its standard input. */
function runWithStdin(args: string[], input: string, env: NodeJS.ProcessEnv = {}): Promise<{code: number | null; stdout: string; stderr: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/run.js'), ...args], {cwd: ROOT, env: {...process.env, ...env}, stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({code, stdout: stripVTControlCharacters(stdout), stderr: stripVTControlCharacters(stderr)}))
    child.stdin.end(input)
  })
}

let aws: Awaited<ReturnType<typeof startAws>>
const fx = albFixture({days: 2, intervalMinutes: 360})

beforeAll(async () => {
  aws = await startAws()
  for (const b of ['logs', 'inventory']) await aws.s3.send(new CreateBucketCommand({Bucket: b}))
  for (const f of fx.files) await aws.s3.send(new PutObjectCommand({Bucket: 'logs', Key: f.key, Body: f.body}))
})
afterAll(async () => aws?.stop())

describe('seneka backfill --inventory / --files-from / --plan (CLI)', () => {
  it('plans from an inventory with a progress line on stderr, writes the plan, then runs exactly it with a coverage line', async () => {
    const dir = tempDir()
    const db = path.join(dir, 'wh.duckdb')
    const planFile = path.join(dir, 'plan.csv')
    const manifest = await putInventory(aws.s3, {bucket: 'inventory', source: 'logs', rows: await listAll(aws.s3, 'logs')})
    const common = [`s3://logs/${PREFIX}`, '--format', 'alb', '--warehouse', `duckdb:${db}`, '--table', 't']
    const dry = await runCli(['backfill', ...common, '--inventory', manifest, '--since', '2024-05-02', '--dry-run', '--plan-out', planFile])
    expect(dry.code).toBe(0)
    expect(dry.stderr).toMatch(/Planning: read [\d,]+ inventory rows \(data file 1 of 1\)\./)
    const day2 = fx.files.filter((f) => f.key.includes('/2024/05/02/')).length
    expect(dry.stdout).toMatch(/no LIST \(planned from the S3 Inventory .*: 1 data file, [\d,]+ rows\)/)
    expect(dry.stdout).toContain(`Plan written to ${planFile} (${day2} objects)`)
    expect(readFileSync(planFile, 'utf8').trim().split('\n')).toHaveLength(day2 + 1)
    const run = await runCli(['backfill', ...common, '--plan', planFile])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(new RegExp(`coverage  ${day2} planned = ${day2} loaded \\+ 0 skipped \\+ 0 failed; none left out`))
    expect(await count(db, 'SELECT count(DISTINCT _source_uri) FROM t')).toBe(day2)
  }, 120_000)

  it('reads --files-from - on standard input, and --json prints only the envelope', async () => {
    const keys = fx.files.slice(0, 3).map((f) => f.key)
    const r = await runWithStdin(['backfill', `s3://logs/${PREFIX}`, '--format', 'alb', '--warehouse', `duckdb:${path.join(tempDir(), 'wh.duckdb')}`, '--files-from', '-', '--dry-run', '--json'], keys.join('\n') + '\n')
    expect(r.code).toBe(0)
    const doc = jsonResult(r.stdout)
    expect(doc.plan.totals.objects).toBe(3)
    expect(doc.plan.from).toMatchObject({kind: 'files', file: '-', head: 3})
  }, 60_000)

  it('refuses a selection flag with --plan (the plan is run exactly)', async () => {
    const r = await runCli(['backfill', `s3://logs/${PREFIX}`, '--format', 'alb', '--plan', 'plan.csv', '--since', '2024-05-01'])
    expect(r.code).toBe(2)
    expect(r.stderr.replace(/[\s›]+/g, ' ')).toMatch(/--plan runs the saved plan's objects exactly, so --since does not apply\./)
  })

  it('refuses two plan sources at once', async () => {
    const r = await runCli(['backfill', `s3://logs/${PREFIX}`, '--format', 'alb', '--inventory', 'm.json', '--files-from', 'k.txt'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--files-from=k.txt cannot also be provided when using --inventory|cannot also be provided/)
  })
})
