import {Readable} from 'node:stream'
import {describe, expect, it} from 'vitest'
import {getFormat} from '../../../src/lib/formats/index.js'
import {tableColumns, type Value} from '../../../src/lib/formats/types.js'
import {type ReadCounters, readBatches} from '../../../src/lib/loader/read-object.js'
import {bqSchema, type BqField} from '../../../src/lib/warehouse/bigquery/sql.js'
import {encodeRows, requestsOf, type RowsTask} from '../../../src/lib/warehouse/bigquery/write-api/encode-rows.js'
import {ByteSink, RowWriter} from '../../../src/lib/warehouse/bigquery/write-api/row-writer.js'
import {RequestBuilder, RowEncoder, type RowValues} from '../../../src/lib/warehouse/bigquery/write-api/rows.js'
import {albFixture} from '../../helpers/alb-fixtures.js'

// Worker threads run compiled code: the pool is imported from dist/ (npm test builds first).
const {ParsePool} = await import('../../../dist/lib/warehouse/parse-pool.js' as string)

const counters = (): ReadCounters => ({storedBytes: 0, bytes: 0, lines: 0, gzip: false})

/** What RowWriter writes for one row, or the error it throws. */
function written(w: RowWriter, values: Array<Value | undefined>): Buffer | Error {
  const s = new ByteSink(16)
  try {
    w.write(s, values)
  } catch (err) {
    return err as Error
  }
  return Buffer.from(s.take())
}

/** What protobufjs (RowEncoder, the reference) writes for the same row, or the error it throws. */
function reference(e: RowEncoder, fields: readonly BqField[], values: Array<Value | undefined>): Buffer | Error {
  const row: RowValues = {}
  fields.forEach((f, i) => (row[f.name] = values[i] ?? null))
  try {
    return Buffer.from(e.encode(row))
  } catch (err) {
    return err as Error
  }
}

const META = ['_source_uri', '_line', '_load_id', '_ingested_at', '_object_modified_at', '_load_path', '_gcs_created_at']

function albTask(requestBytes = 9 * 1024 * 1024): {task: RowsTask; encoder: RowEncoder; fields: BqField[]} {
  const format = getFormat('alb')
  const fields = bqSchema(tableColumns(format))
  const encoder = new RowEncoder(fields)
  const n = format.columns.length
  const fixed: Value[] = ['gs://b/AWSLogs/x.log.gz', null, 'load-1', 1_714_521_600_000_000, 1_714_521_000_000_000, 'backfill', null]
  expect(fields.slice(n).map((f) => f.name)).toEqual(META)
  return {task: {descriptor: encoder.descriptorBytes, fixed, lineField: n + 1, timeColumn: format.columns.findIndex((c) => c.name === 'event_time'), requestBytes}, encoder, fields}
}

describe('Write API rows encoded from parsed columns (row-writer.ts)', () => {
  it('writes the bytes protobufjs writes, value by value, and refuses what it refuses', () => {
    const fields: BqField[] = [
      {name: 's', type: 'STRING'},
      {name: 'i', type: 'INT64'},
      {name: 'd', type: 'FLOAT64'},
      {name: 't', type: 'TIMESTAMP'},
      {name: 'j', type: 'STRING'},
    ]
    const e = new RowEncoder(fields)
    const w = new RowWriter(e.descriptorBytes)
    const strings = ['', 'a', 'x'.repeat(42), 'x'.repeat(43), 'é'.repeat(42), 'é'.repeat(64), '🙂'.repeat(21), '🙂'.repeat(40), 'mixed é 🙂 \t\n"', 'y'.repeat(200), 'z'.repeat(70_000)]
    const ints = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 35 + 7, Number.MAX_SAFE_INTEGER, -1, -128, -(2 ** 31), -(2 ** 40) - 3, Number.MIN_SAFE_INTEGER]
    const doubles = [0, -0, 1.5, -2.25, 1e-300, 1.7976931348623157e308, Number.NaN, Infinity, -Infinity, 0.1]
    const rows: Array<Array<Value | undefined>> = []
    for (const s of strings) rows.push([s, null, null, null, null])
    for (const i of ints) rows.push([null, i, null, i, null])
    for (const d of doubles) rows.push([null, null, d, null, null])
    // values of another type than the field's go through protobufjs: converted (or refused) as before
    rows.push([null, '12345678901234567890', null, '-9223372036854775808', null], [null, 1.5, null, null, null], [12, null, null, null, 3.5], [null, null, '2.5', null, null])
    rows.push([null, 'not a number', null, null, null], [null, null, null, null, null], [undefined, 7, 0.5, 1_714_521_600_123_456, '{"a":1}'])
    for (const values of rows) {
      const got = written(w, values)
      const want = reference(e, fields, values)
      if (want instanceof Error) expect(got, JSON.stringify(values)).toBeInstanceOf(Error)
      else expect(got instanceof Error ? got : got.toString('hex'), JSON.stringify(values)).toBe(want.toString('hex'))
    }
  })

  it('rows written into one sink of small chunks come out whole and in order, refused rows leaving nothing', () => {
    const fields: BqField[] = [
      {name: 's', type: 'STRING'},
      {name: 'i', type: 'INT64'},
    ]
    const w = new RowWriter(new RowEncoder(fields).descriptorBytes)
    // rows shorter and longer than a chunk, and rows protobufjs refuses (they rewind to the row's start)
    const rows: Array<Array<Value | undefined>> = []
    for (let k = 0; k < 400; k++) rows.push([k % 7 === 0 ? 'x'.repeat(k * 3) : `row ${k}`, k % 11 === 0 ? 'not a number' : k])
    const sink = new ByteSink(64)
    const ends: number[] = []
    const want: Buffer[] = []
    for (const values of rows) {
      const alone = written(w, values)
      try {
        w.write(sink, values)
      } catch {
        sink.pos = sink.rowStart
        expect(alone).toBeInstanceOf(Error)
        continue
      }
      ends.push(sink.length)
      want.push(alone as Buffer)
    }
    expect(want.length).toBeGreaterThan(300)
    const data = Buffer.from(sink.take())
    expect(data.equals(Buffer.concat(want))).toBe(true)
    let at = 0
    want.forEach((row, k) => {
      at += row.length
      expect(ends[k]).toBe(at)
    })
  })

  it('an ALB object: the rows, requests, lines and rejects of the per-row protobufjs path, in this thread and in a parse worker', async () => {
    const fx = albFixture({days: 1, intervalMinutes: 720, linesPerFile: 3000, malformedRate: 0.01})
    const body = fx.files[0].body
    const format = getFormat('alb')
    // small requests, so the object takes several
    const {task, encoder, fields} = albTask(256 * 1024)
    // the reference: a RowValues object per row, protobufjs fromObject + encode, the RequestBuilder
    const builder = new RequestBuilder(256 * 1024)
    const lines: number[] = []
    const rejected: number[] = []
    for await (const b of readBatches(Readable.from([body]), format, counters())) {
      for (let i = 0; i < b.count; i++) {
        const values = [...b.columns.map((c) => c[i]), ...task.fixed]
        values[task.lineField] = b.lines[i]
        expect(builder.add(reference(encoder, fields, values) as Buffer)).toBe(true)
        lines.push(b.lines[i])
      }
      rejected.push(...b.rejects.map((r) => r.line))
    }
    const want = builder.done().map((r) => r.map((x) => Buffer.from(x).toString('base64')))
    expect(want.length).toBeGreaterThan(2)

    const pool = ParsePool.get()
    expect(pool).not.toBeNull()
    const c = counters()
    const inWorker = await pool.run('rows', Readable.from([body.subarray(0, 1000), body.subarray(1000)]), format, task, c)
    const inThread = await encodeRows(Readable.from([body]), format, task, counters())
    for (const out of [inWorker, inThread]) {
      expect(requestsOf(out).map((r) => r.map((x) => Buffer.from(x).toString('base64')))).toEqual(want)
      expect([...out.lines]).toEqual(lines)
      expect(out.parseRejects.map((r: {line: number}) => r.line)).toEqual(rejected)
      expect(out.encodeRejects).toEqual([])
      expect(out.parsed).toBe(fx.files[0].lines - fx.files[0].malformed)
      expect(out.range).not.toBeNull()
    }
    expect(rejected.length).toBe(fx.files[0].malformed)
    expect(c).toMatchObject({gzip: true, storedBytes: body.length, lines: fx.files[0].lines})
  })

  it('a row over the request budget is one rejected line; the rows after it keep their places', async () => {
    const format = getFormat('jsonl')
    const fields = bqSchema(tableColumns(format))
    const encoder = new RowEncoder(fields)
    const n = format.columns.length
    const task: RowsTask = {descriptor: encoder.descriptorBytes, fixed: ['gs://b/o.jsonl', null, 'l', 1, 1, 'backfill', null], lineField: n + 1, timeColumn: 0, requestBytes: 4096}
    const time = '2024-05-01T00:00:00Z'
    const text = [JSON.stringify({time, msg: 'a'}), JSON.stringify({time, msg: 'b'.repeat(8000)}), 'not json', JSON.stringify({time, msg: 'c'})].join('\n')
    const out = await encodeRows(Readable.from([Buffer.from(text)]), format, task, counters())
    expect([...out.lines]).toEqual([1, 4])
    expect(out.encodeRejects).toEqual([{line: 2, reason: 'the row is larger than a Write API request may be (10 MB)', raw: ''}])
    expect(out.parseRejects.map((r) => r.line)).toEqual([3])
    expect(out.parsed).toBe(3)
    expect(requestsOf(out).flat().length).toBe(2)
    expect(out.range).toEqual({min: Date.parse(time) * 1000, max: Date.parse(time) * 1000})
  })
})

describe("the bench's Write API double, keeping rows serialized until read (lazyRows)", () => {
  it('checks each append as strictly and, when read, holds the rows the strict double holds', async () => {
    const {startGcpDouble} = await import('../../helpers/gcp-doubles.js')
    const {startWriteApiDouble} = await import('../../helpers/write-api-double.js')
    const {WriteApi} = await import('../../../src/lib/warehouse/bigquery/write-api/client.js')
    const g = await startGcpDouble()
    const w = await startWriteApiDouble(g, {lazyRows: (table) => table === 'ds.lazy'})
    const api = new WriteApi({project: 'test-project', emulatorHost: w.host, retries: 0, retryBaseDelayMs: 1})
    try {
      const fields: BqField[] = [
        {name: 'msg', type: 'STRING'},
        {name: 'n', type: 'INT64'},
      ]
      for (const t of ['lazy', 'strict']) g.tables.set(`ds.${t}`, {metadata: {tableReference: {projectId: 'test-project', datasetId: 'ds', tableId: t}, schema: {fields}}, rows: []})
      const e = new RowEncoder(fields)
      const rows = [e.encode({msg: 'a', n: 1}), e.encode({msg: 'é🙂', n: -5}), e.encode({msg: null, n: 2 ** 40})]
      for (const t of ['lazy', 'strict']) {
        const parent = api.tablePath('ds', t)
        const s = await api.createPendingStream(parent)
        expect(await api.appendPending(s.name, e.descriptor, [rows.slice(0, 2), rows.slice(2)], () => new Error('refused'))).toBe(3)
        expect(await api.finalize(s.name)).toBe(3)
        await api.commit(parent, [s.name])
      }
      const strict = g.tables.get('ds.strict')!.rows
      expect(strict).toEqual([
        {msg: 'a', n: 1},
        {msg: 'é🙂', n: -5},
        {msg: null, n: 2 ** 40},
      ])
      // committed, counted, not decoded yet; decoded when read
      expect(g.tables.get('ds.lazy')!.rows).toHaveLength(3)
      expect(g.tables.get('ds.lazy')!.rows[0]).not.toEqual(strict[0])
      w.materialize('ds.lazy')
      expect(g.tables.get('ds.lazy')!.rows).toEqual(strict)
      // a writer schema with a column the table lacks is refused on the append, as by the strict double
      const extra = new RowEncoder([...fields, {name: 'other', type: 'STRING'}])
      const s = await api.createPendingStream(api.tablePath('ds', 'lazy'))
      const err = await api.appendPending(s.name, extra.descriptor, [[extra.encode({msg: 'x', n: 1, other: 'y'})]], () => new Error('refused')).catch((x: unknown) => x)
      expect(String((err as Error).message)).toMatch(/extra fields: 'other'/)
    } finally {
      await api.close()
      await w.close()
      await g.close()
    }
  })
})
