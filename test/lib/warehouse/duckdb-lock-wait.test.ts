import {existsSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it, onTestFinished, vi} from 'vitest'
import {UserError} from '../../../src/lib/errors.js'
import {DuckDBWarehouse} from '../../../src/lib/warehouse/duckdb/warehouse.js'
import {waitFolder} from '../../../src/lib/warehouse/duckdb/file-lease.js'
import {type Holder, holdFile} from '../../helpers/duckdb-holder.js'
import {tempDir} from '../../helpers/tmp.js'

/** A fresh DuckDB file with a table t of 10 rows. */
async function seededFile(): Promise<string> {
  const file = path.join(tempDir(), 'wh.duckdb')
  const wh = await DuckDBWarehouse.open(file)
  await wh.transaction(async (tx) => {
    await tx.query('CREATE TABLE t AS SELECT range AS a FROM range(10)')
  })
  await wh.close()
  return file
}

/** Another process holding the file (stopped when the test ends), once it holds it. */
async function heldBy(file: string, holdMs: number, opts?: Parameters<typeof holdFile>[2]): Promise<Holder> {
  const holder = holdFile(file, holdMs, opts)
  onTestFinished(() => holder.stop())
  await holder.held
  return holder
}

describe('sharing a DuckDB file with other processes', () => {
  it('waits for a file another process holds for less than the bound, says so once, then opens it', async () => {
    const file = await seededFile()
    const holder = await heldBy(file, 1500)
    const notices: string[] = []
    const t0 = performance.now()
    // a bound far beyond the test's timeout: an open that waited for the bound instead of the release fails the test
    const wh = await DuckDBWarehouse.open(file, {readOnly: true, lockWaitMs: 600_000, onLockWait: (m) => notices.push(m)})
    const waited = performance.now() - t0
    try {
      expect(Number((await wh.query('SELECT count(*) AS n FROM t'))[0].n)).toBe(10)
    } finally {
      await wh.close()
    }
    await holder.released
    // it waited (the notice comes after a second), and opened once the holder let go
    expect(waited).toBeGreaterThan(1000)
    expect(notices).toHaveLength(1)
    expect(notices[0]).toMatch(new RegExp(`^Waiting for another seneka process \\(PID ${holder.child.pid}\\) to release ${file.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
    // the waiter's marker is gone with the wait
    expect(existsSync(waitFolder(file))).toBe(false)
  })

  it('fails with one sentence after the bound when another process holds the file longer', async () => {
    const file = await seededFile()
    const holder = await heldBy(file, 30_000)
    const t0 = performance.now()
    const err = await DuckDBWarehouse.open(file, {lockWaitMs: 1200}).then(
      () => undefined,
      (e: unknown) => e,
    )
    const waited = performance.now() - t0
    expect(err).toBeInstanceOf(UserError)
    expect((err as UserError).message).toBe(`The DuckDB file ${file} is in use by another process (PID ${holder.child.pid}) and was not released within 1.2s.`)
    expect((err as UserError).suggestion).toMatch(/SENEKA_DUCKDB_LOCK_WAIT/)
    expect(waited).toBeGreaterThanOrEqual(1200)
    expect(existsSync(waitFolder(file))).toBe(false)
  })

  it('takes SENEKA_DUCKDB_LOCK_WAIT as the bound: 0 fails at once', async () => {
    const file = await seededFile()
    await heldBy(file, 30_000, {mode: 'ro'})
    vi.stubEnv('SENEKA_DUCKDB_LOCK_WAIT', '0')
    onTestFinished(() => {
      vi.unstubAllEnvs()
    })
    const notices: string[] = []
    // a read-only holder locks a writer out too; no wait, so no waiting notice
    await expect(DuckDBWarehouse.open(file, {onLockWait: (m) => notices.push(m)})).rejects.toThrow(/is in use by another process \(PID \d+\) and was not released within 0ms\./)
    expect(notices).toEqual([])
  })

  it('a writer with nothing to do releases the file after its idle window, and opens it again when it works', async () => {
    const file = await seededFile()
    const wh = await DuckDBWarehouse.open(file, {idleReleaseMs: 100})
    onTestFinished(() => wh.close())
    await wh.query('SELECT 1')
    expect(wh.fileLease.held).toBe(true)
    await new Promise((r) => setTimeout(r, 300))
    expect(wh.fileLease.held).toBe(false)
    // another process gets the file (the holder waits for ever on a held file: the test's timeout would end it)
    const holder = holdFile(file, 200, {mode: 'ro'})
    onTestFinished(() => holder.stop())
    await holder.held
    await holder.released
    expect(Number((await wh.query('SELECT count(*) AS n FROM t'))[0].n)).toBe(10)
    expect(wh.fileLease.opens).toBe(2)
  })

  it('a busy writer lets a waiting process in after its current work, then takes the file back', async () => {
    const file = await seededFile()
    // an idle window far longer than the test: only the waiter's marker can make it let go
    const wh = await DuckDBWarehouse.open(file, {idleReleaseMs: 60_000})
    onTestFinished(() => wh.close())
    let stop = false
    let queries = 0
    const busy = (async () => {
      while (!stop) {
        await wh.transaction(async (tx) => {
          await tx.query('INSERT INTO t VALUES (1)')
        })
        queries++
      }
    })()
    await new Promise((r) => setTimeout(r, 200))
    const holder = holdFile(file, 500, {wait: true})
    onTestFinished(() => holder.stop())
    // the holder waits for ever on a held file: only the writer letting it in gets it in before the test's timeout
    await holder.held
    const during = queries
    await holder.released
    // the writer goes on after the other process was done with the file
    await vi.waitFor(() => expect(queries).toBeGreaterThan(during), {timeout: 60_000, interval: 10})
    stop = true
    await busy
    expect(wh.fileLease.opens).toBeGreaterThanOrEqual(2)
    expect(Number((await wh.query('SELECT count(*) AS n FROM holder'))[0].n)).toBe(0)
  })
})

describe('closing and opening the DuckDB file in one process', () => {
  it('an open asked for while the file is still being closed waits for the close: another process cannot get in beside it', async () => {
    const file = await seededFile()
    const wh = await DuckDBWarehouse.open(file, {idleReleaseMs: 60_000})
    onTestFinished(() => wh.close())
    // a large WAL, so the close's checkpoint takes a while
    await wh.query("SET checkpoint_threshold = '4GB'")
    await wh.transaction(async (tx) => {
      await tx.query('CREATE TABLE big AS SELECT range AS a, md5(range::VARCHAR) AS b FROM range(1500000)')
    })
    const closing = wh.fileLease.release()
    // asked for during the checkpoint: a second open in this process would share (and, once the first closes,
    // drop) the process's POSIX lock on the file
    const counted = wh.query('SELECT count(*) AS n FROM big')
    await closing
    expect(Number((await counted)[0].n)).toBe(1_500_000)
    expect(wh.fileLease.held).toBe(true)
    // this process holds the file now: another one must not open it until it is released
    const holder = holdFile(file, 100)
    onTestFinished(() => holder.stop())
    const got = await Promise.race([holder.held.then(() => 'opened'), new Promise((r) => setTimeout(() => r('locked out'), 1500))])
    expect(got).toBe('locked out')
    await wh.fileLease.release()
    await holder.released
  })
})
