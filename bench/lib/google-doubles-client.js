// Starts bench/lib/google-doubles.mjs in its own process and calls its operations over IPC.
import {fork} from 'node:child_process'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
/** Node flags that let a process import the TypeScript test helpers (type stripping + the .js -> .ts hook). */
export const TS_FLAGS = ['--experimental-transform-types', '--disable-warning=ExperimentalWarning', '--import', path.join(here, 'ts-hooks.mjs')]

export async function startDoubles() {
  const child = fork(path.join(here, 'google-doubles.mjs'), [], {execArgv: TS_FLAGS, stdio: ['ignore', 'inherit', 'inherit', 'ipc']})
  const waiting = new Map()
  let seq = 0
  const ready = await new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`the Google doubles exited ${code}`)))
    child.on('message', (m) => {
      if (m.ready) return resolve(m)
      const w = waiting.get(m.id)
      waiting.delete(m.id)
      if (m.error) w?.reject(new Error(m.error))
      else w?.resolve(m.value)
    })
  })
  const call = (op, args) =>
    new Promise((resolve, reject) => {
      const id = ++seq
      waiting.set(id, {resolve, reject})
      child.send({id, op, args})
    })
  return {
    endpoint: ready.endpoint,
    host: ready.host,
    /** the environment that points seneka at them */
    env: {BIGQUERY_EMULATOR_HOST: `${ready.endpoint}/bigquery/v2`, STORAGE_EMULATOR_HOST: ready.endpoint, BIGQUERY_STORAGE_EMULATOR_HOST: ready.host},
    call,
    close: async () => {
      const exited = new Promise((r) => child.once('exit', r))
      await call('close')
      await exited
    },
  }
}
