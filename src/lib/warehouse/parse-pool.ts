import {existsSync} from 'node:fs'
import os from 'node:os'
import type {Readable} from 'node:stream'
import {fileURLToPath} from 'node:url'
import {Worker} from 'node:worker_threads'
import type {LogFormat} from '../formats/types.js'
import {newCounters, type ReadCounters} from '../loader/read-object.js'
import type {StageResult} from './duckdb/stage.js'
import {rawEnabled} from './duckdb/raw.js'
import type {EncodedRows, RowsTask} from './bigquery/write-api/encode-rows.js'

/**
 * What a parse worker does with an object's bytes, per engine: DuckDB stages them into a TSV file
 * (duckdb/stage.ts), the Write API encodes them into protobuf rows (bigquery/write-api/encode-rows.ts).
 */
export interface ParseTasks {
  stage: {args: {file: string; fast: boolean; raw: boolean}; result: StageResult}
  rows: {args: RowsTask; result: EncodedRows}
}
export type TaskKind = keyof ParseTasks

/** Messages to a parse worker. */
export type ToWorker =
  | {type: 'start'; job: number; kind: TaskKind; format: string; options?: Record<string, unknown>; args: ParseTasks[TaskKind]['args']}
  | {type: 'chunk'; job: number; data: ArrayBuffer}
  | {type: 'end'; job: number}
  | {type: 'abort'; job: number; message: string}

export type FromWorker =
  | {type: 'ack'; job: number}
  | {type: 'done'; job: number; counters: ReadCounters; result: unknown}
  | {type: 'error'; job: number; message: string; code?: string; counters: ReadCounters}

interface Job {
  acked: () => void
  done: (result: unknown, counters: ReadCounters) => void
  failed: (err: Error, counters: ReadCounters) => void
}

/** chunks sent to a worker and not yet consumed, per object: bounds memory whatever the object size */
const WINDOW = 4

/**
 * A small pool of worker threads that turn objects' bytes into what an engine loads (a staging file, encoded
 * rows) in parallel with the main thread, so parsing uses every core while the engine ingests or sends. Falls
 * back to the caller's in-thread path when worker threads cannot run (the compiled worker file is missing, e.g.
 * when running from TypeScript sources). One pool per process, shared by the engines.
 */
export class ParsePool {
  private readonly workers: Array<{worker: Worker; active: number}> = []
  private readonly jobs = new Map<number, Job>()
  private nextJob = 1

  private constructor(size: number, file: string) {
    for (let i = 0; i < size; i++) {
      // a larger young generation: parsing allocates many short-lived strings (fewer, cheaper scavenges)
      const worker = new Worker(file, {resourceLimits: {maxYoungGenerationSizeMb: Number(process.env.SENEKA_PARSE_YOUNG_MB ?? 64)}})
      worker.on('message', (m: FromWorker) => this.onMessage(m))
      worker.on('error', (err) => {
        for (const j of this.jobs.values()) j.failed(err, newCounters())
        this.jobs.clear()
      })
      // after the listeners (adding a 'message' listener refs the port again): idle workers never keep the process alive
      worker.unref()
      this.workers.push({worker, active: 0})
    }
  }

  private static shared: ParsePool | null | undefined

  /** The process-wide pool, or null when worker threads are disabled or unavailable. */
  static get(): ParsePool | null {
    if (ParsePool.shared !== undefined) return ParsePool.shared
    const file = fileURLToPath(new URL('parse-worker.js', import.meta.url))
    const configured = process.env.SENEKA_PARSE_WORKERS
    const size = configured === undefined ? Math.min(os.availableParallelism(), 4) : Number(configured)
    ParsePool.shared = size > 0 && existsSync(file) ? new ParsePool(size, file) : null
    return ParsePool.shared
  }

  private onMessage(m: FromWorker): void {
    const job = this.jobs.get(m.job)
    if (!job) return
    if (m.type === 'ack') return job.acked()
    this.jobs.delete(m.job)
    if (m.type === 'done') job.done(m.result, m.counters)
    else job.failed(Object.assign(new Error(m.message), m.code ? {code: m.code} : {}), m.counters)
  }

  /** Streams an object's bytes to a worker that runs the task on them; resolves with the task's result. */
  async run<K extends TaskKind>(kind: K, source: Readable, format: LogFormat, args: ParseTasks[K]['args'], counters: ReadCounters): Promise<ParseTasks[K]['result']> {
    const slot = this.workers.reduce((a, b) => (b.active < a.active ? b : a))
    const id = this.nextJob++
    slot.active++
    slot.worker.ref()
    let inFlight = 0
    let wake: (() => void) | undefined
    const finished = new Promise<ParseTasks[K]['result']>((resolve, reject) => {
      this.jobs.set(id, {
        acked: () => {
          inFlight--
          wake?.()
        },
        done: (result, c) => {
          Object.assign(counters, c)
          resolve(result as ParseTasks[K]['result'])
        },
        failed: (err, c) => {
          Object.assign(counters, c)
          reject(err)
        },
      })
    })
    const post = (m: ToWorker, transfer?: ArrayBuffer[]): void => slot.worker.postMessage(m, transfer)
    try {
      post({type: 'start', job: id, kind, format: format.name, options: format.options, args})
      let failed = false
      finished.catch(() => {
        failed = true
        wake?.()
      })
      for await (const chunk of source as AsyncIterable<Buffer>) {
        if (failed) break
        // counted here too, so a read that fails before the worker answers still says how many bytes came
        counters.storedBytes += chunk.length
        const data = new Uint8Array(chunk).slice().buffer // a copy: stream chunks may share a pooled buffer
        post({type: 'chunk', job: id, data}, [data])
        inFlight++
        while (inFlight >= WINDOW && !failed) await new Promise<void>((r) => (wake = r))
      }
      if (!failed) post({type: 'end', job: id})
    } catch (err) {
      post({type: 'abort', job: id, message: (err as Error).message})
      this.jobs.get(id)?.failed(err as Error, counters)
      this.jobs.delete(id)
      throw err
    } finally {
      // the worker keeps the process alive until its job is done, and no longer
      void finished
        .catch(() => {})
        .finally(() => {
          slot.active--
          if (slot.active === 0) slot.worker.unref()
        })
    }
    return finished
  }

  /** Streams an object's bytes to a worker that writes the staging file (DuckDB); resolves with rows and rejects. */
  stage(source: Readable, format: LogFormat, file: string, counters: ReadCounters): Promise<StageResult> {
    const fast = process.env.SENEKA_FAST_STAGE !== '0'
    return this.run('stage', source, format, {file, fast, raw: fast && rawEnabled()}, counters)
  }
}
