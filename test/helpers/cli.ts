import {type ChildProcess, spawn} from 'node:child_process'
import path from 'node:path'
import {format, stripVTControlCharacters} from 'node:util'
import {fileURLToPath} from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/**
 * Runs the built CLI (bin/run.js over dist/, as users run it) in a child process. `npm test` builds first.
 */
export function runCli(
  args: string[],
  opts: {env?: NodeJS.ProcessEnv; cwd?: string; killAfterMs?: number; onSpawn?: (child: ChildProcess) => void; onStderr?: (s: string, child: ChildProcess) => void; /** keep colour codes */ raw?: boolean} = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/run.js'), ...args], {
      cwd: opts.cwd ?? ROOT,
      env: {...process.env, ...opts.env},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    opts.onSpawn?.(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => {
      stderr += d
      opts.onStderr?.(String(d), child)
    })
    const timer = opts.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer)
      // colour is the terminal's business (FORCE_COLOR may be set where tests run): assert on the text
      resolve(opts.raw ? {code, signal, stdout, stderr} : {code, signal, stdout: stripVTControlCharacters(stdout), stderr: stripVTControlCharacters(stderr)})
    })
  })
}

/** The envelope every --json document has: {status, result, warnings} or {status, error, warnings}. */
export interface JsonEnvelope<T = any> {
  status: number
  result?: T
  error?: {name: string; message: string; exitCode: number; suggestion?: string}
  warnings: string[]
}

/** Parses a --json success document and returns its result, after checking the envelope around it. */
export function jsonResult<T = any>(stdout: string): T {
  const doc = JSON.parse(stdout) as JsonEnvelope<T>
  if (typeof doc.status !== 'number' || !Array.isArray(doc.warnings) || !('result' in doc)) throw new Error(`not a success envelope: ${stdout.slice(0, 300)}`)
  return doc.result as T
}

export interface InProcessResult<T = unknown> {
  /** what run() returned (undefined when it threw) */
  result: T | undefined
  /** process.exitCode after the run, or the exit code of the error it ended with */
  code: number
  stdout: string
  stderr: string
  error?: Error
}

/**
 * Runs a command class in this process (Command.run, as oclif does, against the project's config), capturing
 * stdout and stderr. Faster than runCli and it runs the TypeScript source; keep runCli for the end-to-end
 * contracts of the built binary (exit codes of the process, --json purity).
 */
export async function runCommand<T>(cmd: {run(argv: string[], root: string): Promise<T>}, argv: string[]): Promise<InProcessResult<T>> {
  let stdout = ''
  let stderr = ''
  const out = process.stdout.write
  const err = process.stderr.write
  const saved = process.exitCode
  process.exitCode = undefined
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write
  // oclif's this.log and its error output go through console (which the test runner captures on its own)
  const {log, error} = console
  console.log = (...args: unknown[]) => void (stdout += `${format(...args)}\n`)
  console.error = (...args: unknown[]) => void (stderr += `${format(...args)}\n`)
  try {
    const result = await cmd.run(argv, ROOT)
    return {result, code: Number(process.exitCode ?? 0), stdout: stripVTControlCharacters(stdout), stderr: stripVTControlCharacters(stderr)}
  } catch (error) {
    const e = error as Error & {oclif?: {exit?: number}}
    return {result: undefined, code: e.oclif?.exit ?? Number(process.exitCode ?? 1), stdout: stripVTControlCharacters(stdout), stderr: stripVTControlCharacters(stderr), error: e}
  } finally {
    process.stdout.write = out
    process.stderr.write = err
    console.log = log
    console.error = error
    process.exitCode = saved
  }
}
