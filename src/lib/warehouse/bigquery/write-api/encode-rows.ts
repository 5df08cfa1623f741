import type {Readable} from 'node:stream'
import type {LogFormat, Value} from '../../../formats/types.js'
import {readBatches, type ReadCounters, type Reject} from '../../../loader/read-object.js'
import {ByteSink, RequestSplitter, RowWriter} from './row-writer.js'

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

export async function encodeRows(source: Readable, format: LogFormat, task: RowsTask, counters: ReadCounters): Promise<EncodedRows> {
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
  for await (const batch of readBatches(source, format, counters)) {
    const cols = batch.columns
    parsed += batch.count
    for (let i = 0; i < batch.count; i++) {
      for (let k = 0; k < width; k++) values[k] = cols[k][i]
      const line = batch.lines[i]
      values[task.lineField] = line
      try {
        writer.write(sink, values)
      } catch (err) {
        sink.pos = sink.rowStart
        encodeRejects.push({line, reason: `cannot be written to BigQuery: ${(err as Error).message}`, raw: ''})
        continue
      }
      const length = sink.pos - sink.rowStart
      if (!splitter.fits(length)) {
        sink.pos = sink.rowStart
        encodeRejects.push({line, reason: 'the row is larger than a Write API request may be (10 MB)', raw: ''})
        continue
      }
      splitter.add(length)
      ends.push(sink.length)
      lines.push(line)
      if (timeCol >= 0) {
        const t = cols[timeCol][i]
        if (t === null) untimed = true
        else {
          min = Math.min(min, Number(t))
          max = Math.max(max, Number(t))
        }
      }
    }
    for (const r of batch.rejects) parseRejects.push(r)
  }
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
