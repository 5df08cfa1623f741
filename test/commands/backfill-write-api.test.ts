import {spawn} from 'node:child_process'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {albFixture, PREFIX} from '../helpers/alb-fixtures.js'
import {ROOT, runCli} from '../helpers/cli.js'
import {useGoogleStandIns} from '../helpers/write-api-double.js'

/**
 * `seneka backfill --load-method write-api` as users run it (bin/run.js), against local stand-ins only:
 * BIGQUERY_EMULATOR_HOST (REST double), STORAGE_EMULATOR_HOST (GCS double), BIGQUERY_STORAGE_EMULATOR_HOST (gRPC
 * Write API double). A real `kill -9` of the worker while its commit reply is outstanding, then a re-run.
 */

const google = useGoogleStandIns()


const env = () => ({BIGQUERY_EMULATOR_HOST: `${google.g.endpoint}/bigquery/v2`, STORAGE_EMULATOR_HOST: google.g.endpoint, BIGQUERY_STORAGE_EMULATOR_HOST: google.w.host, SENEKA_CONFIG: ''})
const args = (dataset: string) => ['backfill', `gs://kill-src/${PREFIX}`, '--format', 'alb', '--table', 'alb_logs', '--warehouse', `bigquery://test-project/${dataset}`, '--location', 'EU', '--load-method', 'write-api', '--concurrency', '1']

describe('backfill --load-method write-api (spawned CLI)', () => {
  it('kill -9 while a commit reply is outstanding, then a re-run: every row exactly once, no staging bucket used', async () => {
    const fx = albFixture({days: 1, intervalMinutes: 720, linesPerFile: 25, malformedRate: 0})
    for (const f of fx.files) google.g.putObject('kill-src', f.key, f.body)
    const dataset = 'wapi_kill'
    // the worker's first commit is applied and its reply held; the worker is killed while it waits for it
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/run.js'), ...args(dataset)], {cwd: ROOT, env: {...process.env, ...env()}, stdio: ['ignore', 'pipe', 'pipe']})
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const exited = new Promise<{code: number | null; signal: string | null}>((r) => child.on('close', (code, signal) => r({code, signal})))
    const held = new Promise<void>((resolve) => google.w.holdNextCommitReply(resolve))
    const first = await Promise.race([held.then(() => 'held' as const), exited.then(() => 'exited' as const)])
    expect(first, `the worker ended before its first commit: ${stderr}`).toBe('held')
    child.kill('SIGKILL')
    expect((await exited).signal, stderr).toBe('SIGKILL')
    const rowsAfterKill = (await google.sql.rows(dataset, 'alb_logs')).length
    // the held commit was applied: the rows of its group's objects are in (was one object's: one stream per object)
    const holders = [...google.w.streams.values()].filter((x) => x.table === `${dataset}.alb_logs` && x.commitTime)
    expect(holders).toHaveLength(1)
    expect(rowsAfterKill).toBe(holders[0].rows.length)
    expect(rowsAfterKill % fx.files[0].lines).toBe(0)
    // a new process settles the killed one's intent from GetWriteStream and loads the rest
    const again = await runCli([...args(dataset), '--json'], {env: env()})
    expect(again.code, again.stderr).toBe(0)
    const rows = await google.sql.rows(dataset, 'alb_logs')
    const keys = rows.map((r) => `${r._source_uri}#${r._line}`)
    expect(new Set(keys).size).toBe(keys.length)
    expect(keys).toHaveLength(fx.good)
    expect(google.g.requests.filter((r) => r.method === 'POST' && r.path.includes('/upload/'))).toEqual([])
    // a third run loads nothing
    const third = await runCli([...args(dataset), '--json'], {env: env()})
    expect(JSON.parse(third.stdout).result.objects).toMatchObject({loaded: 0, failed: 0, skipped: fx.files.length})
  })

  it('refuses an unknown --load-method in one sentence, exit 2', async () => {
    const r = await runCli(['backfill', 'gs://x/y', '--format', 'alb', '--load-method', 'bulk'], {env: env()})
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/load-method/)
  })
})
