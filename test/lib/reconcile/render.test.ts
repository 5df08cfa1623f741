import {describe, expect, it} from 'vitest'
import {renderReport, toCsv} from '../../../src/lib/reconcile/render.js'
import {reconcile} from '../../../src/lib/reconcile/run.js'
import {tempDir} from '../../helpers/tmp.js'
import {buildWarehouse, hourly} from './fixtures.js'

const base = {batchTable: 'batch_logs', streamTable: 'stream_logs', since: new Date('2024-05-01T00:00:00Z'), until: new Date('2024-05-01T03:00:00Z')}

describe('reconcile rendering', () => {
  it('prints a table with totals and the verdict, and one CSV row per bucket', async () => {
    const [h0, h1, h2] = hourly()
    const dir = tempDir()
    const warehouse = await buildWarehouse(dir, {batch: [h0, h1, h2], stream: [h1, h1, {...h2, count: 60}]})
    const r = await reconcile({...base, warehouse, by: 'hour', tolerance: {kind: 'rows', value: 50}})
    const text = renderReport(r).replace(/\((\d+ms|\d+(\.\d+)?s)\)/, '(Xms)')
    expect(text).toBe(
      [
        `Reconcile batch_logs (batch) with stream_logs (stream) in ${warehouse}, by hour`,
        '  range      [2024-05-01T00:00:00.000Z, 2024-05-01T03:00:00.000Z) on event_time',
        '  tolerance  50 rows',
        '',
        '  Bucket (UTC)               Batch   Stream   Difference    Ratio   Status',
        '  2024-05-01T00:00:00.000Z     100        0         -100   0.0000   missing in stream',
        '  2024-05-01T01:00:00.000Z     100      200         +100   2.0000   both differ',
        '  2024-05-01T02:00:00.000Z     100       60          -40   0.6000   both differ (within tolerance)',
        '  total                        300      260          -40   0.8667',
        '',
        'MISMATCH: 2 of 3 buckets differ beyond the tolerance (1 missing in stream, 1 both differ). (Xms)',
        'See which objects are behind a bucket with --explain 2024-05-01T00:00:00.000Z',
      ].join('\n'),
    )
    expect(renderReport(r, {mismatchesOnly: true})).toContain('(1 bucket within tolerance not shown)')
    expect(toCsv(r)).toBe(
      [
        'bucket,batch,stream,difference,ratio,status,within_tolerance',
        '2024-05-01T00:00:00.000Z,100,0,-100,0,missing_in_stream,false',
        '2024-05-01T01:00:00.000Z,100,200,100,2,differ,false',
        '2024-05-01T02:00:00.000Z,100,60,-40,0.6,differ,true',
        '',
      ].join('\n'),
    )
  })

  it('prints objects with their status, and the watermark used', async () => {
    const [h0, h1] = hourly()
    const warehouse = await buildWarehouse(tempDir(), {batch: [h0, h1], stream: [h0]})
    const r = await reconcile({...base, until: undefined, warehouse, by: 'object', settleMs: 600_000, now: new Date('2024-05-01T03:00:00Z')})
    const text = renderReport(r)
    expect(text).toContain('  watermark  2024-05-01T02:50:00.000Z: now (2024-05-01T03:00:00.000Z) - settle 10m00s; later rows may still be arriving and were left out')
    expect(text).toContain('  s3://logs/app/h00.log     100      100            0   ok')
    expect(text).toContain('  s3://logs/app/h01.log     100        -         -100   missing in stream (stream): 100 rows in batch, none in stream')
    expect(text).toMatch(/^MISMATCH: 1 of 2 objects differ beyond the tolerance \(1 missing in stream\)/m)
    expect(toCsv(r).split('\n')[2]).toBe('s3://logs/app/h01.log,100,0,-100,0,,,,,missing_in_stream,stream,false,"100 rows in batch, none in stream"')
  })

  it('says OK when everything matches', async () => {
    const warehouse = await buildWarehouse(tempDir(), {batch: hourly(), stream: hourly()})
    const r = await reconcile({...base, warehouse, by: 'hour'})
    expect(renderReport(r)).toMatch(/\nOK: 3 buckets compared, 3 identical\. \(\d+ms\)$/)
  })

  it('says NO DATA, not OK, when neither table has rows in the range', async () => {
    const warehouse = await buildWarehouse(tempDir(), {batch: hourly(), stream: hourly()})
    const r = await reconcile({...base, since: new Date('2023-05-01T00:00:00Z'), until: new Date('2023-05-02T00:00:00Z'), warehouse, by: 'hour'})
    const text = renderReport(r)
    expect(text).toMatch(/\nNO DATA: neither batch_logs nor stream_logs has rows in \[2023-05-01T00:00:00.000Z, 2023-05-02T00:00:00.000Z\), so nothing was checked and nothing passed\. Check --since\/--until, and that both load paths are running\./)
    expect(text).not.toMatch(/OK:/)
  })
})
