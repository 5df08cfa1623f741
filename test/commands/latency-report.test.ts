import {spawnSync} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {DuckDBWarehouse} from '../../src/lib/warehouse/duckdb/warehouse.js'
import {jsonResult, runCli} from '../helpers/cli.js'
import {tempDir} from '../helpers/tmp.js'
import {arrivalRows, createTable, testDir} from '../lib/latency/fixtures.js'

/** A DuckDB file with `logs` (arrival latencies 1..100 s) and `stream` (1..10 s), closed for the CLI to open. */
async function warehouse(): Promise<{dir: string; uri: string}> {
  const dir = testDir()
  const file = path.join(dir, 'w.duckdb')
  const wh = await DuckDBWarehouse.open(file)
  await createTable(wh, 'logs', arrivalRows(Array.from({length: 100}, (_, i) => i + 1)))
  await createTable(wh, 'stream', arrivalRows(Array.from({length: 10}, (_, i) => i + 1), {path: 'stream'}))
  await wh.close()
  return {dir, uri: `duckdb:${file}`}
}

const CHROMIUM = ['chromium', 'chromium-browser'].find((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0)

describe('seneka latency-report', () => {
  it('prints the report and exits 0 when every SLO is met', async () => {
    const {uri} = await warehouse()
    const r = await runCli(['latency-report', '--warehouse', uri, '--table', 'logs', '--bins', '10', '--slo', 'p99<=2m', '--slo', 'max<=100s'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('Latency (arrival: _ingested_at - _object_modified_at) of logs')
    expect(r.stdout).toMatch(/p99\.9\s+1m40s/)
    expect(r.stdout).toMatch(/1m30s \.\. 1m40s │█+\s+11/)
    expect(r.stdout).toContain('SLOs (logs): all met')
  })

  it('exits 11 when an SLO is breached and still prints the full report', async () => {
    const {uri} = await warehouse()
    const r = await runCli(['latency-report', '--warehouse', uri, '--table', 'logs', '--slo', 'p99<=6m', '--slo', 'p50<=30s'])
    expect(r.code).toBe(11)
    expect(r.stdout).toContain('Histogram of logs')
    expect(r.stdout).toMatch(/p50<=30s\s+BREACH\s+p50 = 50\.5s/)
    expect(r.stdout).toMatch(/p99<=6m\s+ok/)
  })

  it('prints one JSON document with latencies in seconds, and exits 11 on breach under --json too', async () => {
    const {uri} = await warehouse()
    const r = await runCli(['latency-report', '--warehouse', uri, '--table', 'logs', '--compare-table', 'stream', '--bins', '10', '--slo', 'p90<=1m', '--json'])
    expect(r.code).toBe(11)
    const j = jsonResult(r.stdout)
    expect(j).toMatchObject({table: 'logs', measure: 'arrival', count: 100, max: 100, quantiles: {exact: true}})
    expect(j.p50).toBeCloseTo(50.5, 9)
    expect(j.p99_9).toBeCloseTo(99.901, 9)
    for (const k of ['p90', 'p95', 'p99', 'mean', 'bins', 'negative', 'lateData']) expect(j).toHaveProperty(k)
    expect(j.bins).toHaveLength(10)
    expect(j.compare).toMatchObject({table: 'stream', count: 10, max: 10})
    expect(j.slo).toMatchObject({passed: false, checks: [{key: 'p90', status: 'breach'}]})
  })

  it('writes the CSV', async () => {
    const {uri, dir} = await warehouse()
    const file = path.join(dir, 'l.csv')
    const r = await runCli(['latency-report', '--warehouse', uri, '--table', 'logs', '--bins', '4', '--csv', file])
    expect(r.code).toBe(0)
    const lines = readFileSync(file, 'utf8').trim().split('\n')
    expect(lines[0]).toBe('table,group,metric,lo_seconds,hi_seconds,value')
    expect(lines).toContain('logs,,count,,,100')
    expect(lines).toContain('logs,,max,,,100')
    expect(lines).toContain('logs,,bin,0,25,24')
    expect(lines).toContain('logs,,bin,75,100,26')
  })

  it('says clearly when the range is empty, and does not fail', async () => {
    const {uri} = await warehouse()
    const r = await runCli(['latency-report', '--warehouse', uri, '--table', 'logs', '--since', '2030-01-01', '--until', '2030-01-02'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('No rows in range: nothing to report.')
    const slo = await runCli(['latency-report', '--warehouse', uri, '--table', 'logs', '--since', '2030-01-01', '--slo', 'p99<=6m'])
    expect(slo.code).toBe(11)
    expect(slo.stdout).toMatch(/p99<=6m\s+NO DATA/)
  })

  it('rejects bad input with a clear message and the usage/error exit codes', async () => {
    const {uri} = await warehouse()
    const bad = await runCli(['latency-report', '--warehouse', uri, '--table', 'logs', '--slo', 'p99=6m'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--slo "p99=6m" is not an SLO.')
    const missing = await runCli(['latency-report', '--warehouse', uri, '--table', 'nope'])
    expect(missing.code).toBe(2) // an unknown table or column is a usage error in every command
    expect(missing.stderr).toContain('The table nope does not exist')
    expect(missing.stderr).not.toMatch(/\n\s+at /)
    const transfer = await runCli(['latency-report', '--warehouse', uri, '--table', 'logs', '--measure', 'transfer'])
    expect(transfer.code).toBe(2)
    expect(transfer.stderr).toContain('--gcs-created-column')
  })

  it('documents measures, SLO syntax and exit codes in --help', async () => {
    const r = await runCli(['latency-report', '--help'])
    expect(r.code).toBe(0)
    for (const s of ['arrival', 'event', 'transfer', "p99<=6m", 'EXIT CODES', '11', '--late-threshold']) expect(r.stdout).toContain(s)
  })

  it('writes a self-contained HTML page that renders its bars in headless Chromium', async (ctx) => {
    const {uri, dir} = await warehouse()
    const file = path.join(dir, 'latency.html')
    const r = await runCli(['latency-report', '--warehouse', uri, '--table', 'logs', '--compare-table', 'stream', '--bins', '10', '--html', file])
    expect(r.code).toBe(0)
    const html = readFileSync(file, 'utf8')
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//)
    if (!CHROMIUM) {
      console.warn('skipped: chromium is not installed (Debian package "chromium"); the HTML page was not rendered')
      ctx.skip()
      return
    }
    const profile = tempDir('seneka-chromium')
    const png = path.join(dir, 'latency.png')
    const args = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
    ]
    const dom = spawnSync(CHROMIUM, [...args, '--virtual-time-budget=2000', '--dump-dom', `file://${file}`], {encoding: 'utf8', timeout: 60_000})
    expect(dom.status).toBe(0)
    const out = dom.stdout
    // the inline script ran and drew two charts: 10 bars each, with counts and bin labels
    expect(out).toContain('data-rendered="2"')
    expect(out.match(/<rect class="bar"/g)).toHaveLength(20)
    expect(out).toContain('data-table="logs"')
    expect(out).toContain('data-table="stream"')
    expect(out).toMatch(/<rect class="bar"[^>]*data-count="11"/)
    expect(out).toContain('<text class="count"')
    expect(out).toContain('1m30s .. 1m40s</text>')
    const shot = spawnSync(CHROMIUM, [...args, '--window-size=1200,900', `--screenshot=${png}`, `file://${file}`], {timeout: 60_000})
    expect(shot.status).toBe(0)
    expect(existsSync(png)).toBe(true)
    expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG')
  })
})
