import {describe, expect, it} from 'vitest'
import {latencyCsv, latencyReport} from '../../../src/lib/latency/index.js'
import {createTable, hopRows as gcsRows, openTemp} from './fixtures.js'

const HOPS: Array<[number, number]> = [
  [2, 10],
  [4, 20],
  [6, 30],
  [8, 40],
  [30, 100],
]

describe('latencyReport --measure hops (S3 LastModified -> GCS finalize -> committed)', () => {
  it('reports the transfer, load and end-to-end hops side by side over the same rows, on shared bins', async () => {
    const {wh} = await openTemp()
    await createTable(
      wh,
      'stream',
      [
        ...gcsRows(HOPS),
        // not measured by any hop: the GCS time is unknown, or the S3 time is
        {ev: 0, mod: 0, gcs: null, ing: 50},
        {ev: 0, mod: null, gcs: 10, ing: 50},
      ],
      {gcs: true},
    )
    const r = await latencyReport(wh, {table: 'stream', measure: 'hops', bins: 4})
    expect(r.measure).toBe('hops')
    expect(r.definition).toBe('_ingested_at - _object_modified_at')
    expect(r.hops!.map((h) => [h.hop, h.definition])).toEqual([
      ['transfer', '_gcs_created_at - _object_modified_at'],
      ['load', '_ingested_at - _gcs_created_at'],
      ['end-to-end', '_ingested_at - _object_modified_at'],
    ])
    const [transfer, load, e2e] = r.hops!
    expect([transfer.count, transfer.unmeasured, transfer.min, transfer.max, transfer.p50]).toEqual([5, 2, 2, 30, 6])
    expect([load.count, load.unmeasured, load.min, load.max, load.p50]).toEqual([5, 2, 10, 100, 30])
    expect([e2e.count, e2e.unmeasured, e2e.min, e2e.max, e2e.p50]).toEqual([5, 2, 12, 130, 36])
    // the same rows in every hop: per row transfer + load = end to end, so the means add up
    expect(transfer.mean! + load.mean!).toBeCloseTo(e2e.mean!, 9)
    // the table's own statistics are the end-to-end hop's (what --slo checks)
    expect([r.count, r.p50, r.max]).toEqual([e2e.count, e2e.p50, e2e.max])
    // one set of bins [0, 130] for the three hops, so the bars compare one for one
    for (const h of r.hops!) expect(h.bins.map((b) => [b.lo, b.hi])).toEqual([[0, 32.5], [32.5, 65], [65, 97.5], [97.5, 130]])
    expect(transfer.bins.map((b) => b.count)).toEqual([5, 0, 0, 0])
    expect(load.bins.map((b) => b.count)).toEqual([3, 1, 0, 1])
    expect(e2e.bins.map((b) => b.count)).toEqual([2, 2, 0, 1])
    expect(e2e.bins).toEqual(r.bins)

    const csv = latencyCsv(r).trim().split('\n')
    expect(csv[0]).toBe('table,hop,group,metric,lo_seconds,hi_seconds,value')
    expect(csv).toContain('stream,transfer,,p50,,,6')
    expect(csv).toContain('stream,load,,max,,,100')
    expect(csv).toContain('stream,end-to-end,,count,,,5')
    expect(csv).toContain('stream,load,,bin,97.5,130,1')
  })

  it('agrees between warehouse and client quantiles, reports a second table, and names a missing GCS column', async () => {
    const {wh} = await openTemp()
    // 1,000 rows: transfer 1..50 s, load 5..204 s, in a scrambled order
    await createTable(wh, 'stream', gcsRows(Array.from({length: 1000}, (_, i) => [((i * 7) % 50) + 1, ((i * 13) % 200) + 5] as [number, number])), {gcs: true})
    await createTable(wh, 'other', gcsRows([[1, 1], [3, 3]]), {gcs: true})
    const exact = await latencyReport(wh, {table: 'stream', measure: 'hops', compareTable: 'other'})
    const client = await latencyReport(wh, {table: 'stream', measure: 'hops', compute: 'client', pageSize: 97})
    expect(client.quantiles.computed).toBe('client')
    for (const [i, h] of client.hops!.entries()) for (const k of ['p50', 'p90', 'p99'] as const) expect(Math.abs(h[k]! - exact.hops![i][k]!)).toBeLessThan(1)
    expect(exact.hops!.map((h) => [h.min, h.max])).toEqual([[1, 50], [5, 204], [6, 246]])
    expect(exact.compare!.hops!.map((h) => h.max)).toEqual([3, 3, 6])

    await createTable(wh, 'plain', gcsRows(HOPS))
    await expect(latencyReport(wh, {table: 'plain', measure: 'hops'})).rejects.toThrow(
      'The table plain has no column _gcs_created_at, needed by --measure hops (the GCS finalize time of each row).',
    )
  })
})
