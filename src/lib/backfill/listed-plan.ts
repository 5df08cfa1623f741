import {createReadStream, rmSync} from 'node:fs'
import {writeFile} from 'node:fs/promises'
import {createInterface} from 'node:readline'
import type {Readable} from 'node:stream'
import {BIGINT, BOOLEAN, DuckDBDataChunk, VARCHAR} from '@duckdb/node-api'
import pLimit from 'p-limit'
import {UsageError, UserError} from '../errors.js'
import {isMarkerKey} from '../store/markers.js'
import {type ObjectStore, openStore, parseLocation, type StoreFactories, type StoreOptions} from '../store/index.js'
import {inRange, type TimeRange, utcDay} from '../time.js'
import {loadInventory} from './inventory.js'
import {objectTime} from './layout.js'
import type {LedgerVersion} from '../warehouse/types.js'
import {type BackfillPlan, type DayPlan, globMatcher, type PlanFromSummary, type PlannedAction, type PlannedObject} from './plan.js'
import {PlanDb, sqlString} from './plan-db.js'
import {type CandidatesInput, type CandidatesResult, planInProcess, readCandidatesInChild} from './plan-process.js'
import {inShard, type Shard} from './shard.js'

/** Where a plan's objects come from, instead of listing the source. */
export type PlanFrom =
  | {kind: 'inventory'; manifest: string}
  | {kind: 'files'; file: string; stdin?: Readable}
  | {kind: 'plan'; file: string}

/** The plan source of backfill's flags (--inventory, --files-from, --plan), if any. */
export function planFromFlags(flags: {inventory?: string; 'files-from'?: string; plan?: string}): PlanFrom | undefined {
  if (flags.inventory) return {kind: 'inventory', manifest: flags.inventory}
  if (flags['files-from']) return {kind: 'files', file: flags['files-from']}
  if (flags.plan) return {kind: 'plan', file: flags.plan}
  return undefined
}

export interface ListedPlanInput {
  from: PlanFrom
  /** the source (bucket and prefix) the objects belong to; --plan may omit it */
  source?: string
  range: TimeRange
  include?: string[]
  exclude?: string[]
  shard?: Shard
  reload?: boolean
  storeOptions?: StoreOptions
  storeFactories?: StoreFactories
  /** the version loaded of each object under a URI prefix, a page at a time (Warehouse.pageLedger: never the whole ledger in memory) */
  ledger: (uriPrefix: string, onPage: (versions: LedgerVersion[]) => Promise<void>) => Promise<void>
  /** a progress line while planning (rows read so far) */
  onProgress?: (line: string) => void
}

/** A plan kept in a temporary DuckDB database: its totals, and its objects streamed in key order. */
export interface ListedPlan {
  store: ObjectStore
  plan: BackfillPlan
  /** the planned objects (markers left out), in key order, a chunk at a time */
  objects(): AsyncIterable<PlannedObject>
  /** writes the plan (keys, sizes, ETags, shard) as CSV for a later --plan */
  write(file: string): Promise<void>
  close(): Promise<void>
}

const PROGRESS_EVERY = 1_000_000
const HEAD_CONCURRENCY = 32
/** whether a count went past a multiple of PROGRESS_EVERY: time for a progress line */
const crossed = (before: number, after: number): boolean => Math.floor(after / PROGRESS_EVERY) > Math.floor(before / PROGRESS_EVERY)
/** legacy: the older ETag form of a local file (size-mtime), which a ledger may still record (isSameVersion) */
const LISTED = `CREATE TABLE listed (key VARCHAR, size BIGINT, etag VARCHAR, lm BIGINT, ok BOOLEAN, legacy VARCHAR)`
const PLAN_COLUMNS = `{'uri': 'VARCHAR', 'key': 'VARCHAR', 'size': 'BIGINT', 'etag': 'VARCHAR', 'last_modified': 'VARCHAR', 'day': 'VARCHAR', 'action': 'VARCHAR', 'shard': 'VARCHAR'}`

/**
 * Plans a backfill from an S3 Inventory, a file list or a saved plan in bounded memory: the candidates go into a
 * temporary DuckDB database, the same selection as a LIST-based plan (time range, globs, markers, shard) runs over
 * them a chunk at a time, the ledger diff is a join in SQL, only totals per day stay in memory, and the objects
 * come back in key order (the order of a LIST plan), a chunk at a time.
 */
export async function planListed(input: ListedPlanInput): Promise<ListedPlan> {
  const {from} = input
  const candidates: CandidatesInput = {
    from: from.kind === 'files' ? {kind: 'files', file: from.file} : from,
    source: input.source,
    range: input.range,
    include: input.include,
    exclude: input.exclude,
    shard: input.shard,
    storeOptions: input.storeOptions,
  }
  const stdin = from.kind === 'files' && from.file === '-' ? (from.stdin ?? process.stdin) : undefined
  let db: PlanDb | undefined
  let store: ObjectStore | undefined
  const dir = PlanDb.makeDir()
  try {
    let read: CandidatesResult
    if (planInProcess(Boolean(input.storeFactories))) {
      db = await PlanDb.open(dir)
      read = await readCandidates(db, candidates, {stdin, storeFactories: input.storeFactories, onProgress: input.onProgress})
    } else {
      // the reads and the selection (the peak of planning) in a child process with one libuv pool thread
      read = await readCandidatesInChild(dir, candidates, {stdin, onProgress: input.onProgress})
      db = await PlanDb.open(dir)
    }
    const {source, summary} = read
    const pdb: PlanDb = db
    await pdb.run(`CREATE TABLE ledger (key VARCHAR, etag VARCHAR)`)
    const loc = parseLocation(source)
    const opened = openStore(loc, input.storeOptions, input.storeFactories)
    store = opened
    const root = keyRoot(opened)
    let entries = 0
    // the entries under the source only (the engine filters them), by key: shorter strings to join on
    await input.ledger(root + loc.prefix, async (rows) => {
      const before = entries
      entries += rows.length
      if (crossed(before, entries)) input.onProgress?.(`Planning: read ${entries.toLocaleString('en-US')} ledger entries.`)
      const app = await pdb.appender('ledger')
      for (const r of rows) {
        app.appendVarchar(r.uri.slice(root.length))
        app.appendVarchar(r.etag)
        app.endRow()
      }
      app.closeSync()
    })
    // the planned objects (markers apart) with their action: the ledger diff is one join, on one thread (a join
    // larger than the memory bound spills; with more threads, each pins its own partitions and it can run out);
    // URIs are made when the plan is read, not stored (half the bytes of the table)
    await pdb.oneThread(() =>
      pdb.run(
        `CREATE TABLE final AS SELECT p.key, p.size, p.etag, p.lm, p.day, p.legacy,
           CASE WHEN g.key IS NULL THEN 'load' WHEN (g.etag = p.etag OR g.etag = p.legacy) AND NOT $reload THEN 'skip' ELSE 'replace' END AS action
         FROM planned p LEFT JOIN ledger g ON g.key = p.key WHERE NOT p.marker`,
        {reload: Boolean(input.reload)},
      ),
    )
    const plan = {...(await summarize(pdb, root, summary)), ...(input.shard ? {otherShards: read.otherShards} : {})}
    const shard = input.shard ? `${input.shard.index}/${input.shard.count}` : ''
    const s = store
    return {
      store: s,
      plan,
      async *objects() {
        for await (const chunk of pdb.chunks(`SELECT key, $root || key AS uri, size, etag, lm, day, action, legacy FROM final ORDER BY key`, {root})) {
          for (const r of chunk.getRows()) {
            yield {key: String(r[0]), uri: String(r[1]), size: Number(r[2]), etag: String(r[3]), lastModified: new Date(Number(r[4])), day: String(r[5]), action: r[6] as PlannedAction, ...(r[7] === null ? {} : {legacyEtag: String(r[7])})}
          }
        }
      },
      async write(file) {
        // on one thread, like the ledger join: the sort of 10M objects ran out of memory at 128 MB with two
        await pdb.oneThread(() =>
          pdb.run(
            `COPY (SELECT $root || key AS uri, key, size, etag, strftime(make_timestamp(lm * 1000), '%Y-%m-%dT%H:%M:%S.%gZ') AS last_modified, day, action, $shard AS shard FROM final ORDER BY key)
             TO ${sqlString(file)} (HEADER, DELIMITER ',')`,
            {shard, root},
          ),
        )
      },
      async close() {
        await s.close()
        await pdb.close()
      },
    }
  } catch (err) {
    await store?.close()
    if (db) await db.close()
    else rmSync(dir, {recursive: true, force: true})
    throw err
  }
}

/**
 * The candidates of a plan (an inventory's data files, a file list, a saved plan) read into the plan database,
 * and the selection of a LIST-based plan run over them: the selected objects are in its `planned` table. Runs in
 * the planning child process (plan-child.ts), or in this one (planInProcess).
 */
export async function readCandidates(db: PlanDb, input: CandidatesInput, opts: {stdin?: Readable; storeFactories?: StoreFactories; onProgress?: (line: string) => void}): Promise<CandidatesResult> {
  const {from} = input
  const {onProgress} = opts
  await db.run(LISTED)
  await db.run(`CREATE TABLE planned (key VARCHAR, size BIGINT, etag VARCHAR, lm BIGINT, day VARCHAR, marker BOOLEAN, legacy VARCHAR)`)
  const source = input.source ?? (from.kind === 'plan' ? await planSource(db, from.file) : undefined)
  if (!source) throw new UsageError(`--${from.kind === 'inventory' ? 'inventory' : 'files-from'} needs the source bucket and prefix the objects belong to.`, 'For example: seneka backfill s3://my-logs/app/ --inventory s3://inventory-bucket/.../manifest.json --format jsonl')
  const loc = parseLocation(source)
  if (loc.object) throw new UsageError(`The source ${source} is one object, not a folder or prefix.`, 'Give the folder or bucket prefix the listed objects are under.')
  const store = openStore(loc, input.storeOptions, opts.storeFactories)
  try {
    const summary: PlanFromSummary = {kind: from.kind, file: from.kind === 'inventory' ? from.manifest : from.file, candidates: 0, head: 0}
    // a saved plan is run exactly: its objects, not the selection of this command line (a shard of it, with --shard)
    const select = from.kind === 'plan' ? {range: {}, shard: input.shard} : input
    // candidates seen, and those in range that belong to other shards (--shard: a shard without objects is done)
    const progress = {seen: 0, otherShards: 0}
    // the candidates read so far go through the selection into `planned`; `listed` starts empty again
    const drain = async (): Promise<void> => {
      summary.candidates += Number((await db.all(`SELECT count(*)::BIGINT AS n FROM listed WHERE ok`))[0].n)
      await selectObjects(db, store, select, progress, onProgress)
      await db.run(`DROP TABLE listed`)
      await db.run(LISTED)
    }
    if (from.kind === 'inventory') {
      if (loc.scheme !== 's3') throw new UsageError(`--inventory reads S3 Inventory, but the source ${source} is not an s3:// location.`, 'Give the s3://bucket/prefix the inventory lists.')
      summary.inventory = await loadInventory(db, from.manifest, loc.bucket, loc.prefix, {
        storeOptions: input.storeOptions,
        storeFactories: opts.storeFactories,
        onRows: (rows, file, files) => onProgress?.(`Planning: read ${rows.toLocaleString('en-US')} inventory rows (data file ${file} of ${files}).`),
        drain,
      })
    } else {
      if (from.kind === 'files') await loadFileList(db, store, loc.prefix, {file: from.file, stdin: opts.stdin}, summary, onProgress)
      else await loadPlanFile(db, store, loc.prefix, from.file)
      await drain()
    }
    return {source, summary, otherShards: progress.otherShards}
  } finally {
    await store.close()
  }
}

/** A LIST-based plan written in the format of ListedPlan.write (a few thousand objects: they are in memory anyway). */
export async function writePlanFile(file: string, objects: AsyncIterable<{obj: PlannedObject}>, shard: Shard | undefined): Promise<void> {
  const q = (v: string): string => (/[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v)
  const rows = ['uri,key,size,etag,last_modified,day,action,shard']
  const s = shard ? `${shard.index}/${shard.count}` : ''
  const sorted: PlannedObject[] = []
  for await (const {obj} of objects) sorted.push(obj)
  sorted.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  for (const o of sorted) rows.push([o.uri, o.key, String(o.size), o.etag, o.lastModified.toISOString(), o.day, o.action, s].map(q).join(','))
  await writeFile(file, rows.join('\n') + '\n')
}

/** What a store's keys are appended to for their URIs (a local folder's store.uri('') has no trailing "/"). */
function keyRoot(store: ObjectStore): string {
  return store.uri('k').slice(0, -1)
}

/** DuckDB's CSV reader buffer for a plan file: 4 MB instead of 16 x max_line_size (32 MB), which did not fit the planning child's memory */
const PLAN_CSV_BUFFER_BYTES = 4 * 1024 * 1024

function readPlanCsv(file: string): string {
  return `read_csv(${sqlString(file)}, header = true, buffer_size = ${PLAN_CSV_BUFFER_BYTES}, columns = ${PLAN_COLUMNS})`
}

/** --plan without a source: the bucket of the plan's objects (all in one). */
async function planSource(db: PlanDb, file: string): Promise<string> {
  const rows = await db.all(`SELECT DISTINCT regexp_extract(uri, '^(s3|gs)://[^/]+/') AS root FROM ${readPlanCsv(file)} LIMIT 2`).catch((err: unknown) => {
    throw new UserError(`${file} is not a plan written by backfill --plan-out (${(err as Error).message.split('\n')[0]}).`, {suggestion: 'Write one with seneka backfill SOURCE --dry-run --plan-out FILE.'})
  })
  if (rows.length !== 1 || !rows[0].root) throw new UsageError(`The plan ${file} has objects of several buckets or local files, so the source is needed.`, 'Give the source the plan was made for: seneka backfill SOURCE --plan FILE.')
  return String(rows[0].root)
}

async function loadPlanFile(db: PlanDb, store: ObjectStore, prefix: string, file: string): Promise<void> {
  const root = keyRoot(store)
  await db.run(`INSERT INTO listed (key, size, etag, lm, ok) SELECT key, size, etag, epoch_ms(CAST(last_modified AS TIMESTAMPTZ)), true FROM ${readPlanCsv(file)}`)
  const outside = await db.all(`SELECT key FROM listed WHERE NOT starts_with(key, $prefix) OR key IS NULL OR size IS NULL OR etag IS NULL LIMIT 1`, {prefix})
  const wrongRoot = await db.all(`SELECT uri FROM ${readPlanCsv(file)} WHERE NOT starts_with(uri, $root) LIMIT 1`, {root})
  if (outside.length > 0 || wrongRoot.length > 0) {
    throw new UsageError(`The plan ${file} has an object outside the source ${store.uri(prefix)}: ${String(wrongRoot[0]?.uri ?? outside[0]?.key)}.`, 'Run the plan with the source it was made for (or with no source).')
  }
}

/** --files-from: one key or URI per line (blank lines and # comments ignored), each described by a HEAD request. */
async function loadFileList(db: PlanDb, store: ObjectStore, prefix: string, from: {file: string; stdin?: Readable}, summary: PlanFromSummary, onProgress?: (line: string) => void): Promise<void> {
  const input = from.file === '-' ? (from.stdin ?? process.stdin) : createReadStream(from.file)
  const root = keyRoot(store)
  const limit = pLimit(HEAD_CONCURRENCY)
  const notFound = {objects: 0, samples: [] as string[]}
  const app = await db.appender('listed')
  let batch: string[] = []
  let lines = 0
  const flush = async (): Promise<void> => {
    const found = await Promise.all(batch.map((key) => limit(() => store.head(key))))
    summary.head += batch.length
    found.forEach((o, i) => {
      if (!o) {
        notFound.objects++
        if (notFound.samples.length < 5) notFound.samples.push(store.uri(batch[i]))
        return
      }
      app.appendVarchar(o.key)
      app.appendBigInt(BigInt(o.size))
      app.appendVarchar(o.etag)
      app.appendBigInt(BigInt(o.lastModified.getTime()))
      app.appendBoolean(true)
      if (o.legacyEtag === undefined) app.appendNull()
      else app.appendVarchar(o.legacyEtag)
      app.endRow()
    })
    batch = []
  }
  try {
    for await (const raw of createInterface({input, crlfDelay: Infinity})) {
      lines++
      const line = raw.trim()
      if (line === '' || line.startsWith('#')) continue
      const key = /^[a-z0-9]+:\/\//i.test(line) ? (line.startsWith(root) ? line.slice(root.length) : undefined) : line.replace(/^\/+/, '')
      if (key === undefined || !key.startsWith(prefix)) {
        throw new UsageError(`Line ${lines} of ${from.file === '-' ? 'standard input' : from.file} names ${line}, which is not under the source ${store.uri(prefix)}.`, 'List keys relative to the source bucket, or URIs under the source.')
      }
      batch.push(key)
      if (batch.length >= 1000) await flush()
      if (lines % PROGRESS_EVERY === 0) onProgress?.(`Planning: read ${lines.toLocaleString('en-US')} lines of the file list.`)
    }
    if (batch.length > 0) await flush()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`--files-from ${from.file} does not exist.`, 'Give a file with one key or URI per line, or - for standard input.')
    throw err
  } finally {
    app.closeSync()
  }
  // a key listed twice is planned once
  await db.run(`DELETE FROM listed WHERE rowid NOT IN (SELECT min(rowid) FROM listed GROUP BY key)`)
  if (notFound.objects > 0) summary.notFound = notFound
}

/**
 * The selection of a LIST-based plan (plan.ts), over the candidates in key order, one chunk at a time: globs,
 * time range (objectTime), shard, markers. JavaScript decides (the same
 * code as a LIST plan) from the key and LastModified; the kept rows' ids, days and marker flags go back a column
 * chunk at a time, and SQL joins them to the rest of the row.
 */
async function selectObjects(db: PlanDb, store: ObjectStore, input: Pick<ListedPlanInput, 'range' | 'include' | 'exclude' | 'shard'>, progress: {seen: number; otherShards: number}, onProgress?: (line: string) => void): Promise<void> {
  const include = globMatcher(input.include)
  const exclude = globMatcher(input.exclude)
  const root = keyRoot(store)
  await db.run(`CREATE OR REPLACE TABLE kept (rid BIGINT, day VARCHAR, marker BOOLEAN)`)
  const app = await db.appender('kept')
  // days as text, computed once per day
  const days = new Map<number, string>()
  const dayOf = (t: number): string => {
    const start = t - (((t % 86_400_000) + 86_400_000) % 86_400_000)
    let d = days.get(start)
    if (d === undefined) days.set(start, (d = utcDay(start)))
    return d
  }
  try {
    // in storage order (no sort): what is kept does not depend on the order, and the plan is sorted when read
    for await (const chunk of db.chunks(`SELECT rowid, key, lm FROM listed WHERE ok`)) {
      const [rids, keys, lms] = chunk.getColumns() as [bigint[], string[], bigint[]]
      const out: [bigint[], string[], boolean[]] = [[], [], []]
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]
        if (include && !include(key)) continue
        if (exclude && exclude(key)) continue
        const t = objectTime(key, new Date(Number(lms[i])))
        if (!inRange(t, input.range)) continue
        if (!inShard(root + key, input.shard)) {
          progress.otherShards++
          continue
        }
        out[0].push(rids[i])
        out[1].push(dayOf(t))
        out[2].push(isMarkerKey(key))
      }
      if (out[0].length > 0) {
        const c = DuckDBDataChunk.create([BIGINT, VARCHAR, BOOLEAN], out[0].length)
        c.setColumns(out)
        app.appendDataChunk(c)
      }
      const before = progress.seen
      progress.seen += keys.length
      if (crossed(before, progress.seen)) onProgress?.(`Planning: selected from ${progress.seen.toLocaleString('en-US')} objects.`)
    }
  } finally {
    app.closeSync()
  }
  // the candidates of one data file at most: the join on row ids stays in memory. On one thread: with two, each
  // builds its own row groups of the insert, and in the planning child (one libuv pool thread) this join was
  // the peak of planning, 1.14x higher at 10M than at 1M with two threads, 1.04x with one (docs/performance.md)
  await db.oneThread(() => db.run(`INSERT INTO planned SELECT l.key, l.size, l.etag, l.lm, k.day, k.marker, l.legacy FROM kept k JOIN listed l ON l.rowid = k.rid`))
}

async function summarize(db: PlanDb, root: string, from: PlanFromSummary): Promise<BackfillPlan> {
  const rows = await db.all(
      `SELECT day, count(*)::BIGINT AS objects, sum(size)::BIGINT AS bytes, count(*) FILTER (action = 'load')::BIGINT AS load,
              count(*) FILTER (action = 'replace')::BIGINT AS replace, count(*) FILTER (action = 'skip')::BIGINT AS skip,
              coalesce(sum(size) FILTER (action <> 'skip'), 0)::BIGINT AS to_read
       FROM final GROUP BY day ORDER BY day`,
  )
  const totals = {objects: 0, bytes: 0, load: 0, replace: 0, skip: 0, bytesToRead: 0}
  for (const r of rows) totals.bytesToRead += Number(r.to_read)
  const days = rows.map((r): DayPlan => ({day: String(r.day), objects: Number(r.objects), bytes: Number(r.bytes), load: Number(r.load), replace: Number(r.replace), skip: Number(r.skip)}))
  for (const d of days) {
    totals.objects += d.objects
    totals.bytes += d.bytes
    totals.load += d.load
    totals.replace += d.replace
    totals.skip += d.skip
  }
  const markers = await db.all(`SELECT $root || key AS uri FROM planned WHERE marker ORDER BY key LIMIT 5`, {root})
  return {
    days,
    totals,
    requests: {list: 0, get: totals.load + totals.replace, listedPrefixes: []},
    markers: {objects: Number((await db.all(`SELECT count(*)::BIGINT AS n FROM planned WHERE marker`))[0].n), samples: markers.map((m) => String(m.uri))},
    from,
  }
}
