import type {Readable} from 'node:stream'
import type {LogFormat, Value} from '../../../formats/types.js'
import {type OnBadLine, type ReadCounters, type Reject, rejectOf, scanLines} from '../../../loader/read-object.js'
import {ByteSink, RequestSplitter, RowWriter} from './row-writer.js'
import {LbRowWriter} from './lb-rows.js'

/**
 * One object's bytes -> its Write API rows, encoded back to back in one buffer and cut into requests: gunzip,
 * lines, the format's parser and the protobuf encoding, with no object per row. Runs in a parse worker thread
 * (parse-worker.ts: the main thread only ships the object's bytes in and the encoded rows out) or, when worker
 * threads cannot run, in the caller's.
 */

/** What the rows of one object carry besides their parsed columns. */
export interface RowsTask {
  /** the table's row descriptor as protobuf bytes (RowEncoder.descriptorBytes) */
  descriptor: Uint8Array
  /** the values of the columns after the format's (seneka's _ columns), the same on every row of the object */
  fixed: Value[]
  /** the field (among all) that takes each row's line number */
  lineField: number
  /** the format column whose min and max are the object's event-time range (-1: none) */
  timeColumn: number
  /** bytes of rows per request */
  requestBytes: number
}

export interface EncodedRows {
  /** every encoded row, back to back */
  data: Uint8Array
  /** where each row ends in `data` */
  ends: Float64Array
  /** rows in each request, in order */
  sizes: number[]
  /** the object's line of each row */
  lines: Float64Array
  /** event-time range of the rows (microseconds); null when a row has none or there is no row */
  range: {min: number; max: number} | null
  /** lines the format rejected */
  parseRejects: Reject[]
  /** lines parsed but refused by the encoding (a value protobuf cannot take, a row over the request limit) */
  encodeRejects: Reject[]
  /** rows the format parsed (encoded or refused) */
  parsed: number
}

export async function encodeRows(source: Readable, format: LogFormat, task: RowsTask, counters: ReadCounters, opts: {bytes?: boolean} = {}): Promise<EncodedRows> {
  const writer = new RowWriter(task.descriptor)
  const width = format.columns.length
  const values: Array<Value | undefined> = [...Array(width).fill(null), ...task.fixed]
  const sink = new ByteSink(1 << 20)
  const splitter = new RequestSplitter(task.requestBytes)
  const ends: number[] = []
  const lines: number[] = []
  const parseRejects: Reject[] = []
  const encodeRejects: Reject[] = []
  const timeCol = task.timeColumn
  let min = Infinity
  let max = -Infinity
  let untimed = timeCol < 0
  let parsed = 0
  /** the row just written to the sink, of line `line` with event time `t`: kept, or refused when too large */
  const written = (line: number, t: Value | undefined): void => {
    const length = sink.pos - sink.rowStart
    if (!splitter.fits(length)) {
      sink.pos = sink.rowStart
      encodeRejects.push({line, reason: 'the row is larger than a Write API request may be (10 MB)', raw: ''})
      return
    }
    splitter.add(length)
    ends.push(sink.length)
    lines.push(line)
    if (timeCol >= 0) {
      if (t === null || t === undefined) untimed = true
      else {
        min = Math.min(min, Number(t))
        max = Math.max(max, Number(t))
      }
    }
  }
  const onLine = (text: string, line: number): void => {
    const r = format.parse(text)
    if (!r.ok) {
      parseRejects.push(rejectOf(text, line, r.reason))
      return
    }
    parsed++
    for (let k = 0; k < width; k++) values[k] = r.values[k] ?? null
    values[task.lineField] = line
    try {
      writer.write(sink, values)
    } catch (err) {
      sink.pos = sink.rowStart
      encodeRejects.push({line, reason: `cannot be written to BigQuery: ${(err as Error).message}`, raw: ''})
      return
    }
    written(line, timeCol >= 0 ? values[timeCol] : null)
  }
  // ALB and ELB lines the byte scanner proves ordinary are written from their bytes (lb-rows.ts), the rest parsed
  const lb = opts.bytes === false ? undefined : LbRowWriter.for(format.name, writer, width, timeCol)
  const onBytes = lb
    ? (b: Buffer, start: number, end: number, line: number): boolean => {
        values[task.lineField] = line
        if (!lb.write(sink, b, start, end, values)) return false
        parsed++
        written(line, lb.time)
        return true
      }
    : undefined
  const onBad: OnBadLine = (line, reason, raw) => parseRejects.push(rejectOf(raw, line, reason))
  for await (const _ of scanLines(source, counters, onLine, onBad, onBytes));
  return {
    data: sink.take(),
    ends: Float64Array.from(ends),
    sizes: splitter.done(),
    lines: Float64Array.from(lines),
    range: untimed || ends.length === 0 ? null : {min, max},
    parseRejects,
    encodeRejects,
    parsed,
  }
}

/** The requests of encoded rows: views into its one buffer (no copy). */
export function requestsOf(e: Pick<EncodedRows, 'data' | 'ends' | 'sizes'>): Uint8Array[][] {
  const out: Uint8Array[][] = []
  let row = 0
  let start = 0
  for (const n of e.sizes) {
    const req: Uint8Array[] = new Array(n)
    for (let k = 0; k < n; k++, row++) {
      const end = e.ends[row]
      req[k] = e.data.subarray(start, end)
      start = end
    }
    out.push(req)
  }
  return out
}
