/**
 * The latency chart of the HTML report as one static SVG (no script, no library): every table on the same
 * axes, a histogram (share of rows per bin) above a cumulative distribution, sharing one latency axis; p50/p99
 * marked per table and each SLO drawn as a line. Pure: data in, SVG text out.
 *
 * The x axis is the report's bin index (every bin the same width), so linear bins give a linear axis and log
 * bins a log axis, and the bars of every table line up bar for bar. Values (ticks, percentiles, SLO limits) are
 * placed by interpolating inside their bin (geometrically for log bins). Text widths are estimated generously
 * so that labels are spread apart, clamped inside the picture and never cut (the browser test checks the
 * real boxes).
 */
import {formatCount} from '../output/units.js'
import {formatDuration} from '../time.js'
import {worstStatus} from './slo.js'
import type {Bin, BinScale, SloCheck, SloEvaluation, SloKey} from './types.js'

export interface ChartSeries {
  table: string
  count: number
  bins: Bin[]
  p50: number | null
  p99: number | null
}

export interface ChartInput {
  /** the main table first, then the compare table */
  series: ChartSeries[]
  binScale: BinScale
  slo?: SloEvaluation
  /** e.g. "arrival latency (_ingested_at − _object_modified_at)" */
  axisTitle: string
}

/** Okabe-Ito blue and orange: apart for every common colour vision. */
export const SERIES_COLORS = ['#0072B2', '#E69F00']
const SLO_COLOR = '#C62828'

const W = 960
const LEFT = 70
const RIGHT = 40
const PLOT_W = W - LEFT - RIGHT
const FONT = 12
/** a generous average glyph width of the page's sans-serif at 12px, so estimates err on the wide side */
const CHAR_W = 7.2

function esc(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')
}

const r1 = (n: number): string => String(Math.round(n * 10) / 10)

function textWidth(s: string, font = FONT): number {
  return [...s].length * CHAR_W * (font / FONT)
}

/** A tick label: 0, 500ms, 10s, 2.5s, 1m, 1m30s, 1h, 1h30m, 1d, 1d 6h. */
export function tickLabel(seconds: number): string {
  if (seconds === 0) return '0'
  const sign = seconds < 0 ? '-' : ''
  const text = formatDuration(Math.abs(seconds) * 1000)
    .replace(/^(\d+)\.0s$/, '$1s')
    .replace(/^(\d+m)00s$/, '$1')
    .replace(/^(\d+h)00m$/, '$1')
    .replace(/^(\d+d) 0h$/, '$1')
  return sign + text
}

/** Maps latencies (seconds) to the bin-index axis and back. */
export class BinAxis {
  readonly n: number
  constructor(
    readonly bins: Bin[],
    readonly scale: BinScale,
  ) {
    this.n = bins.length
  }

  private logBin(b: Bin): boolean {
    return this.scale === 'log' && b.lo > 0
  }

  /** Where a latency lies on the axis: i + fraction inside bin i; beyond the last bin extrapolated. */
  index(v: number): number {
    const {bins, n} = this
    if (v < bins[0].lo) return this.below(v)
    for (let i = 0; i < n; i++) {
      const b = bins[i]
      if (v < b.lo) return i // the gap between the bin of latencies <= 0 and the smallest positive one
      if (v < b.hi || (i === n - 1 && v === b.hi)) {
        if (b.hi === b.lo) return i + 0.5
        const f = this.logBin(b) ? Math.log(v / b.lo) / Math.log(b.hi / b.lo) : (v - b.lo) / (b.hi - b.lo)
        return i + f
      }
    }
    const last = bins[n - 1]
    if (this.logBin(last)) return n + Math.log(v / last.hi) / Math.log(last.hi / last.lo)
    return n + (v - last.hi) / (last.hi - last.lo || 1)
  }

  /** Below the first bin (only an axis end can be): extrapolated on a linear axis, else the start. */
  private below(v: number): number {
    const b = this.bins[0]
    if (this.logBin(b)) return 0
    return (v - b.lo) / (b.hi - b.lo || 1)
  }

  /** The latency at a point of the axis at or beyond the last bin (to extend the axis for an SLO). */
  valueBeyond(index: number): number {
    const last = this.bins[this.n - 1]
    const k = index - this.n
    if (this.logBin(last)) return last.hi * (last.hi / last.lo) ** k
    return last.hi + k * (last.hi - last.lo)
  }
}

interface Tick {
  value: number
  index: number
  label: string
}

const LINEAR_STEPS = [
  0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600,
  43_200, 86_400, 172_800, 604_800, 1_209_600, 2_592_000, 7_776_000, 31_536_000,
]
const LOG_MAJOR = [0.001, 0.01, 0.1, 1, 10, 60, 600, 3600, 21_600, 86_400, 604_800, 2_592_000, 31_536_000]
const LOG_MEDIUM = [...LOG_MAJOR, 0.005, 0.05, 0.5, 5, 30, 300, 1800, 43_200, 172_800].sort((a, b) => a - b)
const LOG_ALL = [...LOG_MEDIUM, 0.002, 0.02, 0.2, 2, 20, 120, 1200, 7200, 10_800, 1_209_600, 7_776_000].sort((a, b) => a - b)

/** Ticks whose labels (estimated) keep at least `gap` px apart, or undefined when they do not. */
function spaced(ticks: Tick[], px: (index: number) => number, gap = 14): Tick[] | undefined {
  for (let i = 1; i < ticks.length; i++) {
    const a = ticks[i - 1]
    const b = ticks[i]
    if (px(b.index) - px(a.index) < (textWidth(a.label) + textWidth(b.label)) / 2 + gap) return undefined
  }
  return ticks
}

/** Latency ticks of the axis between index 0 and `maxIndex`, spaced so that their labels never touch. */
export function latencyTicks(axis: BinAxis, maxIndex: number, px: (index: number) => number): Tick[] {
  const first = axis.bins[0]
  const vMax = maxIndex > axis.n ? axis.valueBeyond(maxIndex) : axis.bins[axis.n - 1].hi
  const tick = (value: number): Tick => ({value, index: axis.index(value), label: tickLabel(value)})
  if (axis.scale === 'linear') {
    const vMin = first.lo
    for (const step of LINEAR_STEPS) {
      if ((vMax - vMin) / step > 60) continue
      const ticks: Tick[] = []
      for (let k = Math.ceil(vMin / step - 1e-9); k * step <= vMax * (1 + 1e-9); k++) ticks.push(tick(Number((k * step).toPrecision(12))))
      const ok = spaced(ticks, px)
      if (ok) return ok
    }
    return [tick(vMin), tick(vMax)]
  }
  // log bins: round time values, the roundest first (1s, 1m, 1h, 1d ...), each kept only where its label has
  // room; latencies <= 0 have their own first bin, labelled "≤0"
  const positive = axis.bins.find((b) => b.lo > 0) ?? first
  const lead: Tick[] = first.lo <= 0 && first.hi <= 0 ? [{value: 0, index: 0.5, label: '≤0'}] : []
  const within = (v: number): boolean => v >= positive.lo * (1 - 1e-9) && v <= vMax * (1 + 1e-9)
  const byRank = [...LOG_MAJOR, ...LOG_MEDIUM, ...LOG_ALL].filter((v, i, all) => all.indexOf(v) === i && within(v)).map(tick)
  if (byRank.length < 2) byRank.push(tick(positive.lo), tick(vMax))
  const kept: Tick[] = []
  for (const t of [...lead, ...byRank]) {
    if (kept.some((k) => k.value === t.value && k.label === t.label)) continue
    const trial = [...kept, t].sort((a, b) => a.index - b.index)
    if (spaced(trial, px)) kept.splice(0, kept.length, ...trial)
  }
  return kept
}

/** A step of 1, 2 or 5 times a power of ten giving at most `most` steps up to max. */
function niceStep(max: number, most: number): number {
  const raw = max / most
  const p = 10 ** Math.floor(Math.log10(raw))
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p
  return 10 * p
}

function pct(v: number, step: number): string {
  const decimals = step >= 1 ? 0 : Math.min(3, Math.ceil(-Math.log10(step)))
  return `${v.toFixed(decimals)}%`
}

interface Label {
  x: number
  text: string
  color: string
  cls: string
  attrs: string
  lane?: number
  left?: number
  width?: number
}

/** Puts labels in rows (lanes) above the plot so that none overlaps another; each stays inside the picture. */
function layoutLanes(labels: Label[]): number {
  const laneRight: number[] = []
  for (const l of [...labels].sort((a, b) => a.x - b.x)) {
    // labels are bold: estimated wider than plain text
    const width = textWidth(l.text) * 1.15 + 6
    const left = Math.min(Math.max(l.x - width / 2, 4), W - 4 - width)
    let lane = laneRight.findIndex((r) => r + 8 <= left)
    if (lane === -1) lane = laneRight.push(0) - 1
    laneRight[lane] = left + width
    Object.assign(l, {lane, left, width})
  }
  return laneRight.length
}

/** The quantile an SLO key bounds, in percent (mean has none). */
const SLO_QUANTILE: Record<SloKey, number | null> = {p50: 50, p90: 90, p95: 95, p99: 99, p99_9: 99.9, max: 100, mean: null}

function legend(items: Array<{swatch: string; text: string}>, top: number): {svg: string; height: number} {
  const out: string[] = []
  let x = LEFT
  let y = top + 14
  for (const it of items) {
    const w = 26 + textWidth(it.text) + 22
    if (x + w > W - 4 && x > LEFT) {
      x = LEFT
      y += 20
    }
    out.push(`<g class="legend-item" transform="translate(${r1(x)} ${r1(y)})">${it.swatch}<text class="legend" x="26" y="4">${esc(it.text)}</text></g>`)
    x += w
  }
  return {svg: `<g class="legend">${out.join('')}</g>`, height: y - top + 10}
}

/** The SLOs to draw, one per SLO text: the worst status over the gated tables and, with two, which fail. */
function sloLines(slo: SloEvaluation | undefined): Array<SloCheck & {failing: string[]}> {
  if (!slo) return []
  const texts = [...new Set(slo.checks.map((c) => c.text))]
  return texts.map((text) => {
    const of = slo.checks.filter((c) => c.text === text)
    const failing = slo.tables.length > 1 ? of.filter((c) => c.status !== 'pass').map((c) => c.table) : []
    return {...of[0], status: worstStatus(of), failing}
  })
}

/** The whole chart, or an empty string when no table has a measured row. */
export function latencyChart(input: ChartInput): string {
  const drawn = input.series.map((s, i) => ({...s, color: SERIES_COLORS[i % SERIES_COLORS.length], i})).filter((s) => s.count > 0 && s.bins.length > 0)
  if (drawn.length === 0) return ''
  const axis = new BinAxis(drawn[0].bins, input.binScale)
  const n = axis.n

  // the axis covers every bin, and the SLO limits when the data keeps at least a quarter of the width (linear)
  // or half of it (log); a limit further out is named at the right edge instead
  // one line per SLO, whatever the number of tables it gates; its status is the worst of them
  const sloChecks = sloLines(input.slo)
  const reach = (input.binScale === 'log' ? 2 : 4) * n
  let maxIndex = n
  for (const c of sloChecks) {
    const at = axis.index(c.limitSeconds)
    if (at > maxIndex && at <= reach) maxIndex = at
  }
  if (maxIndex > n) maxIndex += (maxIndex - 0) * 0.03
  const px = (index: number): number => LEFT + (index / maxIndex) * PLOT_W
  const inside = (index: number): boolean => index >= 0 && index <= maxIndex + 1e-9

  // legend: tables, then what the lines mean
  const dash = (d: string, color = '#333'): string => `<line x1="0" x2="20" y1="0" y2="0" stroke="${color}" stroke-width="2" stroke-dasharray="${d}"/>`
  const legendItems = [
    ...input.series.map((s, i) => ({
      swatch: `<rect x="0" y="-6" width="20" height="12" rx="2" fill="${SERIES_COLORS[i % SERIES_COLORS.length]}"/>`,
      text: `${s.table}: ${s.count > 0 ? `${formatCount(s.count)} ${s.count === 1 ? 'row' : 'rows'}` : 'no measured rows'}`,
    })),
    {swatch: dash('7 4'), text: 'p50'},
    {swatch: dash('2 3'), text: 'p99'},
    ...(sloChecks.length ? [{swatch: dash('none', SLO_COLOR), text: 'SLO limit'}] : []),
  ]
  const leg = legend(legendItems, 4)

  // marker labels above the histogram
  const labels: Label[] = []
  for (const s of drawn) {
    for (const [key, value] of [['p50', s.p50], ['p99', s.p99]] as const) {
      if (value === null) continue
      const at = axis.index(value)
      labels.push({
        x: px(at),
        text: `${key} ${tickLabel(value)}`,
        color: s.color,
        cls: 'marker-label',
        attrs: `data-key="${key}" data-table="${esc(s.table)}" data-value="${value}"`,
      })
    }
  }
  const offScale: string[] = []
  for (const c of sloChecks) {
    const at = axis.index(c.limitSeconds)
    const status = c.status === 'pass' ? 'met' : c.status === 'breach' ? 'BREACHED' : 'no data'
    const text = `SLO ${c.text}: ${status}${c.failing.length ? ` (${c.failing.join(', ')})` : ''}`
    if (inside(at)) {
      labels.push({x: px(at), text, color: SLO_COLOR, cls: 'slo-label', attrs: `data-key="${c.key}" data-status="${c.status}"`})
    } else {
      offScale.push(c.text)
      labels.push({
        x: W - RIGHT,
        text: `${text} (limit ${tickLabel(c.limitSeconds)} is off the chart →)`,
        color: SLO_COLOR,
        cls: 'slo-label off-scale',
        attrs: `data-key="${c.key}" data-status="${c.status}"`,
      })
    }
  }
  const lanes = layoutLanes(labels)
  const lanesTop = leg.height + 10
  const LANE_H = 17
  const histTop = lanesTop + lanes * LANE_H + 10
  const HIST_H = 240
  const histBottom = histTop + HIST_H
  const cdfTop = histBottom + 46
  const CDF_H = 210
  const cdfBottom = cdfTop + CDF_H
  const H = cdfBottom + 58

  const out: string[] = []
  out.push(
    `<svg class="latency-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-labelledby="chart-title" data-series="${drawn.length}" data-scale="${input.binScale}">`,
    `<title id="chart-title">Latency of ${esc(drawn.map((s) => s.table).join(' and '))}: histogram and cumulative distribution on one latency axis</title>`,
    leg.svg,
  )

  // x ticks and grid (shared by both panels)
  const ticks = latencyTicks(axis, maxIndex, px)
  const xTicks = (bottom: number, top: number): string =>
    ticks
      .map((t) => {
        const x = px(t.index)
        const half = textWidth(t.label) / 2
        const lx = Math.min(Math.max(x, half + 2), W - half - 2)
        const grid = t.label === '≤0' ? '' : `<line class="grid" x1="${r1(x)}" x2="${r1(x)}" y1="${top}" y2="${bottom}"/><line class="tick" x1="${r1(x)}" x2="${r1(x)}" y1="${bottom}" y2="${bottom + 5}"/>`
        return `${grid}<text class="tick-label x" x="${r1(lx)}" y="${bottom + 19}" text-anchor="middle">${esc(t.label)}</text>`
      })
      .join('')

  // panel 1: histogram, share of each table's rows per bin, bars side by side
  const shares = drawn.map((s) => s.bins.map((b) => (b.count / s.count) * 100))
  const maxShare = Math.max(...shares.flat(), 0.001)
  const yStep = niceStep(maxShare, 5)
  const yMax = Math.ceil(maxShare / yStep - 1e-9) * yStep
  const hy = (v: number): number => histBottom - (v / yMax) * HIST_H
  out.push(`<g class="panel histogram" data-panel="histogram">`)
  out.push(`<rect class="plot-area" x="${LEFT}" y="${histTop}" width="${PLOT_W}" height="${HIST_H}"/>`)
  const yTicks: string[] = []
  for (let v = 0; v <= yMax + 1e-9; v += yStep) {
    const y = hy(v)
    yTicks.push(`<line class="grid" x1="${LEFT}" x2="${W - RIGHT}" y1="${r1(y)}" y2="${r1(y)}"/><line class="tick" x1="${LEFT - 5}" x2="${LEFT}" y1="${r1(y)}" y2="${r1(y)}"/><text class="tick-label y" x="${LEFT - 8}" y="${r1(y + 4)}" text-anchor="end">${pct(v, yStep)}</text>`)
  }
  out.push(`<g class="axis y-axis" data-axis="histogram-y">${yTicks.join('')}</g>`)
  out.push(`<g class="axis x-axis">${xTicks(histBottom, histTop)}</g>`)
  const bars: string[] = []
  for (let i = 0; i < n; i++) {
    const x0 = px(i)
    const x1 = px(i + 1)
    const gap = Math.min(3, (x1 - x0) * 0.15)
    const bw = (x1 - x0 - gap) / drawn.length
    for (const [k, s] of drawn.entries()) {
      const b = s.bins[i]
      const share = shares[k][i]
      const y = hy(share)
      const h = histBottom - y
      bars.push(
        `<rect class="bar" x="${r1(x0 + gap / 2 + k * bw)}" y="${r1(y)}" width="${r1(Math.max(bw, 0.5))}" height="${r1(h)}" fill="${s.color}" data-table="${esc(s.table)}" data-count="${b.count}" data-lo="${b.lo}" data-hi="${b.hi}"><title>${esc(`${s.table}: ${tickLabel(b.lo)} .. ${tickLabel(b.hi)}: ${formatCount(b.count)} ${b.count === 1 ? 'row' : 'rows'} (${share.toFixed(1)}%)`)}</title></rect>`,
      )
    }
  }
  out.push(`<g class="bars">${bars.join('')}</g>`)
  out.push(`<line class="axis-line" x1="${LEFT}" x2="${W - RIGHT}" y1="${histBottom}" y2="${histBottom}"/><line class="axis-line" x1="${LEFT}" x2="${LEFT}" y1="${histTop}" y2="${histBottom}"/>`)
  out.push(`<text class="axis-title" transform="translate(16 ${r1((histTop + histBottom) / 2)}) rotate(-90)" text-anchor="middle">rows per bin (% of table)</text>`)
  out.push('</g>')

  // panel 2: cumulative distribution
  const cy = (v: number): number => cdfBottom - (v / 100) * CDF_H
  out.push(`<g class="panel cdf" data-panel="cdf">`)
  out.push(`<rect class="plot-area" x="${LEFT}" y="${cdfTop}" width="${PLOT_W}" height="${CDF_H}"/>`)
  const cTicks: string[] = []
  for (const v of [0, 25, 50, 75, 100]) {
    const y = cy(v)
    cTicks.push(`<line class="grid" x1="${LEFT}" x2="${W - RIGHT}" y1="${r1(y)}" y2="${r1(y)}"/><line class="tick" x1="${LEFT - 5}" x2="${LEFT}" y1="${r1(y)}" y2="${r1(y)}"/><text class="tick-label y" x="${LEFT - 8}" y="${r1(y + 4)}" text-anchor="end">${v}%</text>`)
  }
  for (const [q, name] of [[50, 'p50'], [99, 'p99']] as const) {
    const y = cy(q)
    cTicks.push(`<line class="guide" x1="${LEFT}" x2="${W - RIGHT}" y1="${r1(y)}" y2="${r1(y)}"/><text class="guide-label" x="${W - RIGHT + 4}" y="${r1(y + (q === 99 ? 9 : 4))}">${name}</text>`)
  }
  out.push(`<g class="axis y-axis" data-axis="cdf-y">${cTicks.join('')}</g>`)
  out.push(`<g class="axis x-axis">${xTicks(cdfBottom, cdfTop)}</g>`)
  for (const s of drawn) {
    let cum = 0
    const pts = [`${r1(px(0))},${r1(cy(0))}`]
    for (let i = 0; i < n; i++) {
      cum += s.bins[i].count
      pts.push(`${r1(px(i + 1))},${r1(cy((cum / s.count) * 100))}`)
    }
    out.push(`<polyline class="cdf-line" points="${pts.join(' ')}" stroke="${s.color}" data-table="${esc(s.table)}"><title>${esc(`${s.table}: share of rows at or below each latency`)}</title></polyline>`)
  }
  out.push(`<line class="axis-line" x1="${LEFT}" x2="${W - RIGHT}" y1="${cdfBottom}" y2="${cdfBottom}"/><line class="axis-line" x1="${LEFT}" x2="${LEFT}" y1="${cdfTop}" y2="${cdfBottom}"/>`)
  out.push(`<text class="axis-title" transform="translate(16 ${r1((cdfTop + cdfBottom) / 2)}) rotate(-90)" text-anchor="middle">rows at or below (%)</text>`)
  out.push('</g>')

  // p50/p99 markers through both panels, SLO limits as solid lines, labels in lanes above
  const lines: string[] = []
  const texts: string[] = []
  for (const l of labels) {
    const ly = lanesTop + l.lane! * LANE_H
    const isSlo = l.cls.startsWith('slo')
    const offscale = l.cls.includes('off-scale')
    if (!offscale) {
      const x = r1(l.x)
      const d = isSlo ? '' : l.text.startsWith('p50') ? ' stroke-dasharray="7 4"' : ' stroke-dasharray="2 3"'
      const cls = isSlo ? 'slo-line' : 'marker'
      lines.push(
        `<g class="${cls}" ${l.attrs}><line x1="${x}" x2="${x}" y1="${r1(ly + LANE_H - 2)}" y2="${histBottom}" stroke="${l.color}"${d}/><line x1="${x}" x2="${x}" y1="${cdfTop}" y2="${cdfBottom}" stroke="${l.color}"${d}/></g>`,
      )
    }
    // a label pushed off its line by an edge keeps that edge exact: anchored at its start (or end) there
    const [ax, anchor] =
      l.left! <= 4 ? [l.left!, 'start'] : l.left! + l.width! >= W - 4 ? [l.left! + l.width!, 'end'] : [l.left! + l.width! / 2, 'middle']
    texts.push(`<text class="${l.cls}" x="${r1(ax)}" y="${r1(ly + 12)}" text-anchor="${anchor}" style="fill: ${l.color}" ${l.attrs}>${esc(l.text)}</text>`)
  }
  // on the distribution: where each table crosses 50% and 99%, and each SLO as its (limit, quantile) corner
  for (const s of drawn) {
    for (const [q, value] of [[50, s.p50], [99, s.p99]] as const) {
      if (value === null) continue
      lines.push(`<circle class="marker-dot" cx="${r1(px(axis.index(value)))}" cy="${r1(cy(q))}" r="4" fill="${s.color}" data-table="${esc(s.table)}" data-quantile="${q}"/>`)
    }
  }
  for (const c of sloChecks) {
    const at = axis.index(c.limitSeconds)
    const q = SLO_QUANTILE[c.key]
    if (!inside(at) || q === null) continue
    const x = px(at)
    lines.push(`<path class="slo-corner" d="M${r1(LEFT)} ${r1(cy(q))} H${r1(x)}" stroke="${SLO_COLOR}" data-key="${c.key}"/>`)
  }
  out.push(`<g class="markers">${lines.join('')}</g><g class="labels">${texts.join('')}</g>`)
  out.push(`<text class="axis-title x" x="${r1(LEFT + PLOT_W / 2)}" y="${cdfBottom + 44}" text-anchor="middle">${esc(input.axisTitle)}${input.binScale === 'log' ? ' (log scale)' : ''}</text>`)
  out.push('</svg>')
  return out.join('\n')
}

/** The CSS the chart needs (the page inlines it). */
export const CHART_CSS = `
svg.latency-chart { width: 100%; height: auto; max-width: ${W}px; display: block; font: ${FONT}px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
svg.latency-chart text { fill: #333; }
svg.latency-chart .plot-area { fill: #fcfcfc; }
svg.latency-chart .grid { stroke: #e6e6e6; stroke-width: 1; }
svg.latency-chart .tick, svg.latency-chart .axis-line { stroke: #555; stroke-width: 1; }
svg.latency-chart .guide { stroke: #999; stroke-width: 1; stroke-dasharray: 1 3; }
svg.latency-chart .guide-label { fill: #666; font-size: 11px; }
svg.latency-chart .tick-label { fill: #444; }
svg.latency-chart .axis-title { fill: #555; font-size: 12px; }
svg.latency-chart .cdf-line { fill: none; stroke-width: 2.5; stroke-linejoin: round; }
svg.latency-chart .marker line { stroke-width: 1.6; }
svg.latency-chart .slo-line line { stroke-width: 2.2; }
svg.latency-chart .slo-corner { fill: none; stroke-width: 1.5; stroke-dasharray: 5 3; }
svg.latency-chart .marker-dot { stroke: #fff; stroke-width: 1.5; }
svg.latency-chart .labels text { font-weight: 600; paint-order: stroke; stroke: #fff; stroke-width: 4px; stroke-linejoin: round; }
svg.latency-chart .legend { font-size: 12px; }
`
