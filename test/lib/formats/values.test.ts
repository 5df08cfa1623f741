import {describe, expect, it} from 'vitest'
import {alb} from '../../../src/lib/formats/alb.js'
import {isoMicros} from '../../../src/lib/formats/fields.js'
import {jsonl, parseJsonlColumns} from '../../../src/lib/formats/jsonl.js'

// one ALB line with fields replaced by index (3 client:port, 8 elb status, 10 received bytes, 1 time)
const BASE = [
  'http', '2024-05-01T10:00:00.123456Z', 'app/lb/1', '10.0.0.1:2817', '10.0.0.2:80', '0.000', '0.001', '0.000', '200', '200', '34', '366',
  '"GET http://x/ HTTP/1.1"', '"curl/8"', '-', '-', 'arn:tg', '"Root=1"', '"-"', '"-"', '0', '2024-05-01T10:00:00.000000Z', '"forward"',
]
const albLine = (patch: Record<number, string>): string => BASE.map((f, i) => patch[i] ?? f).join(' ')
const col = (name: string): number => alb.columns.findIndex((c) => c.name === name)

describe('values out of range are one rejected line (ALB)', () => {
  it.each([
    ['a port of 99999999999', {3: '10.0.0.1:99999999999'}, /client:port .* out of range/],
    ['a status of 9999999999', {8: '9999999999'}, /elb_status_code .* out of range/],
    ['received bytes of 1e19', {10: '10000000000000000000'}, /received_bytes .* out of range/],
    ['received bytes of 1e21', {10: '1e21'}, /received_bytes .* out of range/],
    ['a processing time of 1e400', {5: '1e400'}, /not a number/],
    ['February 30', {1: '2024-02-30T00:00:00.000000Z'}, /not a valid timestamp/],
    ['February 29 of a common year', {1: '2023-02-29T00:00:00Z'}, /not a valid timestamp/],
  ])('rejects %s', (_n, patch, reason) => {
    const r = alb.parse(albLine(patch))
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.reason).toMatch(reason)
  })

  it('keeps the largest BIGINT exactly and 2^53+1 unrounded', () => {
    const r = alb.parse(albLine({10: '9223372036854775807', 11: '9007199254740993'}))
    expect(r.ok && [r.values[col('received_bytes')], r.values[col('sent_bytes')]]).toEqual(['9223372036854775807', '9007199254740993'])
  })

  it('keeps years 0001 and 0099 and the last microsecond of 9999 exactly', () => {
    expect(isoMicros('0001-01-01T00:00:00Z', 't')).toBe('-62135596800000000')
    expect(isoMicros('0099-12-31T23:59:59Z', 't')).toBe(String((BigInt(new Date('0100-01-01T00:00:00Z').getTime()) - 1000n) * 1000n))
    expect(isoMicros('2024-02-29T12:00:00.5Z', 't')).toBe(Date.UTC(2024, 1, 29, 12) * 1000 + 500_000)
    expect(isoMicros('9999-12-31T23:59:59.999999Z', 't')).toBe('253402300799999999')
  })
})

describe('jsonl typed columns reject instead of coercing', () => {
  const f = jsonl({columns: parseJsonlColumns('partition:int,offset:bigint,score:double,at:timestamp')})
  const parse = (fields: Record<string, string>): ReturnType<typeof f.parse> =>
    f.parse(`{"ts":1714557600${Object.entries(fields).map(([k, v]) => `,"${k}":${v}`).join('')}}`)
  const value = (fields: Record<string, string>, name: string): unknown => {
    const r = parse(fields)
    if (!r.ok) throw new Error(r.reason)
    return r.values[f.columns.findIndex((c) => c.name === name)]
  }

  it.each([
    ['partition true', {partition: 'true'}, /not an integer/],
    ['partition ""', {partition: '""'}, /not an integer/],
    ['partition [7]', {partition: '[7]'}, /not an integer/],
    ['partition 3e9', {partition: '3e9'}, /out of range/],
    ['offset 1e19', {offset: '1e19'}, /out of range/],
    ['offset 1e21', {offset: '1e21'}, /out of range/],
    ['offset false', {offset: 'false'}, /not an integer/],
    ['score ""', {score: '""'}, /not a number/],
    ['score true', {score: 'true'}, /not a number/],
    ['at true', {at: 'true'}, /not a timestamp/],
    ['at on February 30', {at: '"2024-02-30T00:00:00Z"'}, /not a timestamp/],
    ['at on February 30 with an offset', {at: '"2024-02-30T00:00:00+01:00"'}, /not a timestamp/],
  ])('rejects %s', (_n, fields, reason) => {
    const r = parse(fields)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.reason).toMatch(reason)
  })

  it('keeps numbers and integer strings, and bigints beyond 2^53 exactly', () => {
    expect(value({partition: '7', offset: '"1200"'}, 'partition')).toBe(7)
    expect(value({offset: '"1200"'}, 'offset')).toBe(1200)
    expect(value({offset: '9007199254740993'}, 'offset')).toBe('9007199254740993')
    expect(value({offset: '"9223372036854775807"'}, 'offset')).toBe('9223372036854775807')
    expect(value({score: '"2.5"'}, 'score')).toBe(2.5)
    expect(value({at: '"9999-12-31T23:59:59.999999Z"'}, 'at')).toBe('253402300799999999')
    expect(value({at: '"0001-01-01T01:00:00+01:00"'}, 'at')).toBe('-62135596800000000')
    expect(value({at: '"2024-05-01T12:00:00.123456+02:00"'}, 'at')).toBe(Date.UTC(2024, 4, 1, 10) * 1000 + 123_456)
  })
})

describe('timestamps read after one of the same minute give what the full pattern gives', () => {
  /** isoMicros of v, or the error's message */
  const read = (v: string) => {
    try {
      return isoMicros(v, 't')
    } catch (err) {
      return (err as Error).message
    }
  }
  const cases = [
    '2024-05-01T00:10:00Z',
    '2024-05-01T00:10:59Z',
    '2024-05-01T00:10:60Z',
    '2024-05-01T00:10:61Z',
    '2024-05-01T00:10:07.1Z',
    '2024-05-01T00:10:07.123456Z',
    '2024-05-01T00:10:07.1234567Z',
    '2024-05-01T00:10:07.123456789Z',
    '2024-05-01T00:10:07.1234567890Z',
    '2024-05-01T00:10:07.Z',
    '2024-05-01T00:10:07',
    '2024-05-01T00:10:7Z',
    '2024-05-01T00:10:0aZ',
    '2024-05-01T00:10:07.12a4Z',
    '2024-05-01T00:10:07+00:00',
    '2024-05-01T00:10:07.000001Z',
  ]
  it.each(cases)('%s', (v) => {
    // cold: the last minute read is another one, so the whole pattern runs
    read('1999-12-31T23:59:00Z')
    const cold = read(v)
    // warm: a valid timestamp of the same minute was read just before
    read(`${v.slice(0, 17)}00Z`)
    expect(read(v)).toStrictEqual(cold)
  })

  it('a minute that does not exist is never remembered', () => {
    expect(read('2024-02-30T00:10:00Z')).toMatch(/not a valid timestamp/)
    expect(read('2024-02-30T00:10:01Z')).toMatch(/not a valid timestamp/)
    expect(read('2024-05-01T24:00:00Z')).toMatch(/not a valid timestamp/)
    expect(read('2024-05-01T24:00:01Z')).toMatch(/not a valid timestamp/)
  })

  it('years far from now stay exact', () => {
    read('0001-01-01T00:00:00Z')
    expect(read('0001-01-01T00:00:01.5Z')).toBe((-62135596799n * 1_000_000n + 500_000n).toString())
    read('9999-12-31T23:59:00Z')
    expect(read('9999-12-31T23:59:59.999999Z')).toBe(253402300799999999n.toString())
  })
})
