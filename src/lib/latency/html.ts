import {formatCount} from '../output/units.js'
import {binLabel, formatSeconds} from './render.js'
import type {LatencyResult, SloEvaluation, TableLatency} from './types.js'

function esc(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')
}

interface ChartData {
  table: string
  bins: Array<{lo: number; hi: number; count: number; label: string; countLabel: string}>
}

function chartData(t: TableLatency): ChartData {
  return {table: t.table, bins: t.bins.map((b) => ({...b, label: binLabel(b), countLabel: formatCount(b.count)}))}
}

const STATS: Array<[string, (t: TableLatency) => string]> = [
  ['count', (t) => formatCount(t.count)],
  ['mean', (t) => formatSeconds(t.mean)],
  ['p50', (t) => formatSeconds(t.p50)],
  ['p90', (t) => formatSeconds(t.p90)],
  ['p95', (t) => formatSeconds(t.p95)],
  ['p99', (t) => formatSeconds(t.p99)],
  ['p99.9', (t) => formatSeconds(t.p99_9)],
  ['max', (t) => formatSeconds(t.max)],
  ['negative (clock skew)', (t) => (t.negative.count ? `${formatCount(t.negative.count)} (min ${formatSeconds(t.negative.min)})` : '0')],
  ['late rows', (t) => (t.lateData ? `${formatCount(t.lateData.late)} (${(t.lateData.share * 100).toFixed(2)}%)` : '-')],
]

// Draws one SVG bar chart per table from the embedded data: no network, no library.
const SCRIPT = `
(function () {
  var data = JSON.parse(document.getElementById('latency-data').textContent);
  var NS = 'http://www.w3.org/2000/svg';
  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  var root = document.getElementById('charts');
  data.charts.forEach(function (c) {
    var fig = document.createElement('figure');
    var cap = document.createElement('figcaption');
    cap.textContent = c.table;
    fig.appendChild(cap);
    var n = c.bins.length, bw = 36, gap = 4, top = 24, h = 220, left = 10, bottom = 110;
    var W = left * 2 + n * (bw + gap), H = top + h + bottom;
    var svg = el('svg', {'class': 'histogram', 'data-table': c.table, width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img'});
    svg.appendChild(el('title', {}, 'Latency histogram of ' + c.table));
    var max = Math.max.apply(null, c.bins.map(function (b) { return b.count; }).concat([1]));
    c.bins.forEach(function (b, i) {
      var x = left + i * (bw + gap), bh = Math.round(b.count / max * h), y = top + h - bh;
      var r = el('rect', {'class': 'bar', x: x, y: y, width: bw, height: bh, 'data-count': b.count, 'data-lo': b.lo, 'data-hi': b.hi});
      r.appendChild(el('title', {}, b.label + ': ' + b.countLabel + ' rows'));
      svg.appendChild(r);
      svg.appendChild(el('text', {'class': 'count', x: x + bw / 2, y: y - 4, 'text-anchor': 'middle'}, b.countLabel));
      var lx = x + bw / 2, ly = top + h + 8;
      svg.appendChild(el('text', {'class': 'bin-label', x: lx, y: ly, transform: 'rotate(60 ' + lx + ' ' + ly + ')'}, b.label));
    });
    svg.appendChild(el('line', {x1: left, x2: W - left, y1: top + h, y2: top + h, stroke: '#444'}));
    fig.appendChild(svg);
    root.appendChild(fig);
  });
  document.body.setAttribute('data-rendered', String(data.charts.length));
})();
`

/** A self-contained HTML page (inline CSS, data and script; nothing fetched) with the histograms and percentiles. */
export function latencyHtml(r: LatencyResult, slo?: SloEvaluation): string {
  const parts = [r, ...(r.compare ? [r.compare] : [])]
  const data = {charts: parts.filter((p) => p.bins.length > 0).map(chartData)}
  const json = JSON.stringify(data).replaceAll('<', '\\u003c')
  const head = `<tr><th></th>${parts.map((p) => `<th>${esc(p.table)}</th>`).join('')}</tr>`
  const body = STATS.map(([name, f]) => `<tr><th>${esc(name)}</th>${parts.map((p) => `<td>${esc(f(p))}</td>`).join('')}</tr>`).join('\n')
  const range = `${r.range.since ?? '-∞'} .. ${r.range.until ?? '+∞'}`
  const sloHtml = slo
    ? `<h2>SLOs: ${slo.passed ? 'met' : 'BREACHED'}</h2><ul class="slo">${slo.checks
        .map((c) => `<li class="${c.status}">${esc(c.text)}: ${c.status} (${esc(c.key)} = ${esc(formatSeconds(c.actual))})</li>`)
        .join('')}</ul>`
    : ''
  const empty = data.charts.length === 0 ? '<p class="empty">No measured rows in range: nothing to chart.</p>' : ''
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>Latency: ${esc(parts.map((p) => p.table).join(' vs '))}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 2px 12px; text-align: right; border-bottom: 1px solid #ddd; }
th:first-child { text-align: left; }
#charts { display: flex; flex-wrap: wrap; gap: 2em; }
figcaption { font-weight: bold; }
.bar { fill: #3b7dd8; }
.count { font-size: 10px; }
.bin-label { font-size: 10px; fill: #555; }
.breach, .no-data { color: #b00; font-weight: bold; }
</style>
</head>
<body>
<h1>Latency report</h1>
<p>Measure <b>${esc(r.measure)}</b> = ${esc(r.definition)}; rows with ${esc(r.range.column)} in ${esc(range)}; ${esc(r.binScale)} bins.
Quantiles are ${r.quantiles.exact ? 'exact' : 'approximate'} (${esc(r.quantiles.method)}).</p>
<table class="stats">
${head}
${body}
</table>
${sloHtml}
${empty}
<div id="charts"></div>
<script type="application/json" id="latency-data">${json}</script>
<script>${SCRIPT}</script>
</body>
</html>
`
}
