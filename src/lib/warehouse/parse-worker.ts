/**
 * Worker thread of the parse pool: turns an object's raw bytes (gzip or plain) into what an engine loads —
 * decompress, split lines, parse, then stage (DuckDB: a TSV file) or encode (the Write API: protobuf rows) —
 * off the main thread. Protocol: see parse-pool.ts.
 */
import {PassThrough, type Readable} from 'node:stream'
import {parentPort} from 'node:worker_threads'
import {getFormat} from '../formats/index.js'
import type {LogFormat} from '../formats/types.js'
import {stageObject, stageRaw} from './duckdb/stage.js'
import {rawFormat} from './duckdb/raw.js'
import {encodeRows} from './bigquery/write-api/encode-rows.js'
import {newCounters, type ReadCounters} from '../loader/read-object.js'
import type {ParseTasks, TaskKind, ToWorker} from './parse-pool.js'

const jobs = new Map<number, PassThrough>()
const formats = new Map<string, LogFormat>()

function formatFor(name: string, options: Record<string, unknown> | undefined): LogFormat {
  const key = `${name}:${JSON.stringify(options ?? {})}`
  let f = formats.get(key)
  if (!f) formats.set(key, (f = getFormat(name, options)))
  return f
}

type Handler<K extends TaskKind> = (input: Readable, format: LogFormat, args: ParseTasks[K]['args'], counters: ReadCounters) => Promise<{result: ParseTasks[K]['result']; transfer?: ArrayBuffer[]}>

const handlers: {[K in TaskKind]: Handler<K>} = {
  stage: async (input, format, a, counters) => ({
    result: a.raw && rawFormat(format) ? await stageRaw(input, format, a.file, counters) : await stageObject(input, format, a.file, counters, {fast: a.fast}),
  }),
  rows: async (input, format, a, counters) => {
    const result = await encodeRows(input, format, a, counters)
    // the encoded bytes move to the main thread, not copied
    return {result, transfer: [result.data.buffer, result.ends.buffer, result.lines.buffer] as ArrayBuffer[]}
  },
}

parentPort!.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'start': {
      const input = new PassThrough({highWaterMark: 1 << 20})
      jobs.set(msg.job, input)
      const counters = newCounters()
      const format = formatFor(msg.format, msg.options)
      const run = handlers[msg.kind] as Handler<TaskKind>
      run(input, format, msg.args, counters)
        .then(
          ({result, transfer}) => parentPort!.postMessage({type: 'done', job: msg.job, result, counters}, transfer),
          (err: Error & {code?: string}) => {
            input.destroy()
            parentPort!.postMessage({type: 'error', job: msg.job, message: err.message, code: err.code, counters})
          },
        )
        .finally(() => jobs.delete(msg.job))
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
