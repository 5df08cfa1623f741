import {type ChildProcess, fork} from 'node:child_process'
import path from 'node:path'
import type {Readable} from 'node:stream'
import {fileURLToPath} from 'node:url'
import {NotFoundError, UsageError, UserError} from '../errors.js'
import {ExitCode, type ExitCodeValue} from '../exit-codes.js'
import type {StoreOptions} from '../store/index.js'
import type {TimeRange} from '../time.js'
import type {PlanFromSummary} from './plan.js'
import type {Shard} from './shard.js'

/**
 * Reading the candidates of a plan (an inventory's data files, a file list, a saved plan) into the plan database,
 * and the selection over them, run in a child process started with UV_THREADPOOL_SIZE=1 (DuckDB's Node API runs
 * each statement on a libuv pool thread, and memory freed by those threads stays in their allocator arenas) and a
 * small V8 young generation, so that the peak of planning does not grow with the object count
 * (docs/performance.md). The parent, which loads afterwards with its usual thread pool and heap, opens the plan
 * database the child wrote once the child has exited.
 */

/** What the child needs to read the candidates: plain data only (it crosses a process boundary). */
export interface CandidatesInput {
  from: {kind: 'inventory'; manifest: string} | {kind: 'files'; file: string} | {kind: 'plan'; file: string}
  source?: string
  range: TimeRange
  include?: string[]
  exclude?: string[]
  shard?: Shard
  storeOptions?: StoreOptions
}

/** What reading the candidates found: the `planned` table of the plan database holds the selected objects. */
export interface CandidatesResult {
  /** the source the objects belong to (a saved plan's bucket, when no source was given) */
  source: string
  summary: PlanFromSummary
  /** objects in range that belong to other shards (--shard) */
  otherShards: number
}

/** Messages between the parent and the planning child. */
export type ToPlanChild = {type: 'plan'; dir: string; input: CandidatesInput}
export type FromPlanChild =
  | {type: 'progress'; line: string}
  | {type: 'done'; result: CandidatesResult; maxRssKiB: number}
  | {type: 'error'; error: SerializedError}

/** An error as it crosses the process boundary: enough to rebuild the same one-sentence error and exit code. */
export interface SerializedError {
  name: string
  message: string
  suggestion?: string
  exitCode?: number
  code?: string
  causeCode?: string
  stack?: string
}

export function serializeError(err: unknown): SerializedError {
  const e = err as {name?: unknown; message?: unknown; code?: unknown; stack?: unknown; cause?: {code?: unknown}}
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(err),
    ...(err instanceof UserError ? {exitCode: err.exitCode, ...(err.suggestion ? {suggestion: err.suggestion} : {})} : {}),
    ...(typeof e?.code === 'string' ? {code: e.code} : {}),
    ...(typeof e?.cause?.code === 'string' ? {causeCode: e.cause.code} : {}),
    ...(typeof e?.stack === 'string' ? {stack: e.stack} : {}),
  }
}

/** The error the child had, as the same class (UserError, UsageError, NotFoundError) with the same sentence and exit code. */
export function deserializeError(s: SerializedError): Error {
  let err: Error
  if (s.exitCode !== undefined) {
    err = s.name === 'NotFoundError' ? new NotFoundError(s.message, s.suggestion) : s.exitCode === ExitCode.USAGE ? new UsageError(s.message, s.suggestion) : new UserError(s.message, {suggestion: s.suggestion, exitCode: s.exitCode as ExitCodeValue})
  } else {
    err = new Error(s.message, s.causeCode ? {cause: Object.assign(new Error(s.causeCode), {code: s.causeCode})} : undefined)
  }
  err.name = s.name
  if (s.code) (err as NodeJS.ErrnoException).code = s.code
  if (s.stack) err.stack = s.stack
  return err
}

/** Node's flags for the child when seneka runs from its TypeScript sources (the tests): types stripped, ".js" imports resolved to ".ts". */
const TS_HOOK = `import {registerHooks} from 'node:module'
registerHooks({resolve(s, c, next) { try { return next(s, c) } catch (e) { if (/^\\.\\.?\\//.test(s) && s.endsWith('.js')) return next(s.slice(0, -3) + '.ts', c); throw e } }})`

/**
 * V8's young generation of the child, in MB per semi-space: the selection makes a string per key, and with
 * Node 24's default the young generation grew to 64 MB and then 128 MB over the data files of a 10M inventory
 * (heapTotal 139 MB, 12-54 MB of it used), the growth of the peak from 1M to 10M; with 8 MB it stays at 26 MB
 * and the selection is no slower (docs/performance.md).
 */
const CHILD_SEMI_SPACE_MB = 8

/** The child's entry module beside this one: compiled (dist/) or the TypeScript source, and Node's flags for it. */
function childEntry(): {file: string; execArgv: string[]} {
  const here = fileURLToPath(import.meta.url)
  const ext = path.extname(here)
  const file = path.join(path.dirname(here), `plan-child${ext}`)
  const heap = [`--max-semi-space-size=${CHILD_SEMI_SPACE_MB}`]
  if (ext === '.js') return {file, execArgv: heap}
  return {file, execArgv: [...heap, '--experimental-transform-types', '--disable-warning=ExperimentalWarning', '--import', `data:text/javascript,${encodeURIComponent(TS_HOOK)}`]}
}

/** Whether planning runs in this process: SENEKA_PLAN_IN_PROCESS=1 (debugging), or store clients made by the caller (objects cannot reach a child). */
export function planInProcess(hasStoreFactories: boolean): boolean {
  return process.env.SENEKA_PLAN_IN_PROCESS === '1' || hasStoreFactories
}

/** The last planning child's figures (benchmarks: its peak RSS is not in this process's resource usage). */
export const lastPlanChild: {pid?: number; maxRssKiB?: number; parentRssKiB?: number} = {}

/**
 * Reads the candidates into the plan database in `dir` in a child process, and resolves when the child has
 * exited (its database closed). Progress lines come through onProgress; an error of the child is rethrown as
 * the same one-sentence error; a child killed or crashing gives an error that says so. `stdin` (--files-from -)
 * is piped to the child.
 */
export async function readCandidatesInChild(dir: string, input: CandidatesInput, opts: {stdin?: Readable; onProgress?: (line: string) => void}): Promise<CandidatesResult> {
  const {file, execArgv} = childEntry()
  lastPlanChild.parentRssKiB = Math.round(process.memoryUsage.rss() / 1024)
  const child: ChildProcess = fork(file, [], {
    execArgv,
    // one libuv pool thread: DuckDB's statements all run on it (one allocator arena, not four)
    env: {...process.env, UV_THREADPOOL_SIZE: '1'},
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'ignore', 'inherit', 'ipc'],
    serialization: 'advanced',
  })
  lastPlanChild.pid = child.pid
  let outcome: FromPlanChild | undefined
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null; error?: Error}>((resolve) => {
    child.once('error', (error) => resolve({code: null, signal: null, error}))
    child.once('exit', (code, signal) => resolve({code, signal}))
  })
  child.on('message', (m: FromPlanChild) => {
    if (m.type === 'progress') opts.onProgress?.(m.line)
    else outcome = m
  })
  if (opts.stdin && child.stdin) {
    // the child may stop reading early (a line outside the source): its end of the pipe closes
    child.stdin.on('error', () => {})
    opts.stdin.pipe(child.stdin)
  }
  child.send({type: 'plan', dir, input} satisfies ToPlanChild)
  const end = await exited
  if (opts.stdin && child.stdin) {
    opts.stdin.unpipe(child.stdin)
    // standard input not read to its end (the child failed): stop reading it, so the process can exit
    if (!opts.stdin.readableEnded) opts.stdin.destroy()
  }
  if (outcome?.type === 'done') {
    lastPlanChild.maxRssKiB = outcome.maxRssKiB
    return outcome.result
  }
  if (outcome?.type === 'error') throw deserializeError(outcome.error)
  const how = end.error ? `could not start (${end.error.message})` : end.signal ? `was killed (${end.signal})` : `exited with code ${end.code}`
  throw new UserError(`The planning process ${how} before the plan was made, so nothing was planned or loaded.`, {
    suggestion: end.signal === 'SIGKILL' ? 'Run the command again; if it is killed again, the machine may be short of memory (see docs/backfill.md).' : 'Run the command again; what the planning process printed on standard error, if anything, says why.',
  })
}
