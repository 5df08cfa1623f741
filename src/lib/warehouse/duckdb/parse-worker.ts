/**
 * Worker thread of the parse pool: turns an object's raw bytes (gzip or plain) into a staging TSV file —
 * decompress, split lines, parse, encode — off the main thread. Protocol: see parse-pool.ts.
 */
import {PassThrough} from 'node:stream'
import {parentPort} from 'node:worker_threads'
import {getFormat} from '../../formats/index.js'
import type {LogFormat} from '../../formats/types.js'
import {stageObject, stageRaw} from './stage.js'
import {rawFormat} from './raw.js'
import {newCounters} from '../../loader/read-object.js'
import type {ToWorker} from './parse-pool.js'

const jobs = new Map<number, PassThrough>()
const formats = new Map<string, LogFormat>()

function formatFor(name: string, options: Record<string, unknown> | undefined): LogFormat {
  const key = `${name}:${JSON.stringify(options ?? {})}`
  let f = formats.get(key)
  if (!f) formats.set(key, (f = getFormat(name, options)))
  return f
}

parentPort!.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'start': {
      const input = new PassThrough({highWaterMark: 1 << 20})
      jobs.set(msg.job, input)
      const counters = newCounters()
      const format = formatFor(msg.format, msg.options)
      const staged = msg.raw && rawFormat(format.name) ? stageRaw(input, format, msg.file, counters) : stageObject(input, format, msg.file, counters, {fast: msg.fast})
      staged.then(
        (r) => parentPort!.postMessage({type: 'done', job: msg.job, ...r, counters}),
        (err: Error & {code?: string}) => {
          input.destroy()
          parentPort!.postMessage({type: 'error', job: msg.job, message: err.message, code: err.code, counters})
        },
      ).finally(() => jobs.delete(msg.job))
      break
    }
    case 'chunk': {
      const input = jobs.get(msg.job)
      if (!input) break
      if (input.write(Buffer.from(msg.data))) parentPort!.postMessage({type: 'ack', job: msg.job})
      else input.once('drain', () => parentPort!.postMessage({type: 'ack', job: msg.job}))
      break
    }
    case 'end':
      jobs.get(msg.job)?.end()
      break
    case 'abort':
      jobs.get(msg.job)?.destroy(new Error(msg.message))
      break
  }
})
