import {type ChildProcess, spawn} from 'node:child_process'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ROOT, runCli} from '../helpers/cli.js'
import {count, duckQuery} from '../helpers/duckdb.js'
import {type GcpDouble, startGcpDouble} from '../helpers/gcp-doubles.js'
import {type OidcDouble, post, PUSH_SERVICE_ACCOUNT, pushBody, startOidcDouble} from '../helpers/oidc.js'
import {gcsNotification} from '../helpers/pubsub-double.js'
import {tempDir} from '../helpers/tmp.js'
import {jsonl} from '../lib/stream/fixtures.js'

const AUDIENCE = 'https://seneka-push.example.run.app/push'
let gcs: GcpDouble
let oidc: OidcDouble

beforeAll(async () => {
  gcs = await startGcpDouble()
  oidc = await startOidcDouble()
  gcs.putObject('cli-push', 'kill/big.log', jsonl(150_000, 'big'))
  gcs.putObject('cli-push', 'kill/small.log', jsonl(5, 'small'))
})
afterAll(async () => {
  await oidc?.close()
  await gcs?.close()
})

const args = (db: string, ...extra: string[]) => ['stream', '--listen', '127.0.0.1:0', '--gcs-endpoint', gcs.endpoint, '--format', 'jsonl', '--table', 'app', '--warehouse', `duckdb:${db}`, '--status-interval', '0s', ...extra]

/** A spawned `seneka stream --listen` and the URL it announced on stderr. */
interface Served {
  child: ChildProcess
  url: string
  stderr: () => string
  exit: Promise<{code: number | null; signal: NodeJS.Signals | null; stdout: string}>
}

function serve(cliArgs: string[]): Promise<Served> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/run.js'), ...cliArgs], {cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    let announced = false
    child.stdout!.on('data', (d) => (stdout += d))
    const exit = new Promise<{code: number | null; signal: NodeJS.Signals | null; stdout: string}>((r) => child.on('close', (code, signal) => r({code, signal, stdout})))
    child.stderr!.on('data', (d) => {
      stderr += d
      const m = /Listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)
      if (m && !announced) {
        announced = true
        resolve({child, url: m[1], stderr: () => stderr, exit})
      }
    })
    void exit.then(() => {
      if (!announced) reject(new Error(`the worker exited before listening: ${stderr}`))
    })
  })
}

function pushOf(name: string, messageId: string): string {
  const o = gcs.objects.get(`cli-push/${name}`)!
  return pushBody(gcsNotification({bucket: 'cli-push', name, generation: o.generation, size: o.data.length}), {messageId})
}

/** what the rows are, whichever run loaded them */
const rowsOf = (db: string) => duckQuery(db, 'SELECT _source_uri, count(*) AS n, sum(hash(record)) AS h FROM app GROUP BY 1 ORDER BY 1')

describe('seneka stream --listen (CLI, real HTTP)', () => {
  it('checks OIDC tokens, loads on a valid push, and on SIGTERM exits 0 with the summary', async () => {
    const db = path.join(tempDir(), 'wh.duckdb')
    const w = await serve(args(db, '--push-audience', AUDIENCE, '--push-service-account', PUSH_SERVICE_ACCOUNT, '--push-jwks-url', oidc.jwksUrl, '--json'))
    const body = pushOf('kill/small.log', 'c1')
    expect((await post(`${w.url}/`, body, {authorization: `Bearer ${await oidc.token({}, {forge: true})}`})).status).toBe(401)
    expect((await post(`${w.url}/`, body, {authorization: `Bearer ${await oidc.token({aud: 'https://other.example.com'})}`})).status).toBe(401)
    expect(await post(`${w.url}/`, body, {authorization: `Bearer ${await oidc.token()}`})).toMatchObject({status: 200, body: {outcome: 'loaded'}})
    expect((await fetch(`${w.url}/healthz`)).status).toBe(200)
    // nothing in flight: it exits 0 at once (a stop that outlasts --stop-timeout would exit 143, tested apart)
    w.child.kill('SIGTERM')
    const done = await w.exit
    expect(done.code).toBe(0)
    const last = JSON.parse(done.stdout.trim().split('\n').at(-1)!)
    expect(last).toMatchObject({type: 'summary', status: 0})
    expect(last.result).toMatchObject({mode: 'push', stoppedBy: 'signal', rows: 5, refused: {unauthenticated: 2, forbidden: 0}, messages: {received: 1, deleted: 1}})
    expect(last.warnings.some((m: string) => /refused a push request .*\(401\): the token signature does not verify/.test(m))).toBe(true)
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(5)
  })

  it('a worker killed (-9) mid-load and restarted yields exactly the rows of an uninterrupted run', async () => {
    // uninterrupted
    const cleanDb = path.join(tempDir(), 'clean.duckdb')
    const clean = await serve(args(cleanDb))
    const answers = await Promise.all([post(`${clean.url}/`, pushOf('kill/big.log', 'k1')), post(`${clean.url}/`, pushOf('kill/small.log', 'k2'))])
    expect(answers.map((a) => a.status)).toEqual([200, 200])
    clean.child.kill('SIGTERM')
    expect((await clean.exit).code).toBe(0)

    // killed while the big object loads: its push gets no answer, so Pub/Sub would redeliver it
    const db = path.join(tempDir(), 'wh.duckdb')
    const first = await serve(args(db, '--log-level', 'debug'))
    const small = await post(`${first.url}/`, pushOf('kill/small.log', 'k2'))
    expect(small.status).toBe(200)
    const big = post(`${first.url}/`, pushOf('kill/big.log', 'k1')).then(
      (r) => r.status,
      () => 'no answer',
    )
    while (!/loading gs:\/\/cli-push\/kill\/big\.log/.test(first.stderr())) await new Promise((r) => setTimeout(r, 5))
    first.child.kill('SIGKILL')
    expect((await first.exit).signal).toBe('SIGKILL')
    expect(await big).toBe('no answer')
    expect([5, 150_005]).toContain(await count(db, 'SELECT count(*) FROM app'))

    // the restarted worker gets the redeliveries (of both: a lost answer is redelivered too)
    const second = await serve(args(db))
    const again = await Promise.all([post(`${second.url}/`, pushOf('kill/big.log', 'k1')), post(`${second.url}/`, pushOf('kill/small.log', 'k2'))])
    expect(again.map((a) => a.status)).toEqual([200, 200])
    expect(again[1].body).toEqual({outcome: 'skipped'})
    second.child.kill('SIGTERM')
    expect((await second.exit).code).toBe(0)
    expect(await rowsOf(db)).toEqual(await rowsOf(cleanDb))
    expect(await count(db, 'SELECT count(*) FROM _seneka_ledger')).toBe(2)
  })

  it('SIGTERM with a load stuck and pushes queued: the pushes not begun get 503 and are never loaded, and the worker exits within its stop budget (143)', async () => {
    const db = path.join(tempDir(), 'wh.duckdb')
    const names = Array.from({length: 12}, (_, i) => `stuck/${i}.log`)
    for (const name of names) gcs.putObject('cli-push', name, jsonl(50, name))
    // every read of these objects is held: the load under way never finishes
    let release!: () => void
    gcs.delay({match: (q) => q.query.alt === 'media' && q.path.includes('/o/stuck/'), until: new Promise<void>((r) => (release = r))})
    try {
      const w = await serve(args(db, '--concurrency', '1', '--stop-timeout', '3s', '--shutdown-grace', '1s'))
      const answers = names.map((name, i) => post(`${w.url}/`, pushOf(name, `s${i}`)).then((a) => a.status, () => 'no answer'))
      while (gcs.requests.filter((q) => q.query.alt === 'media' && q.path.includes('/o/stuck/')).length < 1) await new Promise((r) => setTimeout(r, 10))
      w.child.kill('SIGTERM')
      const done = await w.exit
      expect(done.code).toBe(143)
      expect(w.stderr()).toMatch(/SIGTERM: the stop budget of 3\.0s \(--stop-timeout\) is used up: exiting with loads unfinished/)
      expect(await Promise.all(answers)).toEqual(Array(12).fill(503))
      // one object was read (and never committed); the eleven answered 503 before their load began were not even read
      expect(gcs.requests.filter((q) => q.query.alt === 'media' && q.path.includes('/o/stuck/'))).toHaveLength(1)
      expect(await count(db, 'SELECT count(*) FROM _seneka_ledger')).toBe(0)
    } finally {
      release()
      gcs.clearDelays()
    }
  }, 60_000)

  it('refuses a malformed --listen and --push-service-account without --push-audience in one sentence', async () => {
    const bad = await runCli(['stream', '--listen', '8080', '--format', 'jsonl'])
    expect(bad.code).toBe(2)
    expect(bad.stderr.replace(/\s*›\s*/g, ' ')).toMatch(/--listen "8080" is not HOST:PORT\./)
    const noAud = await runCli(['stream', '--listen', '127.0.0.1:0', '--push-service-account', PUSH_SERVICE_ACCOUNT, '--format', 'jsonl'])
    expect(noAud.code).toBe(2)
    expect(noAud.stderr.replace(/\s*›\s*/g, ' ')).toMatch(/--push-service-account needs --push-audience: a token is only checked against the audience it was minted for\./)
    const notPush = await runCli(['stream', '--watch', '.', '--push-audience', AUDIENCE, '--format', 'jsonl'])
    expect(notPush.code).toBe(2)
    expect(notPush.stderr.replace(/\s*›\s*/g, ' ')).toMatch(/--push-audience applies to push mode only\./)
  })
})
