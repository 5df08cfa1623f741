import {appendFileSync, mkdirSync, utimesSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {getFormat} from '../../../src/lib/formats/index.js'
import type {LoadedObject} from '../../../src/lib/stream/object-loader.js'
import {runStream, type StreamOptions} from '../../../src/lib/stream/run.js'
import {isTemporaryName} from '../../../src/lib/stream/sources/folder.js'
import {renderStatusLine, type StreamStatus} from '../../../src/lib/stream/stats.js'
import {count} from '../../helpers/duckdb.js'
import {tempDir} from '../../helpers/tmp.js'
import {jsonl} from './fixtures.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function options(dir: string, db: string, extra: Partial<StreamOptions> = {}): StreamOptions {
  return {watch: dir, format: getFormat('jsonl'), warehouse: `duckdb:${db}`, table: 'app', concurrency: 2, pollIntervalMs: 100, settleMs: 400, stopWhenIdleMs: 1500, statusIntervalMs: 0, ...extra}
}

describe('runStream --watch (embedded mode)', () => {
  it('loads files as they appear, never half-written ones, skips temp names, and loads nothing twice across restarts', async () => {
    const root = tempDir()
    const dir = path.join(root, 'incoming')
    const db = path.join(root, 'wh.duckdb')
    mkdirSync(path.join(dir, '2024/05/01'), {recursive: true})
    writeFileSync(path.join(dir, '2024/05/01/before.log'), jsonl(3, 'before'))
    const loaded: LoadedObject[] = []
    const run = runStream(options(dir, db), {onLoaded: (o) => loaded.push(o)})
    await sleep(300)
    writeFileSync(path.join(dir, '2024/05/01/a.log'), jsonl(4, 'a'))
    // a slow writer: half a line first, the rest a little later (within the settle delay)
    const body = jsonl(10, 'slow')
    const half = Math.floor(body.length / 2) + 3
    writeFileSync(path.join(dir, 'slow.log'), body.slice(0, half))
    await sleep(200)
    appendFileSync(path.join(dir, 'slow.log'), body.slice(half))
    writeFileSync(path.join(dir, '.hidden.log'), jsonl(1, 'h'))
    writeFileSync(path.join(dir, 'upload.log.tmp'), jsonl(1, 't'))
    const r = await run
    expect(r.stoppedBy).toBe('idle')
    expect(r.mode).toBe('watch')
    expect(r.objects).toMatchObject({loaded: 3, replaced: 0, failed: 0})
    expect(loaded.map((o) => path.basename(o.uri)).sort()).toEqual(['a.log', 'before.log', 'slow.log'])
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(17)
    expect(await count(db, "SELECT count(*) FROM app WHERE record LIKE '%slow-%'")).toBe(10)
    expect(await count(db, 'SELECT count(*) FROM _seneka_rejects')).toBe(0)
    expect(await count(db, "SELECT count(*) FROM _seneka_ledger WHERE path = 'stream'")).toBe(3)

    // restart: nothing is loaded again (the two unchanged files are "already loaded"); a changed file replaces its rows
    writeFileSync(path.join(dir, '2024/05/01/a.log'), jsonl(2, 'a2'))
    const again = await runStream(options(dir, db))
    expect(again.objects).toMatchObject({loaded: 0, replaced: 1, skipped: 2})
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(15)

    // `touch` changes the modification time, not the content: the same version (its ETag is the content's MD5)
    const later = new Date(Date.now() + 60_000)
    utimesSync(path.join(dir, 'slow.log'), later, later)
    const touched = await runStream(options(dir, db))
    expect(touched.objects).toMatchObject({loaded: 0, replaced: 0, skipped: 3, failed: 0})
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(15)
  })

  it('a stop with a backlog finishes only the loads running; queued files are left for the next run', async () => {
    const root = tempDir()
    const dir = path.join(root, 'incoming')
    const db = path.join(root, 'wh.duckdb')
    mkdirSync(dir)
    const files = 60
    for (let i = 0; i < files; i++) writeFileSync(path.join(dir, `f${String(i).padStart(3, '0')}.log`), jsonl(20, `f${i}`))
    const abort = new AbortController()
    const statuses: StreamStatus[] = []
    let loads = 0
    const r = await runStream(options(dir, db, {settleMs: 0, stopWhenIdleMs: undefined, signal: abort.signal, statusIntervalMs: 20}), {
      onStatus: (st) => statuses.push(st),
      onLoaded: () => {
        // Ctrl-C once the first loads committed, with most of the folder queued behind them
        if (++loads === 2) abort.abort()
      },
    })
    expect(r.stoppedBy).toBe('signal')
    const done = r.objects.loaded
    expect(done).toBeGreaterThanOrEqual(2)
    // at most the loads already running finish: --concurrency 2, which DuckDB's group-commit loader takes as 8 in
    // flight (load/session.ts), far fewer than the 60 files of the folder
    const inFlight = 2 * 4
    expect(done).toBeLessThanOrEqual(2 + inFlight)
    expect(await count(db, 'SELECT count(*) FROM _seneka_ledger')).toBe(done)
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(done * 20)
    // the status line tells loading from queued; a watched folder has no "in flight" messages
    const busy = statuses.find((st) => st.queued > 0)
    expect(busy, 'a status line while files were queued').toBeDefined()
    expect(busy!.loading).toBeLessThanOrEqual(inFlight)
    expect(busy!.backlog.inFlight).toBeNull()
    expect(renderStatusLine(busy!)).toMatch(new RegExp(`loading ${busy!.loading}, queued ${busy!.queued} \\| backlog \\d+(,|$)`))
    expect(renderStatusLine(busy!)).not.toMatch(/in flight/)
    // the next run loads the rest, nothing twice
    const again = await runStream(options(dir, db, {settleMs: 0}))
    expect(again.objects).toMatchObject({loaded: files - done, replaced: 0})
    expect(await count(db, 'SELECT count(*) FROM app')).toBe(files * 20)
  }, 60_000)

  it('recognises names that are still being written', () => {
    for (const k of ['a/.x.log', 'x.tmp', 'x.log.part', 'f.log.tmp-123-456', 'x~']) expect(isTemporaryName(k), k).toBe(true)
    for (const k of ['a/x.log', 'x.log.gz', 'tmp/x.log']) expect(isTemporaryName(k), k).toBe(false)
  })
})
