import {describe, expect, it} from 'vitest'
import {analyzePartition, type OffsetFile} from '../../../src/lib/dedupe/intervals.js'

let clock = 0
function f(name: string, start: number, records: number, opts: {partition?: number; modified?: number} = {}): OffsetFile {
  return {
    uri: `s3://b/${name}`,
    key: name,
    topic: 't',
    partition: opts.partition ?? 0,
    startOffset: start,
    records,
    endOffset: start + records,
    lastModified: new Date(opts.modified ?? ++clock * 1000),
    size: records * 100,
  }
}

describe('analyzePartition', () => {
  it('finds nothing in a clean sequence', () => {
    const a = analyzePartition([f('a', 0, 100), f('b', 100, 50), f('c', 150, 10)])
    expect(a.kept.map((k) => k.key)).toEqual(['a', 'b', 'c'])
    expect([a.redundant.length, a.overlapping.length, a.gaps.length, a.duplicateRecords, a.distinctOffsets]).toEqual([0, 0, 0, 0, 160])
    expect([a.firstOffset, a.endOffset]).toEqual([0, 160])
  })

  it('marks a full replay (same boundaries) redundant, keeping the older copies', () => {
    const orig = [f('d1/a', 0, 100), f('d1/b', 100, 100)]
    const replay = [f('d2/a', 0, 100), f('d2/b', 100, 100)]
    const a = analyzePartition([...replay, ...orig])
    expect(a.kept.map((k) => k.key)).toEqual(['d1/a', 'd1/b'])
    expect(a.redundant.map((r) => [r.key, r.identicalTo])).toEqual([
      ['d2/a', 's3://b/d1/a'],
      ['d2/b', 's3://b/d1/b'],
    ])
    expect([a.records, a.distinctOffsets, a.duplicateRecords]).toEqual([400, 200, 200])
  })

  it('keeps the fewest files when a replay has other boundaries', () => {
    const a = analyzePartition([f('a1', 0, 50), f('a2', 50, 50), f('replay', 0, 100)])
    expect(a.kept.map((k) => k.key)).toEqual(['replay'])
    expect(a.redundant.map((r) => [r.key, r.coveredBy, r.identicalTo])).toEqual([
      ['a1', ['s3://b/replay'], null],
      ['a2', ['s3://b/replay'], null],
    ])
    // a file covered only by two kept files together is redundant too
    const b = analyzePartition([f('x', 0, 60), f('y', 60, 60), f('mid', 30, 60)])
    expect(b.redundant.map((r) => [r.key, r.coveredBy])).toEqual([['mid', ['s3://b/x', 's3://b/y']]])
  })

  it('reports a partial overlap with the records shared', () => {
    const a = analyzePartition([f('a', 0, 100), f('b', 80, 70), f('c', 150, 50)])
    expect(a.redundant).toEqual([])
    expect(a.overlapping.map((o) => [o.key, o.overlapFrom, o.overlapTo, o.overlapRecords, o.overlapsWith])).toEqual([['b', 80, 100, 20, 's3://b/a']])
    expect([a.records, a.distinctOffsets, a.duplicateRecords]).toEqual([220, 200, 20])
  })

  it('reports a gap as a gap, not a duplicate', () => {
    const a = analyzePartition([f('a', 0, 100), f('b', 130, 20)])
    expect(a.gaps).toEqual([{topic: 't', partition: 0, from: 100, to: 130, missing: 30, after: 's3://b/a', before: 's3://b/b'}])
    expect([a.redundant.length, a.overlapping.length, a.duplicateRecords]).toEqual([0, 0, 0])
  })

  it('leaves empty files out of ranges', () => {
    const a = analyzePartition([f('a', 0, 10), f('empty', 10, 0), f('b', 10, 10)])
    expect(a.empty.map((e) => e.key)).toEqual(['empty'])
    expect([a.redundant.length, a.gaps.length, a.distinctOffsets]).toEqual([0, 0, 20])
  })
})
