import {CreateBucketCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import {mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {PassThrough, Readable} from 'node:stream'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {lastPlanChild} from '../../../src/lib/backfill/plan-process.js'
import {type BackfillOptions, runBackfill} from '../../../src/lib/backfill/run.js'
import {UsageError, UserError} from '../../../src/lib/errors.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {albFixture, PREFIX} from '../../helpers/alb-fixtures.js'
import {startAws} from '../../helpers/fauxqs.js'
import {listAll, putInventory} from '../../helpers/inventory.js'
import {tempDir} from '../../helpers/tmp.js'

/**
 * Planning from an inventory, a file list or a plan runs in a child process (one libuv pool thread, so its peak
 * memory does not grow with the object count): what crosses the process boundary.
 */

const fx = albFixture({days: 2, intervalMinutes: 360, linesPerFile: 5})
let aws: Awaited<ReturnType<typeof startAws>>

beforeAll(async () => {
  aws = await startAws()
  for (const b of ['logs', 'inventory']) await aws.s3.send(new CreateBucketCommand({Bucket: b}))
  for (const f of fx.files) await aws.s3.send(new PutObjectCommand({Bucket: 'logs', Key: f.key, Body: f.body}))
})
afterAll(async () => aws?.stop())

/** this process's plan folders still in the temporary folder */
const planDirs = (): string[] => readdirSync(os.tmpdir()).filter((n) => n.startsWith(`seneka-plan-${process.pid}-`))

const base = (dir: string, sources: string[]): BackfillOptions => ({sources, format: getFormat('alb'), warehouse: `duckdb:${path.join(dir, 'wh.duckdb')}`, table: 'alb', range: {}, concurrency: 2, dryRun: true})

/** a local copy of the fixture: the source of a file list */
function localSource(dir: string): string {
  const src = path.join(dir, 'src')
  for (const f of fx.files) {
    mkdirSync(path.dirname(path.join(src, f.key)), {recursive: true})
    writeFileSync(path.join(src, f.key), f.body)
  }
  return src
}

describe('planning in a child process', () => {
  it('runs in another process, whose progress lines arrive in order, and hands over the whole plan', async () => {
    const manifest = await putInventory(aws.s3, {bucket: 'inventory', source: 'logs', rows: await listAll(aws.s3, 'logs'), files: 2})
    const lines: string[] = []
    lastPlanChild.pid = undefined
    const r = await runBackfill({...base(tempDir(), [`s3://logs/${PREFIX}`]), from: {kind: 'inventory', manifest}}, {onPlanning: (line) => lines.push(line)})
    expect(lastPlanChild.pid).toBeGreaterThan(0)
    expect(lastPlanChild.pid).not.toBe(process.pid)
    expect(lines.filter((l) => l.startsWith('Planning: read'))).toEqual([expect.stringMatching(/data file 1 of 2\)\.$/), expect.stringMatching(/data file 2 of 2\)\.$/)])
    expect(r.plan.totals.objects).toBe(fx.files.length)
    expect(r.plan.from?.inventory?.dataFiles).toBe(2)
    expect(planDirs()).toEqual([])
  })

  it("gives the child's error as the same class, sentence and exit code", async () => {
    const dir = tempDir()
    const err = await runBackfill({...base(dir, [localSource(dir)]), from: {kind: 'files', file: '-', stdin: Readable.from(['s3://other/key.log\n'])}}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UsageError)
    expect((err as UsageError).exitCode).toBe(2)
    expect((err as Error).message).toMatch(/^Line 1 of standard input names s3:\/\/other\/key.log, which is not under the source .*\.$/)
    expect((err as UsageError).suggestion).toMatch(/List keys relative to the source bucket/)
    expect(planDirs()).toEqual([])
  })

  it('says so in one sentence when the child is killed, and leaves no plan folder', async () => {
    const dir = tempDir()
    // standard input that never ends: the child waits on it until it is killed
    const stdin = new PassThrough()
    stdin.write(`${fx.files[0].key}\n`)
    stdin.once('resume', () => process.kill(lastPlanChild.pid!, 'SIGKILL'))
    const err = await runBackfill({...base(dir, [localSource(dir)]), from: {kind: 'files', file: '-', stdin}}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UserError)
    expect((err as Error).message).toBe('The planning process was killed (SIGKILL) before the plan was made, so nothing was planned or loaded.')
    expect(planDirs()).toEqual([])
    expect(stdin.destroyed).toBe(true)
  })
})
