import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterEach, describe, expect, it, vi} from 'vitest'
import Backfill from '../../../src/commands/backfill.js'
import {inShard, resolveShard} from '../../../src/lib/backfill/shard.js'
import {albFixture, PREFIX} from '../../helpers/alb-fixtures.js'
import {ROOT} from '../../helpers/cli.js'
import {tempDir} from '../../helpers/tmp.js'

const usage = (fn: () => unknown) => {
  try {
    fn()
  } catch (err) {
    return {message: (err as Error).message, suggestion: (err as {suggestion?: string}).suggestion, exitCode: (err as {exitCode?: number}).exitCode}
  }
  throw new Error('no error')
}

describe('resolveShard: --shard, Cloud Run Jobs and Kubernetes Indexed Jobs', () => {
  it('takes --shard first, the platform index when no --shard is given, and says where each came from', () => {
    const cloudRun = {CLOUD_RUN_TASK_INDEX: '7', CLOUD_RUN_TASK_COUNT: '50', CLOUD_RUN_TASK_ATTEMPT: '2'}
    expect(resolveShard({flag: {index: 1, count: 4}, env: cloudRun})).toEqual({index: 1, count: 4, source: '--shard'})
    expect(resolveShard({env: cloudRun})).toEqual({index: 7, count: 50, source: 'CLOUD_RUN_TASK_INDEX/CLOUD_RUN_TASK_COUNT'})
    expect(resolveShard({env: {JOB_COMPLETION_INDEX: '3', SENEKA_SHARD_COUNT: '8'}})).toEqual({index: 3, count: 8, source: 'JOB_COMPLETION_INDEX/SENEKA_SHARD_COUNT'})
    expect(resolveShard({count: 8, env: {JOB_COMPLETION_INDEX: '3'}})).toEqual({index: 3, count: 8, source: 'JOB_COMPLETION_INDEX/--shard-count'})
    // the flag wins over the variable, and a count that agrees is fine
    expect(resolveShard({count: 8, env: {JOB_COMPLETION_INDEX: '3', SENEKA_SHARD_COUNT: '9'}})?.count).toBe(8)
    expect(resolveShard({count: 50, env: cloudRun})?.count).toBe(50)
    // one task: the whole backfill, still said
    expect(resolveShard({env: {CLOUD_RUN_TASK_INDEX: '0', CLOUD_RUN_TASK_COUNT: '1'}})).toEqual({index: 0, count: 1, source: 'CLOUD_RUN_TASK_INDEX/CLOUD_RUN_TASK_COUNT'})
    // nothing set (or set empty): no shard
    expect(resolveShard({env: {}})).toBeUndefined()
    expect(resolveShard({env: {CLOUD_RUN_TASK_INDEX: '', JOB_COMPLETION_INDEX: ' '}})).toBeUndefined()
  })

  it.each([
    [{env: {CLOUD_RUN_TASK_INDEX: '50', CLOUD_RUN_TASK_COUNT: '50'}}, 'CLOUD_RUN_TASK_INDEX is 50 but CLOUD_RUN_TASK_COUNT is 50: the index must be below the count.'],
    [{env: {JOB_COMPLETION_INDEX: '4'}}, 'JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but the shard count is not.'],
    [{env: {JOB_COMPLETION_INDEX: '8', SENEKA_SHARD_COUNT: '8'}}, 'JOB_COMPLETION_INDEX is 8 but SENEKA_SHARD_COUNT is 8: the index must be below the count.'],
    [{count: 4, env: {JOB_COMPLETION_INDEX: '4'}}, 'JOB_COMPLETION_INDEX is 4 but --shard-count is 4: the index must be below the count.'],
    [{env: {JOB_COMPLETION_INDEX: '1', SENEKA_SHARD_COUNT: '0'}}, 'SENEKA_SHARD_COUNT is 0: a shard count must be at least 1.'],
    [{env: {JOB_COMPLETION_INDEX: 'two', SENEKA_SHARD_COUNT: '4'}}, 'JOB_COMPLETION_INDEX "two" is not a whole number.'],
    [{env: {CLOUD_RUN_TASK_INDEX: '1'}}, 'CLOUD_RUN_TASK_INDEX is set but CLOUD_RUN_TASK_COUNT is not: a Cloud Run Job sets both.'],
    [{env: {CLOUD_RUN_TASK_COUNT: '5'}}, 'CLOUD_RUN_TASK_COUNT is set but CLOUD_RUN_TASK_INDEX is not: a Cloud Run Job sets both.'],
    [{env: {CLOUD_RUN_TASK_INDEX: '1', CLOUD_RUN_TASK_COUNT: '5', SENEKA_SHARD_COUNT: '6'}}, 'SENEKA_SHARD_COUNT is 6 but CLOUD_RUN_TASK_COUNT is 5: the counts differ.'],
    [{env: {CLOUD_RUN_TASK_INDEX: '1', CLOUD_RUN_TASK_COUNT: '5', JOB_COMPLETION_INDEX: '1'}}, 'Both CLOUD_RUN_TASK_INDEX and JOB_COMPLETION_INDEX are set: seneka cannot tell which is the task index.'],
    [{flag: {index: 1, count: 4}, count: 5, env: {}}, '--shard-count is 5 but --shard is 1/4: the counts differ.'],
    [{count: 5, env: {}}, '--shard-count is set but no shard index is: seneka reads it from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).'],
    [{env: {SENEKA_SHARD_COUNT: '5'}}, 'SENEKA_SHARD_COUNT is set but no shard index is: seneka reads it from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).'],
  ] as Array<[Parameters<typeof resolveShard>[0], string]>)('%j: one sentence, a usage error', (opts, message) => {
    const e = usage(() => resolveShard(opts))
    expect(e.message).toBe(message)
    expect(e.exitCode).toBe(2)
    expect(e.suggestion).toBeTruthy()
  })
})

describe('backfill reads its shard from the job platform (in-process)', () => {
  afterEach(() => {
    vi.unstubAllEnvs()
    vi.restoreAllMocks()
    process.exitCode = undefined
  })

  /** Runs `seneka backfill` in-process; returns its result or its error. */
  async function backfill(argv: string[]): Promise<{result?: any; out: string; error?: any}> {
    let out = ''
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void (out += `${a.join(' ')}\n`))
    vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      return {result: await Backfill.run(argv, ROOT), out}
    } catch (error) {
      return {error, out}
    } finally {
      vi.restoreAllMocks()
    }
  }

  it('a Cloud Run Job of 3 tasks plans each object in exactly one task, and the summary says where the shard came from', async () => {
    const dir = tempDir('shard-env')
    // shards hash the object's URI, which holds the random temporary folder: with 12 objects a task got none in
    // about 1 run in 43; with 36 the chance is about 1 in 700,000
    const fx = albFixture({dir, days: 3})
    const argv = [path.join(dir, PREFIX), '--format', 'alb', '--warehouse', `duckdb:${path.join(dir, 'wh.duckdb')}`, '--dry-run']
    vi.stubEnv('CLOUD_RUN_TASK_COUNT', '3')
    const planned: number[] = []
    for (const task of ['0', '1', '2']) {
      vi.stubEnv('CLOUD_RUN_TASK_INDEX', task)
      const {result, out, error} = await backfill(argv)
      expect(error).toBeUndefined()
      expect(result).toMatchObject({shard: `${task}/3`, shardSource: 'CLOUD_RUN_TASK_INDEX/CLOUD_RUN_TASK_COUNT'})
      expect(out).toContain(`Shard ${task}/3 (from CLOUD_RUN_TASK_INDEX and CLOUD_RUN_TASK_COUNT): the plan holds only this shard's objects.`)
      planned.push(result.plan.totals.objects)
    }
    expect(planned.reduce((a, b) => a + b, 0)).toBe(fx.files.length)
    expect(planned.every((n) => n > 0 && n < fx.files.length)).toBe(true)
    // --shard on the command line wins over the platform's variables
    const {result} = await backfill([...argv, '--shard', '0/1'])
    expect(result).toMatchObject({shard: '0/1', shardSource: '--shard'})
    expect(result.plan.totals.objects).toBe(fx.files.length)
  })

  it('a task whose shard holds none of the objects is done (exit 0), not a failure that the platform would retry: listed, from a file list or from a saved plan', async () => {
    const dir = tempDir('shard-env')
    const fx = albFixture({dir, days: 1})
    const source = path.join(dir, PREFIX)
    const count = fx.files.length * 4
    const uris = fx.files.map((f) => `file://${path.join(dir, f.key)}`)
    const empty = Array.from({length: count}, (_, i) => i).find((i) => !uris.some((u) => inShard(u, {index: i, count})))!
    expect(empty).toBeDefined()
    const wh = ['--format', 'alb', '--warehouse', `duckdb:${path.join(dir, 'wh.duckdb')}`]
    const list = path.join(dir, 'keys.txt')
    writeFileSync(list, uris.join('\n') + '\n')
    const plan = path.join(dir, 'plan.csv')
    expect((await backfill([source, ...wh, '--files-from', list, '--dry-run', '--plan-out', plan])).error).toBeUndefined()
    vi.stubEnv('CLOUD_RUN_TASK_INDEX', String(empty))
    vi.stubEnv('CLOUD_RUN_TASK_COUNT', String(count))
    for (const from of [[], ['--files-from', list], ['--plan', plan]]) {
      const {result, out, error} = await backfill([source, ...wh, ...from])
      expect(error).toBeUndefined()
      expect(process.exitCode ?? 0).toBe(0)
      expect(result).toMatchObject({shard: `${empty}/${count}`, objects: {loaded: 0, failed: 0}, plan: {otherShards: fx.files.length}})
      expect(out).toContain(`This shard holds none of the ${fx.files.length} objects in range (they belong to other shards): nothing to load.`)
    }
    // without a shard an empty source is still an error
    vi.unstubAllEnvs()
    const none = await backfill([tempDir('empty-source'), ...wh])
    expect(none.error?.message).toMatch(/^No log objects were found under /)
  })

  it('a Kubernetes Indexed Job: the index from JOB_COMPLETION_INDEX, the count from --shard-count or SENEKA_SHARD_COUNT, and one sentence when it is missing', async () => {
    const dir = tempDir('shard-env')
    albFixture({dir, days: 1})
    const argv = [path.join(dir, PREFIX), '--format', 'alb', '--warehouse', `duckdb:${path.join(dir, 'wh.duckdb')}`, '--dry-run']
    vi.stubEnv('JOB_COMPLETION_INDEX', '1')
    const missing = await backfill(argv)
    expect(missing.error?.message).toBe('JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but the shard count is not.')
    expect(missing.error?.oclif?.exit ?? missing.error?.exitCode).toBe(2)
    const byFlag = await backfill([...argv, '--shard-count', '2', '--json'])
    expect(byFlag.result).toMatchObject({shard: '1/2', shardSource: 'JOB_COMPLETION_INDEX/--shard-count'})
    vi.stubEnv('SENEKA_SHARD_COUNT', '2')
    const byEnv = await backfill(argv)
    expect(byEnv.result).toMatchObject({shard: '1/2', shardSource: 'JOB_COMPLETION_INDEX/SENEKA_SHARD_COUNT'})
    vi.stubEnv('JOB_COMPLETION_INDEX', '2')
    const over = await backfill(argv)
    expect(over.error?.message).toBe('JOB_COMPLETION_INDEX is 2 but SENEKA_SHARD_COUNT is 2: the index must be below the count.')
  })
})
