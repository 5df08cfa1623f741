import {spawnSync} from 'node:child_process'
import {copyFileSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import type {Page} from 'playwright-core'
import {describe, expect, it} from 'vitest'
import {DuckDBWarehouse} from '../../src/lib/warehouse/duckdb/warehouse.js'
import LatencyReport from '../../src/commands/latency-report.js'
import {jsonResult, runCli, runCommand} from '../helpers/cli.js'
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

/** The Chromium to render pages with (Debian's package "chromium"), or undefined when it is not installed. */
const CHROMIUM = ['chromium', 'chromium-browser']
  .map((c) => spawnSync('sh', ['-c', `command -v ${c}`], {encoding: 'utf8'}))
  .find((r) => r.status === 0 && r.stdout.trim())
  ?.stdout.trim()

interface Box {
  text: string
  x: number
  y: number
  r: number
  bottom: number
  w: number
}
interface TextBoxes {
  svg: Box
  texts: Box[]
  scroll: number
  width: number
}
// in-page scripts as text: the project's TypeScript has no DOM library
/** The boxes of the chart and of every text in it, and whether the page scrolls sideways. */
const TEXT_BOXES = `(() => {
  const box = (e) => { const b = e.getBoundingClientRect(); return {text: e.textContent || '', x: b.x, y: b.y, r: b.right, bottom: b.bottom, w: b.width} }
  const svg = document.querySelector('svg.latency-chart')
  return {svg: box(svg), texts: [...svg.querySelectorAll('text')].map(box), scroll: document.documentElement.scrollWidth, width: window.innerWidth}
})()`

interface PixelStats {
  width: number
  height: number
  nonWhite: number
  blue: number
  orange: number
}
/** Decodes the image #shot and counts its non-white pixels and those of the two series colours. */
const PIXEL_STATS = `(async () => {
  const img = document.getElementById('shot')
  await img.decode()
  const canvas = document.createElement('canvas')
  canvas.width = img.naturalWidth
  canvas.height = img.naturalHeight
  const g = canvas.getContext('2d')
  g.drawImage(img, 0, 0)
  const px = g.getImageData(0, 0, canvas.width, canvas.height).data
  let nonWhite = 0, blue = 0, orange = 0
  for (let i = 0; i < px.length; i += 4) {
    const r = px[i], gr = px[i + 1], b = px[i + 2]
    if (r < 235 || gr < 235 || b < 235) nonWhite++
    if (r < 20 && Math.abs(gr - 114) < 12 && Math.abs(b - 178) < 12) blue++
    if (Math.abs(r - 230) < 12 && Math.abs(gr - 159) < 12 && b < 20) orange++
  }
  return {width: canvas.width, height: canvas.height, nonWhite: nonWhite / (px.length / 4), blue, orange}
})()`

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/**
 * Opens a page from file:// in headless Chromium (a fresh profile), runs the checks, and fails on any console
 * error, page error, failed request or request that is not the page itself. Returns a full-page screenshot
 * and the counts of its pixels.
 */
async function inChromium(file: string, check: (page: Page) => Promise<void>): Promise<Screenshot> {
  const {chromium} = await import('playwright-core')
  const context = await chromium.launchPersistentContext(tempDir('seneka-chromium'), {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    viewport: {width: 1200, height: 900},
    offline: true,
  })
  try {
    const page = await context.newPage()
    const problems: string[] = []
    const url = pathToFileURL(file).href
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`)
    })
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
    page.on('requestfailed', (q) => problems.push(`failed request: ${q.url()}`))
    page.on('request', (q) => {
      if (q.url() !== url) problems.push(`request: ${q.url()}`)
    })
    await page.goto(url, {waitUntil: 'load'})
    await check(page)
    const png = await page.screenshot({fullPage: true})
    expect(problems).toEqual([])
    // decode the screenshot in a second, blank page of the same browser
    const decoder = await context.newPage()
    await decoder.setContent(`<img id="shot" src="data:image/png;base64,${png.toString('base64')}">`)
    return {png, pixels: await decoder.evaluate<PixelStats>(PIXEL_STATS)}
  } finally {
    await context.close()
  }
}

interface Screenshot {
  png: Buffer
  pixels: PixelStats
}

/**
 * Saves the screenshot in the test's temp folder (also in $SENEKA_SCREENSHOT_DIR when set, to look at) and
 * checks it is a real picture: a PNG of some size whose pixels are not all one colour, holding both series'
 * colours.
 */
function expectPicture({png, pixels}: Screenshot, dir: string, name: string): void {
  const file = path.join(dir, `${name}.png`)
  writeFileSync(file, png)
  if (process.env.SENEKA_SCREENSHOT_DIR) copyFileSync(file, path.join(process.env.SENEKA_SCREENSHOT_DIR, `${name}.png`))
  expect(png.subarray(1, 4).toString()).toBe('PNG')
  expect(statSync(file).size).toBeGreaterThan(30_000)
  expect(pixels.width).toBe(1200)
  expect(pixels.height).toBeGreaterThan(900)
  expect(pixels.nonWhite).toBeGreaterThan(0.02)
  expect(pixels.blue).toBeGreaterThan(500)
  expect(pixels.orange).toBeGreaterThan(500)
}

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

  it('gates the --compare-table too: exit 11, the text, the JSON and the HTML banner name the table that breaches', async () => {
    const {uri, dir} = await warehouse()
    const html = path.join(dir, 'l.html')
    // stream (1..10 s) meets p99<=30s; logs (1..100 s), the compare table, does not
    const r = await runCommand(LatencyReport, ['--warehouse', uri, '--table', 'stream', '--compare-table', 'logs', '--slo', 'p99<=30s', '--html', html])
    expect(r.code).toBe(11)
    expect(r.stdout).toContain('SLOs (stream, logs): BREACHED')
    expect(r.stdout).toMatch(/p99<=30s\s+stream\s+ok/)
    expect(r.stdout).toMatch(/p99<=30s\s+logs\s+BREACH\s+p99 = 1m39s/)
    expect(r.result).toMatchObject({slo: {passed: false, tables: ['stream', 'logs'], checks: [{table: 'stream', status: 'pass'}, {table: 'logs', status: 'breach'}]}})
    const page = readFileSync(html, 'utf8')
    expect(page).toContain('<section class="verdict fail"><h2>SLOs of stream and logs: BREACHED</h2>')
    expect(page).toContain('SLO p99&lt;=30s: BREACHED (logs)')
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
    expect(j.slo).toMatchObject({passed: false, tables: ['logs', 'stream'], checks: [{key: 'p90', table: 'logs', status: 'breach'}, {key: 'p90', table: 'stream', status: 'pass'}]})
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

  it('writes a self-contained HTML page: both tables on shared axes, histogram and CDF, p50/p99 and the SLO, no label cut (headless Chromium)', async (ctx) => {
    const {uri, dir} = await warehouse()
    const file = path.join(dir, 'latency.html')
    const r = await runCli(['latency-report', '--warehouse', uri, '--table', 'logs', '--compare-table', 'stream', '--bins', '10', '--slo', 'p99<5m', '--html', file])
    expect(r.code).toBe(0)
    const html = readFileSync(file, 'utf8')
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//)
    expect(html).not.toContain('<script')
    expect(html).toContain("default-src 'none'")
    expect(html).toContain('all rows') // no --since/--until: the subtitle says so (no "-inf .. +inf")
    expect(html).not.toContain('∞')
    if (!CHROMIUM) {
      console.warn('skipped: chromium is not installed (Debian package "chromium"); the HTML page was not rendered')
      ctx.skip()
      return
    }
    const shot = await inChromium(file, async (page) => {
      const chart = page.locator('svg.latency-chart')
      expect(await chart.count()).toBe(1) // one picture: both tables on the same axes
      expect(await chart.getAttribute('data-series')).toBe('2')
      for (const table of ['logs', 'stream']) {
        expect(await page.locator(`rect.bar[data-table="${table}"]`).count()).toBe(10)
        expect(await page.locator(`polyline.cdf-line[data-table="${table}"]`).count()).toBe(1)
        for (const key of ['p50', 'p99']) expect(await page.locator(`g.marker[data-key="${key}"][data-table="${table}"]`).count()).toBe(1)
        expect(await page.locator(`circle.marker-dot[data-table="${table}"]`).count()).toBe(2)
      }
      expect(await page.locator('rect.bar[data-table="logs"][data-count="11"]').count()).toBe(1)
      // y axes with ticks on both panels, one shared latency axis with ticks under each
      expect(await page.locator('[data-axis="histogram-y"] .tick-label').count()).toBeGreaterThanOrEqual(3)
      expect(await page.locator('[data-axis="cdf-y"] .tick-label').allTextContents()).toEqual(['0%', '25%', '50%', '75%', '100%'])
      const xLabels = await page.locator('[data-panel="histogram"] .x-axis .tick-label').allTextContents()
      expect(xLabels.length).toBeGreaterThanOrEqual(3)
      expect(await page.locator('[data-panel="cdf"] .x-axis .tick-label').allTextContents()).toEqual(xLabels)
      // the SLO (5m, beyond the data's 100 s) is drawn as a line, the axis extended to hold it
      const slo = page.locator('g.slo-line[data-key="p99"]')
      expect(await slo.count()).toBe(1)
      expect(await slo.getAttribute('data-status')).toBe('pass')
      expect(await page.locator('text.slo-label').textContent()).toBe('SLO p99<5m: met')
      expect(xLabels).toContain('5m')
      // no text leaves the picture, and no two labels of one row overlap
      const boxes = await page.evaluate<TextBoxes>(TEXT_BOXES)
      expect(boxes.texts.length).toBeGreaterThan(20)
      const outside = boxes.texts.filter((t) => t.w === 0 || t.x < boxes.svg.x - 0.5 || t.r > boxes.svg.r + 0.5 || t.y < boxes.svg.y - 0.5 || t.bottom > boxes.svg.bottom + 0.5)
      expect(outside).toEqual([])
      const overlapping = boxes.texts.flatMap((a, i) =>
        boxes.texts.slice(i + 1).filter((b) => a.x < b.r && b.x < a.r && a.y < b.bottom && b.y < a.bottom).map((b) => `${a.text} / ${b.text}`),
      )
      expect(overlapping).toEqual([])
      expect(boxes.scroll).toBeLessThanOrEqual(boxes.width) // the page does not scroll sideways
    })
    expectPicture(shot, dir, 'latency-linear')
  })

  it('draws log bins on a log axis and says when an SLO limit lies off the chart (headless Chromium)', async (ctx) => {
    const {uri, dir} = await warehouse()
    const file = path.join(dir, 'latency-log.html')
    const r = await runCli([
      'latency-report', '--warehouse', uri, '--table', 'stream', '--compare-table', 'logs', '--bin-scale', 'log', '--since', '2024-05-01', '--until', '2024-05-02T06:00:00Z',
      '--slo', 'p99<1d', '--slo', 'p50<=2s', '--html', file,
    ])
    expect(r.code).toBe(11)
    const html = readFileSync(file, 'utf8')
    expect(html).toContain('rows with event_time from 2024-05-01 00:00 UTC to 2024-05-02 06:00 UTC (exclusive)')
    if (!CHROMIUM) {
      console.warn('skipped: chromium is not installed (Debian package "chromium"); the HTML page was not rendered')
      ctx.skip()
      return
    }
    const shot = await inChromium(file, async (page) => {
      expect(await page.locator('svg.latency-chart').getAttribute('data-scale')).toBe('log')
      expect(await page.locator('rect.bar[data-table="stream"]').count()).toBe(20)
      expect(await page.locator('text.off-scale').textContent()).toBe('SLO p99<1d: met (limit 1d is off the chart →)')
      expect(await page.locator('g.slo-line[data-key="p50"][data-status="breach"]').count()).toBe(1)
      expect(await page.locator('.verdict.fail h2').textContent()).toBe('SLOs of stream and logs: BREACHED')
      const boxes = await page.evaluate<TextBoxes>(TEXT_BOXES)
      const outside = boxes.texts.filter((t) => t.x < boxes.svg.x - 0.5 || t.r > boxes.svg.r + 0.5 || t.y < boxes.svg.y - 0.5 || t.bottom > boxes.svg.bottom + 0.5)
      expect(outside).toEqual([])
    })
    expectPicture(shot, dir, 'latency-log')
  })
})
