import {spawn} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {gzipSync} from 'node:zlib'
import {ROOT} from '../../helpers/cli.js'
import {beforeAll, describe, expect, it, vi} from 'vitest'
import {runBackfill} from '../../../src/lib/backfill/run.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {useGoogleStandIns} from '../../helpers/write-api-double.js'

/**
 * Soak: many objects through the Write API loader with lost append replies, lost commit replies and unavailable
 * GetWriteStream calls on the way. Asserts what must hold whatever the machine's speed: every row once, the
 * connections seneka holds bounded while it runs and all closed at the end (server side). The RSS slope between
 * the first tenth and the end is printed (SENEKA_SOAK_OBJECTS raises the count; docs/performance.md has figures).
 */

const N = Number(process.env.SENEKA_SOAK_OBJECTS ?? 200)

const google = useGoogleStandIns()
beforeAll(() => {
  for (let i = 0; i < N; i++) {
    const lines = Array.from({length: 5}, (_, k) => JSON.stringify({time: `2024-05-01T00:${String(i % 60).padStart(2, '0')}:0${k}Z`, msg: `o${i}-${k}`}))
    google.g.putObject('soak', `logs/o${String(i).padStart(6, '0')}.jsonl.gz`, gzipSync(`${lines.join('\n')}\n`))
  }
})


function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : Number.NaN
}

describe('Write API loader soak', () => {
  it(`${N} objects through reconnects and errors: rows once, connections bounded and closed`, async () => {
    const faults = Math.max(1, Math.floor(N / 50))
    google.w.loseAppendReplies(faults, (name) => !name.endsWith('_default'))
    google.w.loseCommitReplies(faults)
    const concurrency = 4
    const before = google.w.calls.length
    let maxOpen = 0
    const rss: number[] = []
    const r = await runBackfill(
      {
        sources: ['gs://soak/logs/'],
        format: getFormat('jsonl'),
        warehouse: 'bigquery://test-project/soak',
        table: 'app',
        range: {},
        concurrency,
        dryRun: false,
        retries: 4,
        storeOptions: {gcsEndpoint: google.g.endpoint},
        // groups of 10 objects: many streams, connections and commits on the way
        bigquery: {location: 'EU', apiEndpoint: google.g.endpoint, loadMethod: 'write-api', storageEmulatorHost: google.w.host, overrides: {retryBaseDelayMs: 1, pollIntervalMs: 1, writeApi: {minLookupIntervalMs: 0, groups: {maxObjects: 10}}}},
      },
      {
        onProgress: (p) => {
          maxOpen = Math.max(maxOpen, google.w.openConnections)
          if (p.objectsDone === Math.floor(N / 10) || p.objectsDone === N) {
            rss.push(process.memoryUsage().rss)
            if (process.env.SOAK_DEBUG) console.log(JSON.stringify(process.memoryUsage()))
          }
        },
      },
    )
    expect(r.objects, JSON.stringify(r.failures.slice(0, 3))).toMatchObject({loaded: N, failed: 0})
    const rows = await google.sql.rows('soak', 'app')
    expect(rows).toHaveLength(5 * N)
    expect(new Set(rows.map((x) => `${x._source_uri}#${x._line}`)).size).toBe(5 * N)
    // one pending-stream connection per group being written, plus the ledger's default stream
    expect(maxOpen).toBeLessThanOrEqual(concurrency + 1)
    await vi.waitFor(() => expect(google.w.openConnections).toBe(0))
    const streams = google.w.calls.slice(before).filter((c) => c.method === 'CreateWriteStream' && String(c.request.parent).endsWith('/tables/app')).length
    // groups of 10 at most while the worker's stream budget lasts (a burst of 8), larger once they wait for it
    expect(streams).toBeGreaterThan(1)
    expect(streams).toBeLessThan(N / 5)
    expect(google.w.connectionsOpened).toBeGreaterThanOrEqual(streams)
    if (rss.length === 2) console.log(`soak (in-process, doubles included): ${N} objects, RSS ${(rss[0] / 2 ** 20).toFixed(0)} MiB after ${Math.floor(N / 10)}, ${(rss[1] / 2 ** 20).toFixed(0)} MiB after ${N}`)
  }, 600_000)

  // the worker alone in its own process (the doubles' recordings and DuckDB stay here): its RSS at the commits
  it.skipIf(!existsSync('/proc/self/status'))(`a spawned backfill worker: RSS after ${N} objects beside after ${Math.floor(N / 10)}`, async () => {
    const samples = new Map<number, number>()
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/run.js'), 'backfill', 'gs://soak/logs/', '--format', 'jsonl', '--table', 'app2', '--warehouse', 'bigquery://test-project/soak', '--location', 'EU', '--load-method', 'write-api', '--concurrency', '4', '--json'], {
      cwd: process.env.SOAK_SNAPSHOTS ?? ROOT,
      env: {...process.env, ...(process.env.SOAK_SNAPSHOTS ? {NODE_OPTIONS: '--heapsnapshot-signal=SIGUSR2'} : {}), SENEKA_WRITE_GROUP_OBJECTS: '10', BIGQUERY_EMULATOR_HOST: `${google.g.endpoint}/bigquery/v2`, STORAGE_EMULATOR_HOST: google.g.endpoint, BIGQUERY_STORAGE_EMULATOR_HOST: google.w.host, SENEKA_CONFIG: ''},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    // objects committed so far (5 rows each; groups of 10 objects): sampled when they first reach a tenth, and at the end
    const committed = () => [...google.w.streams.values()].filter((x) => x.table === 'soak.app2' && x.commitTime).reduce((n, x) => n + x.rows.length / 5, 0)
    google.w.onCommitted = () => {
      const k = committed()
      const at = k >= N ? N : k >= Math.floor(N / 10) ? Math.floor(N / 10) : undefined
      if (at !== undefined && !samples.has(at)) {
        samples.set(at, rssOf(child.pid!))
        if (process.env.SOAK_SNAPSHOTS) child.kill('SIGUSR2')
      }
    }
    const code = await new Promise<number | null>((r) => child.on('close', r))
    google.w.onCommitted = undefined
    expect(code, out).toBe(0)
    expect(JSON.parse(out).result.objects).toMatchObject({loaded: N, failed: 0})
    const first = samples.get(Math.floor(N / 10))!
    const last = samples.get(N)!
    console.log(`soak (worker process): ${N} objects, RSS ${(first / 2 ** 20).toFixed(1)} MiB after ${Math.floor(N / 10)}, ${(last / 2 ** 20).toFixed(1)} MiB after ${N} (${(((last - first) / first) * 100).toFixed(1)}%)`)
    expect(Number.isFinite(first) && Number.isFinite(last)).toBe(true)
  }, 600_000)
})
