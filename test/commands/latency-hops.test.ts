import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {DuckDBWarehouse} from '../../src/lib/warehouse/duckdb/warehouse.js'
import {jsonResult, runCli} from '../helpers/cli.js'
import {createTable, hopRows, testDir} from '../lib/latency/fixtures.js'

describe('seneka latency-report --measure hops', () => {
  it('prints the transfer, load and end-to-end hops side by side, as JSON and CSV too', async () => {
    const dir = testDir()
    const file = path.join(dir, 'w.duckdb')
    const wh = await DuckDBWarehouse.open(file)
    await createTable(wh, 'stream', [...hopRows([[2, 10], [4, 20], [6, 30], [8, 40], [30, 100]]), {ev: 0, mod: 0, gcs: null, ing: 50}], {gcs: true})
    await wh.close()
    const uri = `duckdb:${file}`
    const csv = path.join(dir, 'hops.csv')

    const text = await runCli(['latency-report', '--warehouse', uri, '--table', 'stream', '--measure', 'hops', '--bins', '4', '--csv', csv])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain('Per hop, over the rows where _object_modified_at, _gcs_created_at and _ingested_at are all known:')
    expect(text.stdout).toMatch(/transfer \(S3 -> GCS\)\s+load \(GCS -> committed\)\s+end to end/)
    expect(text.stdout).toMatch(/p50\s+6.0s\s+30.0s\s+36.0s/)
    expect(text.stdout).toMatch(/unmeasured\s+1\s+1\s+1/)
    expect(text.stdout).toContain('Histogram of load (GCS -> committed) (linear bins):')
    const lines = readFileSync(csv, 'utf8').trim().split('\n')
    expect(lines[0]).toBe('table,hop,group,metric,lo_seconds,hi_seconds,value')
    expect(lines).toContain('stream,transfer,,p50,,,6')
    expect(lines).toContain('stream,end-to-end,,max,,,130')

    const json = await runCli(['latency-report', '--warehouse', uri, '--table', 'stream', '--measure', 'hops', '--slo', 'p99<=2m', '--json'])
    expect(json.code).toBe(11) // the SLO is checked end to end: p99 is over 2 minutes
    const j = jsonResult(json.stdout)
    expect(j).toMatchObject({measure: 'hops', count: 5, max: 130})
    expect(j.hops.map((h: {hop: string; p50: number; count: number}) => [h.hop, h.p50, h.count])).toEqual([
      ['transfer', 6, 5],
      ['load', 30, 5],
      ['end-to-end', 36, 5],
    ])
  })
})
