import {type ChildProcess, spawn} from 'node:child_process'
import {ROOT} from './cli.js'

/**
 * Another process that holds a DuckDB file: opens it (read-write or read-only), says "held", keeps it for holdMs
 * (or, with 'until-told', until `release()` is called), closes it and says "released". With `wait`, it first asks for the file the way a waiting seneka process does
 * (a marker in the file's wait folder, then opening until the lock is free), so a writer that lets waiters in
 * can be tested against it.
 */
const SCRIPT = `
import {DuckDBInstance} from '@duckdb/node-api'
import {mkdirSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
const [file, holdMs, mode, wait] = process.argv.slice(1)
const settings = mode === 'ro' ? {access_mode: 'READ_ONLY'} : {}
let marker
if (wait === 'wait') {
  const dir = path.join(path.dirname(file), '.seneka-wait-' + path.basename(file))
  mkdirSync(dir, {recursive: true})
  marker = path.join(dir, os.hostname() + '-' + process.pid + '-abcd')
  writeFileSync(marker, '')
  console.log('waiting')
}
let inst
for (;;) {
  try { inst = await DuckDBInstance.create(file, settings); break } catch (e) {
    if (!/lock/i.test(e.message)) throw e
    await new Promise((r) => setTimeout(r, 20))
  }
}
if (marker) rmSync(marker, {force: true})
const c = await inst.connect()
if (mode !== 'ro') await c.run('CREATE TABLE IF NOT EXISTS holder (a INTEGER)')
console.log('held')
if (holdMs === 'until-told') await new Promise((r) => process.stdin.once('data', r))
else await new Promise((r) => setTimeout(r, Number(holdMs)))
c.closeSync()
inst.closeSync()
console.log('released')
`

export interface Holder {
  child: ChildProcess
  /** resolves once the process has left its marker and waits for the file (with `wait`) */
  waiting: Promise<number>
  /** resolves once the process holds the file */
  held: Promise<number>
  /** resolves once it has released the file (or exited) */
  released: Promise<number>
  /** lets a holder started with 'until-told' close the file */
  release(): void
  stop(): void
}

export function holdFile(file: string, holdMs: number | 'until-told', opts: {mode?: 'rw' | 'ro'; wait?: boolean} = {}): Holder {
  const child = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT, file, String(holdMs), opts.mode ?? 'rw', opts.wait ? 'wait' : ''], {cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe']})
  let out = ''
  let err = ''
  const seen = (word: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (out.includes(word)) resolve(performance.now())
      }
      child.stdout!.on('data', check)
      child.on('exit', (code) => (word === 'released' || out.includes(word) ? resolve(performance.now()) : reject(new Error(`holder exited ${code}: ${err}`))))
    })
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (err += d))
  const waiting = seen('waiting')
  waiting.catch(() => {}) // only a holder started with `wait` says it
  return {
    child,
    waiting,
    held: seen('held'),
    released: seen('released'),
    release: () => void child.stdin!.end('release\n'),
    stop: () => child.kill('SIGKILL'),
  }
}
