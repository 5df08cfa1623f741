import {describe, expect, it} from 'vitest'
import {jsonl, parseJsonlColumns, toMicros} from '../../../src/lib/formats/jsonl.js'

describe('jsonl format', () => {
  it('reads the event time from the default fields and keeps the record', () => {
    const f = jsonl()
    const r = f.parse('{"ts":"2024-05-01T10:00:00.123456Z","level":"info","msg":"hello","user":7}')
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.values[0]).toBe(Date.UTC(2024, 4, 1, 10) * 1000 + 123_456)
    expect(r.values[1]).toBe('info')
    expect(r.values[2]).toBe('hello')
    expect(JSON.parse(r.values.at(-1) as string).user).toBe(7)
  })

  it('uses --time-field and promotes typed columns (Kafka partition/offset)', () => {
    const f = jsonl({timeField: 'when', columns: parseJsonlColumns('partition:int,offset:bigint,topic')})
    expect(f.columns.map((c) => c.name)).toEqual(['event_time', 'level', 'message', 'partition', 'offset', 'topic', 'record'])
    const r = f.parse('{"when":1714557600,"partition":3,"offset":"1200","topic":"bids"}')
    expect(r.ok && r.values.slice(0, 6)).toEqual([1714557600 * 1e6, null, null, 3, 1200, 'bids'])
  })

  it('tells epoch seconds, milliseconds and microseconds apart', () => {
    expect(toMicros(1714557600)).toBe(1714557600e6)
    expect(toMicros(1714557600123)).toBe(1714557600123e3)
    expect(toMicros(1714557600123456)).toBe(1714557600123456)
  })

  it.each([
    ['not JSON', '{"ts": 1', /not valid JSON/],
    ['an array', '[1,2]', /not a JSON object/],
    ['no time field', '{"msg":"x"}', /no time field/],
    ['a bad time', '{"ts":"yesterday"}', /not a timestamp/],
  ])('rejects %s', (_n, line, reason) => {
    const r = jsonl().parse(line)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.reason).toMatch(reason)
  })

  it('rejects a promoted column of the wrong type, and bad column specs', () => {
    const r = jsonl({columns: parseJsonlColumns('offset:bigint')}).parse('{"ts":1,"offset":"abc"}')
    expect(r.ok).toBe(false)
    expect(() => parseJsonlColumns('event_time:int')).toThrow(/cannot be a column name/)
    expect(() => parseJsonlColumns('x:uuid')).toThrow(/Unknown column type/)
  })
})
