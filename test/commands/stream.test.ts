import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {runCli} from '../helpers/cli.js'
import {count} from '../helpers/duckdb.js'
import {startAws} from '../helpers/fauxqs.js'
import {tempDir} from '../helpers/tmp.js'
import {createBucket, createQueue, jsonl, notification, putObject, queueDepth, send} from '../lib/stream/fixtures.js'

let aws: Awaited<ReturnType<typeof startAws>>

beforeAll(async () => {
  aws = await startAws()
  await createBucket(aws.s3, 'cli-logs')
})
afterAll(async () => aws?.stop())

/** Runs the built CLI and signals it once stderr shows something. */
async function startCli(args: string[], when: RegExp, signal: NodeJS.Signals) {
  let stderr = ''
  let sent = false
  const r = await runCli(args, {
    onStderr: (s, child) => {
      stderr += s
      if (!sent && when.test(stderr)) {
        sent = true
        child.kill(signal)
      }
    },
  })
  return {...r, sent}
}

describe('seneka stream (CLI)', () => {
  it('documents the flags, message formats and exit codes in --help', async () => {
    const r = await runCli(['stream', '--help'])
    expect(r.code).toBe(0)
    for (const s of ['--queue', '--watch', '--stop-when-idle', '--metrics-port', 'MESSAGES ACCEPTED', 's3:TestEvent', 'SNS envelope', 'EXIT CODES', 'JSON lines']) expect(r.stdout).toContain(s)
  })

  it('refuses to start without exactly one of --queue and --watch', async () => {
    const r = await runCli(['stream', '--format', 'jsonl'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/queue|watch/)
  })

  it('names a queue that does not exist in one sentence', async () => {
    const db = path.join(tempDir(), 'wh.duckdb')
    const r = await runCli(['stream', '--queue', `${aws.endpoint}/000000000000/no-such-queue`, '--format', 'jsonl', '--warehouse', `duckdb:${db}`, '--stop-when-idle', '1s'])
    expect(r.code).toBe(1)
    expect(r.stderr.replace(/\s*›\s*/g, ' ')).toMatch(/The queue \S+no-such-queue does not exist\./)
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it('under --json writes one JSON line per status interval and a final summary line', async () => {
    const db = path.join(tempDir(), 'wh.duckdb')
    const queue = await createQueue(aws.sqs, 'cli-json')
    const bodies: string[] = []
    for (let i = 0; i < 5; i++) bodies.push(notification(await putObject(aws.s3, 'cli-logs', `json/${i}.log`, jsonl(3, `j${i}`))))
    await send(aws.sqs, queue, ...bodies)
    const r = await runCli(['stream', '--queue', queue, '--format', 'jsonl', '--table', 'app', '--warehouse', `duckdb:${db}`, '--stop-when-idle', '2s', '--wait-time', '1s', '--status-interval', '300ms', '--json'])
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
    expect(lines.length).toBeGreaterThanOrEqual(2)
    expect(lines.slice(0, -1).every((l) => l.type === 'status' && typeof l.messagesPerSecond === 'number' && 'backlog' in l)).toBe(true)
    const summary = lines.at(-1)
    expect(summary).toMatchObject({type: 'summary', status: 0})
    // the shared warning rule: on stderr and in the document (the queue here has no dead-letter queue)
    expect(summary.warnings).toEqual([expect.stringMatching(/^the queue has no redrive policy/)])
    expect(r.stderr).toMatch(/^Warning: the queue has no redrive policy/m)
    expect(summary.result).toMatchObject({type: 'summary', mode: 'sqs', stoppedBy: 'idle', rows: 15, objects: {loaded: 5, failed: 0}, messages: {received: 5, deleted: 5}})
  })

  it('an unparseable message is a warning on stderr and in the --json summary, in plain words', async () => {
    const db = path.join(tempDir(), 'wh.duckdb')
    const queue = await createQueue(aws.sqs, 'cli-invalid')
    await send(aws.sqs, queue, 'this is not an S3 event')
    const r = await runCli(['stream', '--queue', queue, '--format', 'jsonl', '--table', 'app', '--warehouse', `duckdb:${db}`, '--stop-when-idle', '2s', '--wait-time', '1s', '--status-interval', '0s', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!)
    const warning = summary.warnings.find((w: string) => w.startsWith('unparseable message'))
    expect(warning).toMatch(/left for the dead-letter queue \(received 1 time\): /)
    expect(r.stderr).toContain(`Warning: ${warning}`)
  })

  it('stops gracefully on SIGTERM: finishes the load in flight, deletes its message, exits 0', async () => {
    const db = path.join(tempDir(), 'wh.duckdb')
    const queue = await createQueue(aws.sqs, 'cli-term')
    const big = await putObject(aws.s3, 'cli-logs', 'term/big.log', jsonl(150_000, 'big'))
    await send(aws.sqs, queue, notification(big))
    const r = await startCli(['stream', '--queue', queue, '--format', 'jsonl', '--table', 'app', '--warehouse', `duckdb:${db}`, '--log-level', 'debug', '--status-interval', '0s'], /loading s3:\/\//, 'SIGTERM')
    expect(r.sent).toBe(true)
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/SIGTERM: finishing/)
    expect(r.stdout).toMatch(/stopped \(signal\)/)
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(150_000)
    expect(await queueDepth(aws.sqs, queue)).toEqual({visible: 0, inFlight: 0})
  })

  it('a worker killed mid-load and restarted loads the object exactly once', async () => {
    const db = path.join(tempDir(), 'wh.duckdb')
    const queue = await createQueue(aws.sqs, 'cli-kill')
    const big = await putObject(aws.s3, 'cli-logs', 'kill/big.log', jsonl(150_000, 'big'))
    const small = await putObject(aws.s3, 'cli-logs', 'kill/small.log', jsonl(5, 'small'))
    await send(aws.sqs, queue, notification(big, small))
    const base = ['stream', '--queue', queue, '--format', 'jsonl', '--table', 'app', '--warehouse', `duckdb:${db}`, '--visibility-timeout', '2s', '--wait-time', '1s', '--status-interval', '0s']
    const killed = await startCli([...base, '--log-level', 'debug'], /loading s3:\/\/cli-logs\/kill\/big\.log/, 'SIGKILL')
    expect(killed.signal).toBe('SIGKILL')
    // whatever the moment of the kill, an object is all there or not at all
    expect([0, 5, 150_000, 150_005]).toContain(await count(db, 'SELECT count(*) FROM app'))
    const rerun = await runCli([...base, '--stop-when-idle', '4s'])
    expect(rerun.code).toBe(0)
    expect(await count(db, "SELECT count(*) FROM app WHERE _source_uri = 's3://cli-logs/kill/big.log'")).toBe(150_000)
    expect(await count(db, "SELECT count(*) FROM app WHERE _source_uri = 's3://cli-logs/kill/small.log'")).toBe(5)
    expect(await count(db, 'SELECT count(*) FROM _seneka_ledger')).toBe(2)
    expect(await queueDepth(aws.sqs, queue)).toEqual({visible: 0, inFlight: 0})
  })

  it('--watch loads files dropped into a folder', async () => {
    const root = tempDir()
    const dir = path.join(root, 'in')
    mkdirSync(dir)
    writeFileSync(path.join(dir, 'x.log'), jsonl(6, 'x'))
    const db = path.join(root, 'wh.duckdb')
    const r = await runCli(['stream', '--watch', dir, '--format', 'jsonl', '--table', 'app', '--warehouse', `duckdb:${db}`, '--settle', '200ms', '--poll-interval', '100ms', '--stop-when-idle', '1s'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/1 loaded/)
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(6)
  })

  it('--watch says what becomes of a file whose load failed (retried while unchanged, then poison), not "left for redelivery"', async () => {
    const root = tempDir()
    const dir = path.join(root, 'in')
    mkdirSync(dir)
    writeFileSync(path.join(dir, 'not-a-log.log'), 'this is not JSON\n'.repeat(20))
    const db = path.join(root, 'wh.duckdb')
    const r = await runCli(['stream', '--watch', dir, '--format', 'jsonl', '--table', 'app', '--warehouse', `duckdb:${db}`, '--settle', '200ms', '--poll-interval', '100ms', '--stop-when-idle', '1s', '--max-deliveries', '1'])
    expect(r.code).toBe(3)
    const stderr = r.stderr.replace(/\s*›\s*/g, ' ').replace(/\s+/g, ' ')
    expect(stderr).toContain('load failed, retried while the file stays unchanged (after 2.0s, then twice as long each time up to 5m00s; after 1 failure it is poison and waits for the file to change)')
    expect(stderr).not.toContain('left for redelivery')
  })

  it('--bucket and --prefix scope --queue, --subscription and --listen: with --watch they are refused in one sentence', async () => {
    const r = await runCli(['stream', '--watch', '.', '--bucket', 'b', '--format', 'jsonl'])
    expect(r.code).toBe(2)
    expect(r.stderr.replace(/\s*›\s*/g, ' ')).toMatch(/--bucket applies to --queue, --subscription and --listen: --watch loads the folder it watches\./)
  })
})
