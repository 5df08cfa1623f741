import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {runCli} from '../helpers/cli.js'
import {count, duckQuery} from '../helpers/duckdb.js'
import {type GcpDouble, startGcpDouble} from '../helpers/gcp-doubles.js'
import {gcsNotification, type PubsubDouble, startPubsubDouble} from '../helpers/pubsub-double.js'
import {tempDir} from '../helpers/tmp.js'
import {jsonl} from '../lib/stream/fixtures.js'

let gcs: GcpDouble
let pubsub: PubsubDouble

beforeAll(async () => {
  gcs = await startGcpDouble()
  pubsub = await startPubsubDouble()
  gcs.putObject('cli-gcs', 'kill/big.log', jsonl(150_000, 'big'))
  gcs.putObject('cli-gcs', 'kill/small.log', jsonl(5, 'small'))
})
afterAll(async () => {
  await pubsub?.close()
  await gcs?.close()
})

function publishAll(subscription: string): void {
  for (const name of ['kill/big.log', 'kill/small.log']) {
    const o = gcs.objects.get(`cli-gcs/${name}`)!
    pubsub.publish(subscription, gcsNotification({bucket: 'cli-gcs', name, generation: o.generation, size: o.data.length}))
  }
  pubsub.publish(subscription, gcsNotification({bucket: 'cli-gcs', name: 'kill/small.log', generation: '1', eventType: 'OBJECT_DELETE'}))
}

const args = (subscription: string, db: string) => ['stream', '--subscription', subscription, '--pubsub-endpoint', pubsub.endpoint, '--gcs-endpoint', gcs.endpoint, '--format', 'jsonl', '--table', 'app', '--warehouse', `duckdb:${db}`, '--ack-deadline', '10s', '--status-interval', '0s']

/** what the rows are, whichever run loaded them */
const rowsOf = (db: string) => duckQuery(db, 'SELECT _source_uri, count(*) AS n, sum(hash(record)) AS h FROM app GROUP BY 1 ORDER BY 1')

describe('seneka stream --subscription (CLI, gRPC double)', () => {
  it('a worker killed mid-load and restarted yields exactly the rows of an uninterrupted run', async () => {
    const clean = 'projects/seneka-test/subscriptions/cli-clean'
    const killed = 'projects/seneka-test/subscriptions/cli-kill'
    pubsub.createSubscription(clean)
    pubsub.createSubscription(killed)
    publishAll(clean)
    publishAll(killed)
    const cleanDb = path.join(tempDir(), 'clean.duckdb')
    const ok = await runCli([...args(clean, cleanDb), '--stop-when-idle', '2s', '--json'])
    expect(ok.code).toBe(0)
    const last = JSON.parse(ok.stdout.trim().split('\n').at(-1)!)
    expect(last).toMatchObject({type: 'summary', status: 0})
    expect(last.result).toMatchObject({mode: 'pubsub', stoppedBy: 'idle', rows: 150_005, poison: 0, objects: {loaded: 2, failed: 0}, events: {objectCreated: 2, ignored: 1}, messages: {received: 3, deleted: 3}})

    const db = path.join(tempDir(), 'wh.duckdb')
    let stderr = ''
    let sent = false
    const first = await runCli([...args(killed, db), '--log-level', 'debug'], {
      onStderr: (s, child) => {
        stderr += s
        if (!sent && /loading gs:\/\/cli-gcs\/kill\/big\.log/.test(stderr)) {
          sent = true
          child.kill('SIGKILL')
        }
      },
    })
    expect(first.signal).toBe('SIGKILL')
    // whatever the moment of the kill, an object is all there or not at all
    expect([0, 5, 150_000, 150_005]).toContain(await count(db, 'SELECT count(*) FROM app'))
    expect(pubsub.unacked(killed)).toBeGreaterThan(0)
    pubsub.expireLeases() // the dead worker's ack deadlines pass: what it had not acked is redelivered
    const rerun = await runCli([...args(killed, db), '--stop-when-idle', '2s'])
    expect(rerun.code).toBe(0)
    expect(await rowsOf(db)).toEqual(await rowsOf(cleanDb))
    expect(await count(db, 'SELECT count(*) FROM _seneka_ledger')).toBe(2)
    expect(pubsub.unacked(killed)).toBe(0)
  }, 300_000) // three runs over 150,000 rows: minutes on a busy machine

  it('names a subscription that does not exist in one sentence and refuses a malformed name', async () => {
    const db = path.join(tempDir(), 'wh.duckdb')
    const r = await runCli([...args('projects/seneka-test/subscriptions/nope', db), '--stop-when-idle', '1s'])
    expect(r.code).toBe(1)
    expect(r.stderr.replace(/\s*›\s*/g, ' ')).toMatch(/The subscription projects\/seneka-test\/subscriptions\/nope does not exist\./)
    expect(r.stderr).not.toMatch(/\n\s+at /)
    const bad = await runCli(['stream', '--subscription', 'gcs-finalize', '--format', 'jsonl'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/not a full subscription name/)
  })
})
