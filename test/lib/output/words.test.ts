import {describe, expect, it} from 'vitest'
import {renderPlan} from '../../../src/lib/backfill/render.js'
import {renderDedupe} from '../../../src/lib/dedupe/render.js'
import type {RowDedupeResult} from '../../../src/lib/dedupe/run.js'
import {renderStreamSummary} from '../../../src/lib/stream/render.js'
import type {StreamResult} from '../../../src/lib/stream/run.js'
import {count, noun, plural, pluralOf} from '../../../src/lib/output/words.js'

describe('words: counts and plurals', () => {
  it('counts with thousands separators', () => {
    expect(count(4032)).toBe('4,032')
    expect(count(1_234_567)).toBe('1,234,567')
    expect(count(0)).toBe('0')
    expect(count(12.345)).toBe('12.35')
  })

  it('uses the singular for one only', () => {
    expect(plural(1, 'LIST request')).toBe('1 LIST request')
    expect(plural(0, 'LIST request')).toBe('0 LIST requests')
    expect(plural(4032, 'row')).toBe('4,032 rows')
    expect(plural(1, 'prefix')).toBe('1 prefix')
    expect(plural(2, 'prefix')).toBe('2 prefixes')
    expect(plural(1, 'time')).toBe('1 time')
    expect(plural(1, 'copy')).toBe('1 copy')
    expect(plural(3, 'copy')).toBe('3 copies')
    expect(plural(2, 'person', 'people')).toBe('2 people')
    expect(noun(1, 'bucket')).toBe('bucket')
    expect(pluralOf('batch')).toBe('batches')
  })
})

describe('human output uses them', () => {
  it('backfill plan: "1 LIST made while planning (1 prefix)", counts with separators', () => {
    const text = renderPlan({
      days: [{day: '2024-05-01', objects: 4032, bytes: 1024, load: 4032, replace: 0, skip: 0}],
      totals: {objects: 4032, bytes: 1024, load: 4032, replace: 0, skip: 0, bytesToRead: 1024},
      requests: {list: 1, get: 4032, listedPrefixes: ['AWSLogs/']},
      markers: {objects: 0, samples: []},
    })
    expect(text).toContain('Requests: 1 LIST made while planning (1 prefix), 4,032 GET')
    expect(text).toMatch(/2024-05-01\s+4,032/)
    expect(text).not.toMatch(/\b4032\b/)
  })

  it('dedupe: "up to 2 copies of 1 key"; no copies clause when there are no duplicates', () => {
    const report = (dup: number, keys: number, max: number) =>
      ({
        mode: 'rows',
        warehouse: 'duckdb:x.duckdb',
        applied: null,
        duplicatesFound: dup > 0,
        report: {
          table: 't',
          keys: ['partition', 'offset'],
          range: {},
          rows: 4032,
          distinctKeys: 4032 - dup,
          duplicateRows: dup,
          duplicatedKeys: keys,
          maxCopies: max,
          nullKeyRows: 0,
          nullKeyRowsByColumn: {},
          keep: 'earliest',
          keepOrder: '_ingested_at',
          perDay: [],
          perSource: [],
          sourcesWithDuplicates: 0,
          sampleKeys: [],
        },
      }) as unknown as RowDedupeResult
    const one = renderDedupe(report(1, 1, 2))
    expect(one).toContain('duplicate rows   1 (extra copies of 1 key, up to 2 copies of one key)')
    expect(one).toContain('remove the 1 duplicate row.')
    expect(one).toContain('rows             4,032')
    const none = renderDedupe(report(0, 0, 1))
    expect(none).toMatch(/duplicate rows {3}0\n/)
    expect(none).not.toContain('1 copies')
  })

  it('stream summary: "1 rejected line", "1 test event"', () => {
    const text = renderStreamSummary({
      loadId: 'st-1',
      stoppedBy: 'idle',
      durationMs: 1000,
      mode: 'sqs',
      source: 'https://sqs/q',
      table: 't',
      warehouse: 'duckdb:x',
      objects: {loaded: 1, replaced: 0, skipped: 0, missing: 0, failed: 0, markers: 0},
      rows: 4032,
      rejected: 1,
      bytesRead: 10,
      messages: {received: 1, deleted: 1, retained: 0, invalid: 0, testEvents: 1},
      events: {objectCreated: 1, ignored: 0},
      latency: {count: 0},
      failures: [],
      invalidMessages: [],
      poisonObjects: [],
    } as unknown as StreamResult)
    expect(text).toContain('4,032 (1 rejected line in _seneka_rejects)')
    expect(text).toContain('1 test event')
    expect(text).not.toContain('1 test events')
  })
})
