// The Google stand-ins of the tests (test/helpers/write-api-double.ts: the BigQuery REST and GCS double with its
// DuckDB stand-in, and the gRPC double of BigQueryWrite) in a process of their own, so the benchmarked worker
// does not share its event loop with them. Started by bench/lib/google-doubles-client.js over IPC; needs
// Node's type stripping and the .ts resolve hook (ts-hooks.mjs). The target tables' rows stay in the REST double's
// memory only (their INSERTs into its DuckDB would take the worker's cores); the ledger and reject tables stay
// queryable, as seneka needs them. The target tables' Write API rows are kept serialized as they arrive and decoded
// when the bench reads them (`rows`), unless `strictRows` is on (write-api-double.ts, lazyRows: the real service
// decodes rows on Google's machines, not on the benchmarked worker's cores).
import {readFileSync} from 'node:fs'
import {gzipSync} from 'node:zlib'
import {startGoogleStandIns} from '../../test/helpers/write-api-double.ts'

let strict = false
const target = (table) => !table.split('.')[1].startsWith('_seneka')
const s = await startGoogleStandIns({lazyRows: (table) => !strict && target(table)})
const insert = s.sql.insertRows.bind(s.sql)
/** told when an object's rows first become visible (watchRss) */
let onVisible
/** per target table: object URI -> when its rows first became visible (their stream's batch commit), epoch ms */
const visible = new Map()
s.sql.insertRows = (ds, table, fields, rows) => {
  if (table.startsWith('_seneka')) return insert(ds, table, fields, rows)
  const key = `${ds}.${table}`
  const seen = visible.get(key) ?? new Map()
  visible.set(key, seen)
  const now = Date.now()
  for (const r of rows) {
    if (seen.has(r._source_uri)) continue
    seen.set(r._source_uri, now)
    onVisible?.()
  }
  return insert(ds, table, fields, [])
}

const rss = new Map()
/** rows dropped by `trim`, per table */
const dropped = new Map()
const ops = {
  /** DML statements run at the REST double so far (dry runs excluded) */
  dml: () => s.g.jobs('query').filter((j) => /\b(MERGE|UPDATE|DELETE|INSERT)\b/i.test(j.configuration.query.query)).length,
  /** CPU seconds the doubles have used (all threads: their DuckDB too) */
  cpuMs: () => {
    const ru = process.resourceUsage()
    return (ru.userCPUTime + ru.systemCPUTime) / 1000
  },
  /** rows committed into a table (decoded now, each as strictly as on arrival: a bad row fails the call) */
  rows: ({table}) => {
    s.w.materialize(table)
    return (dropped.get(table) ?? 0) + (s.g.tables.get(table)?.rows.length ?? 0)
  },
  /**
   * when each object's rows became visible in `table` (the service's side of "queryable"): [uri, epoch ms]; needs
   * strictRows on (rows decoded at their commit), else it is the time they were read
   */
  visibleAt: ({table}) => [...(visible.get(table) ?? new Map()).entries()],
  /** on: every appended row decoded as it arrives (the test suite's double); off (default): when read */
  strictRows: ({on}) => {
    strict = Boolean(on)
  },
  calls: ({method}) => s.w.calls.filter((c) => c.method === method).length,
  /** AppendRows connections open at the Write API double now */
  openConnections: () => s.w.openStreams().map((n) => n ?? '(no request yet)').join(', '),
  /** lets go of what the doubles keep of committed rows and appends (a long run would fill their heap); counts stay */
  trim: () => {
    for (const [name, t] of s.g.tables) {
      if (name.split('.')[1].startsWith('_seneka')) continue
      dropped.set(name, (dropped.get(name) ?? 0) + t.rows.length)
      t.rows = []
    }
    for (const st of s.w.streams.values()) if (st.commitTime) st.rows = []
    s.w.calls.splice(0, s.w.calls.length, ...s.w.calls.filter((c) => c.method !== 'AppendRows'))
  },
  /** small JSON-lines objects in the GCS double */
  putJsonl: ({bucket, prefix, n}) => {
    for (let i = 0; i < n; i++) {
      const lines = Array.from({length: 5}, (_, k) => JSON.stringify({time: `2024-05-01T00:${String(i % 60).padStart(2, '0')}:0${k}Z`, msg: `o${i}-${k}`}))
      s.g.putObject(bucket, `${prefix}o${String(i).padStart(6, '0')}.jsonl.gz`, gzipSync(`${lines.join('\n')}\n`))
    }
  },
  /**
   * samples the RSS of process `pid` each time the number of objects whose rows became visible (committed) since
   * now reaches a multiple of `every` (needs strictRows on: rows decoded at their commit)
   */
  watchRss: ({pid, every}) => {
    rss.clear()
    let n = 0
    onVisible = () => {
      if (++n % every !== 0) return
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (m) rss.set(n, Number(m[1]) / 1024)
    }
  },
  rssSamples: () => {
    onVisible = undefined
    return [...rss.entries()].sort((a, b) => a[0] - b[0])
  },
  close: async () => {
    await s.close()
    setImmediate(() => process.exit(0))
  },
}

process.on('message', async ({id, op, args}) => {
  try {
    process.send({id, value: await ops[op](args ?? {})})
  } catch (err) {
    process.send({id, error: String(err?.stack ?? err)})
  }
})
// the bench is gone (it failed or was stopped): so are the doubles
process.on('disconnect', () => process.exit(0))
process.send({ready: true, endpoint: s.g.endpoint, host: s.w.host})
