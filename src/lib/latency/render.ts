import {renderBlock} from '../output/table.js'
import {formatCount} from '../output/units.js'
import {plural} from '../output/words.js'
import {formatDuration} from '../time.js'
import type {Bin, Hop, LatencyResult, LatencyStats, SloEvaluation, TableLatency} from './types.js'

/** A latency in seconds for people: 850ms, 12.5s, 5m12s, 1h02m, 1d 2h; negative latencies keep their sign. */
export function formatSeconds(s: number | null): string {
  if (s === null) return '-'
  const ms = s * 1000
  if (ms < 0) return `-${formatDuration(-ms)}`
  return formatDuration(ms)
}

export function binLabel(b: Bin): string {
  return `${formatSeconds(b.lo)} .. ${formatSeconds(b.hi)}`
}

const STAT_ROWS: Array<[string, (s: LatencyStats) => string]> = [
  ['count', (s) => formatCount(s.count)],
  ['mean', (s) => formatSeconds(s.mean)],
  ['min', (s) => formatSeconds(s.min)],
  ['p50', (s) => formatSeconds(s.p50)],
  ['p90', (s) => formatSeconds(s.p90)],
  ['p95', (s) => formatSeconds(s.p95)],
  ['p99', (s) => formatSeconds(s.p99)],
  ['p99.9', (s) => formatSeconds(s.p99_9)],
  ['max', (s) => formatSeconds(s.max)],
  ['negative', (s) => (s.negative.count > 0 ? `${formatCount(s.negative.count)} (min ${formatSeconds(s.negative.min)})` : '0')],
  ['unmeasured', (s) => formatCount(s.unmeasured)],
]

/** Horizontal bars with their counts, one line per bin. */
export function renderHistogram(bins: Bin[], width = 40): string {
  const max = Math.max(1, ...bins.map((b) => b.count))
  const labels = bins.map(binLabel)
  const lw = Math.max(...labels.map((l) => l.length))
  const cw = Math.max(...bins.map((b) => formatCount(b.count).length))
  return bins
    .map((b, i) => {
      const len = b.count === 0 ? 0 : Math.max(1, Math.round((b.count / max) * width))
      return `  ${labels[i].padStart(lw)} │${'█'.repeat(len).padEnd(width)} ${formatCount(b.count).padStart(cw)}`
    })
    .join('\n')
}

function lateLine(t: TableLatency): string {
  const l = t.lateData
  if (!l) return `  ${t.table}: not computed (no event-time or ingested-at column)`
  if (l.rows === 0 && l.backfilled > 0) return `  ${t.table}: not counted: all ${plural(l.backfilled, 'row')} in range were backfilled (history replayed later is behind the watermark by design, not late)`
  const windowsLate = l.windows.filter((w) => w.late > 0).length
  const left = l.backfilled > 0 ? `; ${plural(l.backfilled, 'backfilled row')} left out` : ''
  return `  ${t.table}: ${formatCount(l.late)} of ${formatCount(l.rows)} rows (${(l.share * 100).toFixed(2)}%) behind the watermark, in ${formatCount(windowsLate)} of ${plural(l.windows.length, 'window')}${left}`
}


const HOP_TITLES: Record<Hop, string> = {transfer: 'transfer (S3 -> GCS)', load: 'load (GCS -> committed)', 'end-to-end': 'end to end'}

/** --measure hops: each hop of each table side by side, then a histogram per hop on the shared bins. */
function renderHops(r: LatencyResult, parts: TableLatency[]): string[] {
  const cols = parts.flatMap((p, i) => (p.hops ?? []).map((h) => ({key: `t${i}_${h.hop}`, name: parts.length > 1 ? `${p.table}: ${HOP_TITLES[h.hop]}` : HOP_TITLES[h.hop], h})))
  const rows = STAT_ROWS.map(([name, f]) => {
    const row: Record<string, string> = {stat: name}
    for (const c of cols) row[c.key] = f(c.h)
    return row
  })
  const [gcs, arrival] = r.hops![0].definition.split(' - ')
  const ingested = r.hops![1].definition.split(' - ')[0]
  const out = [
    `Per hop, over the rows where ${arrival}, ${gcs} and ${ingested} are all known:`,
    ...r.hops!.map((h) => `  ${HOP_TITLES[h.hop].padEnd(24)} ${h.definition}`),
    '',
    renderBlock(rows, [{key: 'stat', name: ''}, ...cols.map((c) => ({key: c.key, name: c.name, align: 'right' as const}))]),
  ]
  for (const c of cols) {
    if (c.h.negative.count > 0) out.push(`  warning: ${plural(c.h.negative.count, 'row')} ${c.h.negative.count === 1 ? 'has' : 'have'} a negative ${c.name} latency (down to ${formatSeconds(c.h.negative.min)}): clocks disagree; they are counted as they are.`)
  }
  for (const c of cols) {
    if (c.h.count === 0) continue
    out.push('', `Histogram of ${c.name} (${r.binScale} bins):`, renderHistogram(c.h.bins))
  }
  return out
}

export function renderReport(r: LatencyResult, slo?: SloEvaluation): string {
  const parts = [r, ...(r.compare ? [r.compare] : [])]
  const range = r.range.since || r.range.until ? ` with ${r.range.column} in [${r.range.since ?? '-∞'}, ${r.range.until ?? '+∞'})` : ''
  const out: string[] = [
    `Latency (${r.measure}: ${r.definition}) of ${parts.map((p) => p.table).join(' vs ')}${range}`,
    `Quantiles: ${r.quantiles.exact ? 'exact' : 'approximate'} (${r.quantiles.method}); count, mean, min and max are exact.`,
    '',
  ]
  if (parts.every((p) => p.count === 0)) {
    const unmeasured = parts.reduce((s, p) => s + p.unmeasured, 0)
    out.push(
      unmeasured > 0
        ? `No latency to report: ${plural(unmeasured, 'row')} ${unmeasured === 1 ? 'is' : 'are'} in range but none has both ${r.definition.split(' - ').join(' and ')}.`
        : 'No rows in range: nothing to report. Check --since/--until and --table.',
    )
  } else if (r.hops) {
    out.push(...renderHops(r, parts))
  } else {
    const rows = STAT_ROWS.map(([name, f]) => {
      const row: Record<string, string> = {stat: name}
      for (const [i, p] of parts.entries()) row[`t${i}`] = f(p)
      return row
    })
    out.push(renderBlock(rows, [{key: 'stat', name: ''}, ...parts.map((p, i) => ({key: `t${i}`, name: p.table, align: 'right' as const}))]))
    for (const p of parts) {
      if (p.negative.count > 0) {
        out.push(`  warning: ${plural(p.negative.count, 'row')} of ${p.table} ${p.negative.count === 1 ? 'has' : 'have'} a negative latency (down to ${formatSeconds(p.negative.min)}): clocks disagree; they are counted as they are.`)
      }
    }
    for (const p of parts) {
      if (p.count === 0) continue
      out.push('', `Histogram of ${p.table} (${r.binScale} bins):`, renderHistogram(p.bins))
    }
  }
  for (const p of parts) {
    if (!p.groups) continue
    out.push('', `By ${r.groupBy} (${p.table}):`)
    const rows = p.groups.map((g) => ({
      key: g.key,
      count: formatCount(g.count),
      p50: formatSeconds(g.p50),
      p90: formatSeconds(g.p90),
      p99: formatSeconds(g.p99),
      max: formatSeconds(g.max),
      negative: formatCount(g.negative.count),
    }))
    out.push(
      renderBlock(rows, [
        {key: 'key', name: r.groupBy ?? 'group'},
        {key: 'count', name: 'Count', align: 'right'},
        {key: 'p50', name: 'p50', align: 'right'},
        {key: 'p90', name: 'p90', align: 'right'},
        {key: 'p99', name: 'p99', align: 'right'},
        {key: 'max', name: 'max', align: 'right'},
        {key: 'negative', name: 'Negative', align: 'right'},
      ]),
    )
    if (p.groupsOmitted) out.push(`  ... and ${p.groupsOmitted} more groups (raise --max-groups)`)
  }
  const l = r.lateData ?? r.compare?.lateData
  if (l) {
    out.push(
      '',
      `Late data: rows whose event time is behind the watermark of their ${l.window} of ingestion (the ${l.mode} event time loaded in that ${l.window}, minus ${formatSeconds(l.thresholdSeconds)}); backfilled rows are left out (a backfill loads history, which is behind any watermark by design):`,
      ...parts.map(lateLine),
    )
  }
  if (slo) {
    // with --compare-table both tables are gated: one line per SLO and table
    const both = slo.tables.length > 1
    const width = Math.max(...slo.tables.map((t) => t.length))
    out.push('', `SLOs (${slo.tables.join(', ')}): ${slo.passed ? 'all met' : 'BREACHED'}`)
    for (const c of slo.checks) {
      const status = c.status === 'pass' ? 'ok' : c.status === 'breach' ? 'BREACH' : 'NO DATA'
      out.push(`  ${c.text.padEnd(14)} ${both ? `${c.table.padEnd(width)} ` : ''}${status.padEnd(7)} ${c.key} = ${formatSeconds(c.actual)}`)
    }
  }
  return out.join('\n')
}
