import {DuckDBConnection, DuckDBInstance} from '@duckdb/node-api'
import {randomBytes} from 'node:crypto'
import {mkdirSync, readdirSync, rmdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {UserError} from '../../errors.js'
import {formatDuration, parseDuration} from '../../time.js'

/**
 * How several processes share one DuckDB file. DuckDB lets one process open a file read-write, or several
 * read-only, and either kind of open locks out the other; so:
 * - every open that finds the file locked waits for it (polling, with a short backoff) up to a bound, 30 s by
 *   default (SENEKA_DUCKDB_LOCK_WAIT, e.g. 2m; 0 fails at once), then fails with one sentence;
 * - a process waiting leaves a marker file in `.seneka-wait-<file name>/` beside the database;
 * - a writer (backfill, stream, dedupe --apply) holds the file only while it works: after a commit it releases
 *   it at once when a marker says another process waits (and lets that process in before it opens the file
 *   again), otherwise once it has had nothing to do for a short idle window. Opening and closing costs a few
 *   tens of ms (closing checkpoints the WAL), which the idle window keeps off a busy worker's commits.
 * - readers (read-only opens: reconcile, latency-report, dedupe, dry-runs, cutover gates) hold the file for
 *   their command, as their queries run.
 */

/** the default bound of a first open's wait */
export const DEFAULT_LOCK_WAIT_MS = 30_000
/** a writer that released the file keeps it closed this long at most while a waiter takes its turn */
const GIVE_WAY_MS = 3_000
/** a writer with nothing to do releases the file after this long (SENEKA_DUCKDB_IDLE_RELEASE, e.g. 250ms) */
export const DEFAULT_IDLE_RELEASE_MS = 250
/** the notice is printed once a wait has lasted this long (short turns stay silent) */
const NOTICE_AFTER_MS = 1_000
/** markers of other hosts (a shared folder) older than this are left over from a crash */
const STALE_MARKER_MS = 3_600_000

/** A duration from the environment: unset or empty is the default, 0 is none. */
function envDuration(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const v = env[name]?.trim()
  if (v === undefined || v === '') return fallback
  return v === '0' ? 0 : parseDuration(v, name)
}

export function lockWaitMs(env: NodeJS.ProcessEnv = process.env): number {
  return envDuration(env, 'SENEKA_DUCKDB_LOCK_WAIT', DEFAULT_LOCK_WAIT_MS)
}

export function idleReleaseMs(env: NodeJS.ProcessEnv = process.env): number {
  return envDuration(env, 'SENEKA_DUCKDB_IDLE_RELEASE', DEFAULT_IDLE_RELEASE_MS)
}

export function isLockError(err: unknown): boolean {
  return /could not set lock|conflicting lock/i.test((err as Error)?.message ?? '')
}

/** the folder where processes waiting for `file` leave their markers */
export function waitFolder(file: string): string {
  return path.join(path.dirname(file), `.seneka-wait-${path.basename(file)}`)
}

const MARKER = /^(.*)-(\d+)-([0-9a-f]+)$/

/** Whether a process of this host is running (a marker's or a leftover folder's owner). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Whether another live process has said it waits for the file (markers of dead processes are removed). */
export function othersWaiting(file: string, own?: string): boolean {
  const dir = waitFolder(file)
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return false
  }
  const host = os.hostname()
  for (const name of names) {
    if (name === own) continue
    const m = MARKER.exec(name)
    if (!m) continue
    if (m[1] === host) {
      if (alive(Number(m[2]))) return true
      rmSync(path.join(dir, name), {force: true})
      continue
    }
    try {
      if (Date.now() - statSync(path.join(dir, name)).mtimeMs < STALE_MARKER_MS) return true
    } catch {}
  }
  return false
}

/** A marker saying this process waits for the file; removed by the returned function. */
function markWaiting(file: string): {name: string; remove: () => void} {
  const dir = waitFolder(file)
  const name = `${os.hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`
  for (let i = 0; i < 2; i++) {
    try {
      mkdirSync(dir, {recursive: true})
      writeFileSync(path.join(dir, name), '')
      break
    } catch {
      // a folder we cannot write to: no marker, the wait still works (without a turn being made for us)
    }
  }
  return {
    name,
    remove: () => {
      rmSync(path.join(dir, name), {force: true})
      try {
        rmdirSync(dir)
      } catch {}
    },
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

export interface OpenOptions {
  /** how long to wait for a locked file, ms (Infinity: until it is free) */
  waitMs: number
  onWait?: (message: string) => void
}

/**
 * Creates the DuckDB instance, waiting while another process holds the file. One notice once the wait lasts
 * a second; after `waitMs`, the one-sentence error.
 */
export async function openInstance(file: string, settings: Record<string, string>, opts: OpenOptions): Promise<DuckDBInstance> {
  const started = performance.now()
  let marker: ReturnType<typeof markWaiting> | undefined
  let noticed = false
  let delay = 20
  try {
    for (;;) {
      try {
        return await DuckDBInstance.create(file, settings)
      } catch (err) {
        if (!isLockError(err)) throw new UserError(`Cannot open the DuckDB file ${file}: ${(err as Error).message ?? err}`, {cause: err})
        const waited = performance.now() - started
        const pid = /\(PID (\d+)\)/.exec((err as Error).message)?.[1]
        if (waited >= opts.waitMs) {
          throw new UserError(`The DuckDB file ${file} is in use by another process${pid ? ` (PID ${pid})` : ''} and was not released within ${formatDuration(opts.waitMs)}.`, {
            suggestion: 'Try again when the other seneka run is done (a stream worker lets readers in between its commits; a backfill or a long report holds the file until it ends), or wait longer with SENEKA_DUCKDB_LOCK_WAIT=5m.',
            cause: err,
          })
        }
        marker ??= markWaiting(file)
        if (!noticed && waited >= NOTICE_AFTER_MS) {
          noticed = true
          opts.onWait?.(`Waiting for another seneka process${pid ? ` (PID ${pid})` : ''} to release ${file} (a stream worker lets others in between its commits)…`)
        }
        await sleep(Math.min(delay * (0.8 + Math.random() * 0.4), Math.max(1, opts.waitMs - waited)))
        delay = Math.min(delay * 1.5, 100)
      }
    }
  } finally {
    marker?.remove()
  }
}

/** An open instance with its connections. */
export class Handle {
  private readonly named = new Map<string, Promise<DuckDBConnection>>()
  constructor(
    readonly instance: DuckDBInstance,
    readonly conn: DuckDBConnection,
  ) {}

  /** a connection of this open kept for one purpose (the loader's writer, its ledger reader) */
  connection(name: string): Promise<DuckDBConnection> {
    let c = this.named.get(name)
    if (!c) {
      c = this.instance.connect()
      this.named.set(name, c)
    }
    return c
  }

  async close(): Promise<void> {
    for (const c of this.named.values()) (await c.catch(() => undefined))?.closeSync()
    this.named.clear()
    // closing checkpoints the WAL, synchronously on the calling thread (8 s of a 10x backfill's main thread once);
    // checkpoint first through the connection, off the event loop, so the close has little left to do. A read-only
    // file cannot checkpoint, and a failed checkpoint is retried by the close anyway.
    await this.conn.run('CHECKPOINT').catch(() => {})
    this.conn.closeSync()
    this.instance.closeSync()
  }
}

export interface LeaseOptions {
  file: string
  settings: Record<string, string>
  /** release the file when idle or asked for (read-write files); otherwise hold it until close */
  shared: boolean
  /** bound of the first open's wait (later opens of a writer that gave the file away wait as long as it takes) */
  waitMs: number
  idleReleaseMs: number
  onWait?: (message: string) => void
}

/**
 * The DuckDB file as this process holds it: `use` opens it when needed (waiting for other processes) and, for a
 * shared lease, releases it after use when another process waits or after the idle window.
 */
export class FileLease {
  private handle: Handle | undefined
  private opening: Promise<void> | undefined
  /**
   * The close under way (it checkpoints first, which takes a while): no open of the file in this process until it
   * is done. DuckDB's file locks are POSIX locks, owned by the process: an open that fails on the lock this process
   * still holds closes its descriptor, and that drops the lock of the instance still closing, so another process
   * could open the file beside it (seen as a commit failing on the WAL's lock).
   */
  private closing: Promise<void> | undefined
  /** set while giving the file away: new uses wait for it */
  private gate: Promise<void> | undefined
  private users = 0
  /** holders that will use the file again soon (a loader with objects staging): no idle release meanwhile */
  private pins = 0
  private idleTimer: NodeJS.Timeout | undefined
  private opened = false
  private readonly settings: Record<string, string>
  /** times the file was opened (tests, figures) */
  opens = 0

  constructor(private readonly opts: LeaseOptions) {
    this.settings = {...opts.settings}
  }

  get held(): boolean {
    return this.handle !== undefined
  }

  /** Opens the file now (the command's first open: a locked file waits up to the bound, then fails). */
  async start(): Promise<void> {
    await this.use(async () => {})
  }

  async use<T>(fn: (h: Handle) => Promise<T>): Promise<T> {
    const h = await this.acquire()
    try {
      return await fn(h)
    } finally {
      this.users--
      this.afterUse()
    }
  }

  /** Runs fn only when the file is held right now and nobody waits for it (cheap checks that can be skipped). */
  async ifHeld<T>(fn: (h: Handle) => Promise<T>): Promise<T | undefined> {
    if (!this.handle || this.gate) return undefined
    this.users++
    this.clearIdle()
    try {
      return await fn(this.handle)
    } finally {
      this.users--
      this.afterUse()
    }
  }

  /**
   * Keeps the file from being released for idleness until the returned function is called (a loader between
   * two commits of one run: closing would checkpoint and reopening costs tens of ms); processes waiting for the
   * file still get it between uses.
   */
  pin(): () => void {
    this.pins++
    this.clearIdle()
    let done = false
    return () => {
      if (done) return
      done = true
      this.pins--
      if (this.users === 0) this.afterUse()
    }
  }

  /** Settings for this open and every later one (SET now when the file is held). */
  async configure(settings: Record<string, string>): Promise<void> {
    Object.assign(this.settings, settings)
    await this.ifHeld(async ({conn}) => {
      for (const [k, v] of Object.entries(settings)) await conn.run(`SET ${k} = '${v}'`)
    })
  }

  private async acquire(): Promise<Handle> {
    for (;;) {
      if (this.closing) {
        await this.closing.catch(() => {})
        continue
      }
      if (this.gate) {
        await this.gate
        continue
      }
      if (this.handle) {
        this.users++
        this.clearIdle()
        return this.handle
      }
      this.opening ??= this.open().finally(() => (this.opening = undefined))
      await this.opening
    }
  }

  private async open(): Promise<void> {
    const waitMs = this.opened ? Infinity : this.opts.waitMs
    const instance = await openInstance(this.opts.file, this.settings, {waitMs, onWait: this.opts.onWait})
    try {
      this.handle = new Handle(instance, await instance.connect())
    } catch (err) {
      instance.closeSync()
      throw err
    }
    this.opened = true
    this.opens++
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer)
    this.idleTimer = undefined
  }

  private afterUse(): void {
    if (!this.opts.shared || !this.handle) return
    if (!this.gate && othersWaiting(this.opts.file)) {
      let open!: () => void
      this.gate = new Promise<void>((r) => (open = r))
      this.giveWay = open
    }
    if (this.users > 0) return
    if (this.gate) {
      void this.handOver()
      return
    }
    this.clearIdle()
    if (this.pins > 0) return
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined
      if (this.users === 0 && this.pins === 0 && this.handle && !this.gate && !this.opening) void this.release()
    }, this.opts.idleReleaseMs)
    this.idleTimer.unref()
  }

  private giveWay: (() => void) | undefined

  /** Closes the file and keeps it closed until the processes waiting have taken it (or GIVE_WAY_MS). */
  private async handOver(): Promise<void> {
    try {
      await this.release()
      const until = performance.now() + GIVE_WAY_MS
      while (performance.now() < until && othersWaiting(this.opts.file)) await sleep(10)
    } finally {
      const open = this.giveWay
      this.gate = undefined
      this.giveWay = undefined
      open?.()
    }
  }

  /** Closes the instance now (DuckDB checkpoints the WAL), releasing the file's lock. */
  async release(): Promise<void> {
    this.clearIdle()
    const h = this.handle
    this.handle = undefined
    if (!h) return this.closing
    const closing = h.close().finally(() => {
      if (this.closing === closing) this.closing = undefined
    })
    this.closing = closing
    await closing
  }

  async close(): Promise<void> {
    this.clearIdle()
    await this.opening?.catch(() => {})
    await this.gate
    await this.release()
  }
}
