import {type ChildProcess, spawn} from 'node:child_process'
import path from 'node:path'
import {stripVTControlCharacters} from 'node:util'
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
