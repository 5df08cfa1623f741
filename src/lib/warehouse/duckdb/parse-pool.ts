import {existsSync} from 'node:fs'
import os from 'node:os'
import type {Readable} from 'node:stream'
import {fileURLToPath} from 'node:url'
import {Worker} from 'node:worker_threads'
import type {LogFormat} from '../../formats/types.js'
import {type StageResult, stageBatches} from './stage.js'
import {rawEnabled} from './raw.js'
import {parseBatches} from '../../loader/parse-report.js'
import {newCounters, type ReadCounters} from '../../loader/read-object.js'
import type {ObjectLoadRequest} from '../types.js'

/** Messages to a parse worker. */
export type ToWorker =
  | {type: 'start'; job: number; format: string; options?: Record<string, unknown>; file: string; fast: boolean; raw: boolean}
  | {type: 'chunk'; job: number; data: ArrayBuffer}
  | {type: 'end'; job: number}
  | {type: 'abort'; job: number; message: string}

type FromWorker =
  | {type: 'ack'; job: number}
  | ({type: 'done'; job: number; counters: ReadCounters} & StageResult)
  | {type: 'error'; job: number; message: string; code?: string; counters: ReadCounters}

interface Job {
  acked: () => void
  done: (r: StageResult & {counters: ReadCounters}) => void
  failed: (err: Error, counters: ReadCounters) => void
}

/** chunks sent to a worker and not yet consumed, per object: bounds memory whatever the object size */
const WINDOW = 4

/**
 * A small pool of worker threads that stage objects (bytes -> staging TSV) in parallel with the main thread,
 * so parsing uses every core while DuckDB ingests. Falls back to the caller's in-thread path when worker
 * threads cannot run (the compiled worker file is missing, e.g. when running from TypeScript sources).
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
    if (m.type === 'done') job.done(m)
    else job.failed(Object.assign(new Error(m.message), m.code ? {code: m.code} : {}), m.counters)
  }

  /** Streams an object's bytes to a worker that writes the staging file; resolves with rows and rejects. */
  async stage(source: Readable, format: LogFormat, file: string, counters: ReadCounters): Promise<StageResult> {
    const slot = this.workers.reduce((a, b) => (b.active < a.active ? b : a))
    const id = this.nextJob++
    slot.active++
    slot.worker.ref()
    let inFlight = 0
    let wake: (() => void) | undefined
    const finished = new Promise<StageResult>((resolve, reject) => {
      this.jobs.set(id, {
        acked: () => {
          inFlight--
          wake?.()
        },
        done: (r) => {
          Object.assign(counters, r.counters)
          const {counters: _c, type: _t, job: _j, ...staged} = r as StageResult & {counters: ReadCounters; type?: string; job?: number}
          resolve(staged)
        },
        failed: (err, c) => {
          Object.assign(counters, c)
          reject(err)
        },
      })
    })
    const post = (m: ToWorker, transfer?: ArrayBuffer[]): void => slot.worker.postMessage(m, transfer)
    try {
      post({type: 'start', job: id, format: format.name, options: format.options, file, fast: process.env.SENEKA_FAST_STAGE !== '0', raw: process.env.SENEKA_FAST_STAGE !== '0' && rawEnabled()})
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
}

/**
 * How DuckDB turns a load request's bytes into a staging file: in the parse workers when they run (the ALB fast
 * path included), else with the format's parser in this thread. Reports counters, rejects and the reject rule
 * (which throws before anything is committed).
 */
export async function stageRequest(req: Pick<ObjectLoadRequest, 'open' | 'format' | 'report'>, file: string): Promise<StageResult> {
  const pool = ParsePool.get()
  if (!pool) return stageBatches(parseBatches(req.open, req.format, req.report), file)
  const staged = await pool.stage(await req.open(), req.format, file, req.report.counters)
  // DuckDB parses a raw object in the commit, which reports its rejects and runs the reject rule
  if (staged.raw) return staged
  req.report.rejects(staged.rejects)
  req.report.parsed(staged.rows, staged.rejected)
  return staged
}
