import {formatCount} from '../output/units.js'
import {CHART_CSS, latencyChart, SERIES_COLORS} from './chart.js'
import {formatSeconds} from './render.js'
import type {LatencyResult, SloEvaluation, TableLatency} from './types.js'

function esc(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')
}

const STATS: Array<[string, (t: TableLatency) => string]> = [
  ['rows measured', (t) => formatCount(t.count)],
  ['unmeasured', (t) => formatCount(t.unmeasured)],
  ['mean', (t) => formatSeconds(t.mean)],
  ['min', (t) => formatSeconds(t.min)],
  ['p50', (t) => formatSeconds(t.p50)],
  ['p90', (t) => formatSeconds(t.p90)],
  ['p95', (t) => formatSeconds(t.p95)],
  ['p99', (t) => formatSeconds(t.p99)],
  ['p99.9', (t) => formatSeconds(t.p99_9)],
  ['max', (t) => formatSeconds(t.max)],
  ['negative (clock skew)', (t) => (t.negative.count ? `${formatCount(t.negative.count)} (min ${formatSeconds(t.negative.min)})` : '0')],
  ['late rows', (t) => (!t.lateData ? '-' : t.lateData.rows === 0 && t.lateData.backfilled > 0 ? 'backfilled (not counted)' : `${formatCount(t.lateData.late)} (${(t.lateData.share * 100).toFixed(2)}%)`)],
]

/** An instant of the range for people: 2024-05-01 06:00 UTC (seconds and milliseconds only when present). */
export function formatInstant(iso: string): string {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  const s = d.toISOString()
  const time = s.endsWith(':00.000Z') ? s.slice(11, 16) : s.endsWith('.000Z') ? s.slice(11, 19) : s.slice(11, 23)
  return `${s.slice(0, 10)} ${time} UTC`
}

/** The rows the report covers, in words: "all rows", or the event-time range (since inclusive, until exclusive). */
export function rangeText(range: LatencyResult['range']): string {
  const {since, until, column} = range
  if (since && until) return `rows with ${column} from ${formatInstant(since)} to ${formatInstant(until)} (exclusive)`
  if (since) return `rows with ${column} from ${formatInstant(since)} on`
  if (until) return `rows with ${column} before ${formatInstant(until)}`
  return 'all rows'
}

function verdict(slo: SloEvaluation): string {
  const items = slo.checks
    .map((c) => {
      const status = c.status === 'pass' ? 'met' : c.status === 'breach' ? 'BREACHED' : 'no data (counts as breached)'
      const actual = c.actual === null ? 'no rows' : `${c.key === 'p99_9' ? 'p99.9' : c.key} = ${formatSeconds(c.actual)}`
      const of = slo.tables.length > 1 ? ` on ${c.table}` : ''
      return `<li class="${c.status}" data-table="${esc(c.table)}"><b>${esc(c.text)}</b>${esc(of)}: ${esc(status)} (${esc(actual)})</li>`
    })
    .join('')
  return `<section class="verdict ${slo.passed ? 'pass' : 'fail'}"><h2>SLOs of ${esc(slo.tables.join(' and '))}: ${slo.passed ? 'all met' : 'BREACHED'}</h2><ul class="slo">${items}</ul></section>`
}

/**
 * A self-contained HTML page (inline CSS and SVG; no script, nothing fetched, a Content-Security-Policy that
 * forbids any load) with the chart, the statistics and the SLO verdicts. Pure: result in, HTML out.
 */
export function latencyHtml(r: LatencyResult, slo?: SloEvaluation): string {
  const parts = [r, ...(r.compare ? [r.compare] : [])]
  const title = parts.map((p) => p.table).join(' vs ')
  const chart = latencyChart({
    series: parts.map((p) => ({table: p.table, count: p.count, bins: p.bins, p50: p.p50, p99: p.p99})),
    binScale: r.binScale,
    slo,
    axisTitle: `${r.measure} latency (${r.definition.replace(' - ', ' − ')})`,
  })
  const swatch = (i: number): string => `<span class="swatch" style="background: ${SERIES_COLORS[i % SERIES_COLORS.length]}"></span>`
  const head = `<tr><th></th>${parts.map((p, i) => `<th>${swatch(i)}${esc(p.table)}</th>`).join('')}</tr>`
  const body = STATS.map(([name, f]) => `<tr><th>${esc(name)}</th>${parts.map((p) => `<td>${esc(f(p))}</td>`).join('')}</tr>`).join('\n')
  const measured = parts.map((p) => `${p.table} ${formatCount(p.count)}`).join(', ')
  const unmeasured = parts.reduce((s, p) => s + p.unmeasured, 0)
  const empty = chart
    ? ''
    : `<p class="empty">${unmeasured > 0 ? `No latency to chart: ${formatCount(unmeasured)} rows are in range but none has both timestamps.` : 'No measured rows in range: nothing to chart. Check --since/--until and --table.'}</p>`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Latency: ${esc(title)}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5em auto; padding: 0 1.5em; max-width: 1000px; color: #222; }
h1 { font-size: 1.5em; margin: 0 0 .2em; overflow-wrap: anywhere; }
h2 { font-size: 1.1em; margin: 0 0 .3em; }
.subtitle { color: #555; margin: 0 0 1em; overflow-wrap: anywhere; }
.verdict { border-left: 5px solid; padding: .5em 1em; margin: 0 0 1em; }
.verdict.pass { border-color: #2e7d32; background: #f1f8f1; }
.verdict.fail { border-color: #c62828; background: #fdf1f1; }
.verdict.fail h2 { color: #c62828; }
.verdict ul { margin: 0; padding-left: 1.2em; }
.verdict li.breach, .verdict li.no-data { color: #c62828; }
figure { margin: 0 0 1.5em; }
figcaption { color: #555; font-size: .9em; margin-top: .3em; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 14px; text-align: right; border-bottom: 1px solid #ddd; overflow-wrap: anywhere; }
th:first-child { text-align: left; font-weight: normal; color: #555; }
.swatch { display: inline-block; width: .8em; height: .8em; border-radius: 2px; margin-right: .4em; vertical-align: -0.05em; }
.empty { color: #b00; font-weight: bold; }
${CHART_CSS}
</style>
</head>
<body data-charts="${chart ? 1 : 0}">
<h1>Latency: ${esc(title)}</h1>
<p class="subtitle">${esc(r.measure)} latency = ${esc(r.definition.replace(' - ', ' − '))} · ${esc(rangeText(r.range))} · rows measured: ${esc(measured)} · ${r.binCount} ${esc(r.binScale)} bins · quantiles ${r.quantiles.exact ? 'exact' : 'approximate'} (${esc(r.quantiles.method)})</p>
${slo ? verdict(slo) : ''}
${chart ? `<figure>\n${chart}\n<figcaption>Top: the share of each table's rows in each latency bin (bins shared by both tables). Bottom: the share of rows at or below each latency, drawn from the bins; the dots are the exact p50 and p99. Dashed lines: p50; dotted: p99${slo ? '; red: the SLO limits' : ''}. Hover a bar for its row count.</figcaption>\n</figure>` : empty}
<table class="stats">
${head}
${body}
</table>
</body>
</html>
`
}
