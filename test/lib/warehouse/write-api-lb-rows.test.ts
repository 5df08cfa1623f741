import {Readable} from 'node:stream'
import {gunzipSync} from 'node:zlib'
import {describe, expect, it} from 'vitest'
import {getFormat} from '../../../src/lib/formats/index.js'
import {tableColumns, type Value} from '../../../src/lib/formats/types.js'
import {newCounters} from '../../../src/lib/loader/read-object.js'
import {bqSchema} from '../../../src/lib/warehouse/bigquery/sql.js'
import {encodeRows, type RowsTask} from '../../../src/lib/warehouse/bigquery/write-api/encode-rows.js'
import {LbRowWriter} from '../../../src/lib/warehouse/bigquery/write-api/lb-rows.js'
import {ByteSink, RowWriter} from '../../../src/lib/warehouse/bigquery/write-api/row-writer.js'
import {RowEncoder} from '../../../src/lib/warehouse/bigquery/write-api/rows.js'
import {albFixture} from '../../helpers/alb-fixtures.js'
import {E, EDGE_LINES, elbLine, line} from '../../helpers/lb-lines.js'

/** A format's rows task, as the Write API loader builds it (provenance after the format's columns). */
function taskFor(name: string): {task: RowsTask; writer: RowWriter; width: number} {
  const format = getFormat(name)
  const encoder = new RowEncoder(bqSchema(tableColumns(format)))
  const width = format.columns.length
  const fixed: Value[] = ['gs://b/x.log.gz', null, 'load-1', 1_714_521_600_000_000, 1_714_521_000_000_000, 'backfill', null]
  const task = {descriptor: encoder.descriptorBytes, fixed, lineField: width + 1, timeColumn: format.columns.findIndex((c) => c.name === 'event_time'), requestBytes: 9 * 1024 * 1024}
  return {task, writer: new RowWriter(encoder.descriptorBytes), width}
}

/** Encodes the object both ways: the lines the scanner proves ordinary from their bytes, and every line parsed. */
async function bothWays(name: string, body: Buffer) {
  const {task} = taskFor(name)
  const format = getFormat(name)
  const bytes = await encodeRows(Readable.from([body]), format, task, newCounters())
  const parsed = await encodeRows(Readable.from([body]), format, task, newCounters(), {bytes: false})
  return {bytes, parsed}
}

/**
 * Each line alone: the row the byte writer writes, or undefined when it leaves the line to the parser; and the
 * row RowWriter writes of the parser's values (undefined: the parser rejects the line).
 */
function lineByLine(name: string, lines: readonly string[]): Array<{line: string; bytes?: Buffer; parsed?: Buffer}> {
  const {task, writer, width} = taskFor(name)
  const format = getFormat(name)
  const lb = LbRowWriter.for(name, writer, width, task.timeColumn)
  expect(lb, `${name} lines are written from their bytes`).toBeDefined()
  return lines.map((text) => {
    const values: Array<Value | undefined> = [...Array(width).fill(null), ...task.fixed]
    values[task.lineField] = 7
    const b = Buffer.from(text)
    const s1 = new ByteSink(64)
    const bytes = lb!.write(s1, b, 0, b.length, values) ? Buffer.from(s1.take()) : undefined
    if (!bytes) expect(s1.length, 'a line left to the parser writes nothing').toBe(0)
    const r = format.parse(text)
    let parsed: Buffer | undefined
    if (r.ok) {
      for (let k = 0; k < width; k++) values[k] = r.values[k] ?? null
      const s2 = new ByteSink(64)
      writer.write(s2, values)
      parsed = Buffer.from(s2.take())
    }
    return {line: text, bytes, parsed}
  })
}

const ELB_EDGE = [
  elbLine(), elbLine({}, 11), elbLine({}, 12), elbLine({}, 10), `${elbLine()} extra "fields"`, `${elbLine()} `,
  elbLine({11: '"- - - "', 12: '"-"'}), elbLine({11: '"- http://host:80- -"'}), elbLine({11: '"GET - HTTP/1.1"'}),
  elbLine({0: '2024-02-30T00:00:00Z'}), elbLine({0: '0000-01-01T00:00:00Z'}), elbLine({0: '2024-05-01T10:00:00.1234567Z'}), elbLine({0: '-'}),
  elbLine({2: '[::1]:443'}), elbLine({3: '10.0.0.1:2147483648'}), elbLine({7: '2147483648'}), elbLine({9: '9223372036854775808'}),
  elbLine({12: '"ua \\"quoted\\""'}), elbLine({12: '"ünï"'}), elbLine({13: '"ECDHE"'}),
  ...E.flatMap((_, i) => ['-', '""', '"-"', ''].map((v) => elbLine({[i]: v}))),
]

/** values the readers compute from digits: every one must be what Number() and isoMicros give */
const NUMBERS = [
  line({5: '0.1', 6: '0.000073', 7: '123456789.012345'}), line({5: '-0', 6: '-0.0', 7: '9007199254740993'}),
  line({5: '0.30000000000000004', 6: '1.7976931348623157', 7: '00000000000000000001.5'}), line({5: '999999999999999', 6: '99999999999999.9', 7: '0.0000000000000000000001'}),
  line({8: '-0', 9: '007', 10: '999999999999999', 11: '-999999999999999'}), line({10: '1000000000000000', 11: '-1'}),
  line({8: '2147483647', 9: '-2147483648', 20: '-0'}), line({3: '10.0.0.1:0', 4: 'h:2147483647'}), line({3: 'host-name.example:007'}),
  line({1: '1970-01-01T00:00:00Z'}), line({1: '1969-12-31T23:59:59.999999Z'}), line({1: '1600-02-29T12:00:00.5Z'}), line({1: '2255-06-05T23:47:34.740992Z'}),
  line({1: '2255-06-05T23:47:35Z'}), line({1: '2400-02-29T00:00:00.000001Z'}), line({21: '2024-05-01T10:00:00.12345Z'}),
  line({13: '"ünïcödé 🙂 and a long user agent string well past thirty-two bytes"'}), line({16: 'x'.repeat(200)}), line({17: `"${'y'.repeat(20000)}"`}),
]

describe('Write API rows of ALB and ELB lines written from their bytes (lb-rows.ts)', () => {
  it('every line the scanner takes gives the bytes of the parser and RowWriter; the others are left to the parser', () => {
    for (const [name, lines] of [
      ['alb', [...EDGE_LINES, ...NUMBERS]],
      ['elb', ELB_EDGE],
    ] as const) {
      const out = lineByLine(name, lines)
      for (const o of out) if (o.bytes) expect(o.bytes, `${name}: ${o.line.slice(0, 120)}`).toEqual(o.parsed)
      // the byte path is taken for most of these lines, not silently for none
      const taken = out.filter((o) => o.bytes).length
      expect(taken, name).toBeGreaterThan(lines.length / 3)
      expect(out.filter((o) => o.parsed && !o.bytes).length, `${name}: lines left to the parser`).toBeGreaterThan(5)
    }
  })

  it('an object of edge cases, numbers and generated lines: the same rows, requests, lines, time range and rejects both ways', async () => {
    const generated = albFixture({days: 1, intervalMinutes: 360, linesPerFile: 3000, malformedRate: 0.02, seed: 5}).files.map((f) => gunzipSync(f.body).toString())
    const alb = Buffer.from(`\ufeff${[...EDGE_LINES, ...NUMBERS].join('\n')}\n\n${generated.join('')}${line()}`)
    const elb = Buffer.from(`${ELB_EDGE.join('\r\n')}\r\n`)
    for (const [name, body] of [
      ['alb', alb],
      ['elb', elb],
    ] as const) {
      const {bytes, parsed} = await bothWays(name, body)
      expect(Buffer.from(bytes.data).equals(Buffer.from(parsed.data)), `${name}: the same bytes`).toBe(true)
      expect({...bytes, data: undefined}).toEqual({...parsed, data: undefined})
      expect(bytes.ends.length, name).toBeGreaterThan(name === 'alb' ? 10_000 : 30)
      expect(bytes.parseRejects.length, name).toBeGreaterThan(5)
    }
  })

  it('a table whose columns are not the layout\'s types is written through the parser', () => {
    const {task, width} = taskFor('alb')
    const fields = bqSchema(tableColumns(getFormat('alb')))
    fields[7] = {...fields[7], type: 'STRING'}
    const writer = new RowWriter(new RowEncoder(fields).descriptorBytes)
    expect(LbRowWriter.for('alb', writer, width, task.timeColumn)).toBeUndefined()
    expect(LbRowWriter.for('jsonl', new RowWriter(task.descriptor), width, task.timeColumn)).toBeUndefined()
  })
})
