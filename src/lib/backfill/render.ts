import {formatDuration} from '../time.js'
import {renderTable} from '../output/table.js'
import {formatBytes, formatCount} from '../output/units.js'
import {plural} from '../output/words.js'
import type {Coverage} from './coverage.js'
import type {BackfillPlan, PlanFromSummary} from './plan.js'
import type {BackfillResult} from './run.js'
import type {LoadEstimate} from '../warehouse/types.js'
import {MARKER_DESCRIPTION} from '../store/markers.js'

/** The dry-run view: what would be loaded, day by day, and what it costs in requests. */
export function renderPlan(plan: BackfillPlan): string {
  const rows = plan.days.map((d) => ({
    day: d.day,
    objects: formatCount(d.objects),
    bytes: formatBytes(d.bytes),
    load: formatCount(d.load),
    replace: formatCount(d.replace),
    skip: formatCount(d.skip),
  }))
  const t = plan.totals
  rows.push({day: 'total', objects: formatCount(t.objects), bytes: formatBytes(t.bytes), load: formatCount(t.load), replace: formatCount(t.replace), skip: formatCount(t.skip)})
  const table = renderTable(rows, [
    {key: 'day', name: 'Day (UTC)'},
    {key: 'objects', name: 'Objects', align: 'right'},
    {key: 'bytes', name: 'Bytes', align: 'right'},
    {key: 'load', name: 'Load', align: 'right'},
    {key: 'replace', name: 'Replace (ETag changed)', align: 'right'},
    {key: 'skip', name: 'Skip (loaded)', align: 'right'},
  ])
  return [
    table,
    ...(plan.markers.objects > 0 ? [markerLine(plan)] : []),
    plan.from
      ? `Requests: ${describeFrom(plan.from)}; ${formatCount(plan.requests.get)} GET to load ${formatBytes(t.bytesToRead)}.`
      : `Requests: ${formatCount(plan.requests.list)} LIST made while planning (${plural(plan.requests.listedPrefixes.length, 'prefix')}), ${formatCount(plan.requests.get)} GET to load ${formatBytes(t.bytesToRead)}.`,
    ...(plan.from ? fromLines(plan.from) : []),
  ].join('\n')
}

/** How a plan not made by listing found its objects (no LIST request at all). */
function describeFrom(f: PlanFromSummary): string {
  if (f.kind === 'inventory' && f.inventory) return `no LIST (planned from the S3 Inventory ${f.file}: ${plural(f.inventory.dataFiles, 'data file')}, ${formatCount(f.inventory.rows)} rows)`
  if (f.kind === 'files') return `no LIST (planned from the file list ${f.file === '-' ? 'on standard input' : f.file}: ${formatCount(f.head)} HEAD)`
  return `no LIST (the saved plan ${f.file}: ${plural(f.candidates, 'object')})`
}

function fromLines(f: PlanFromSummary): string[] {
  const out: string[] = []
  if (f.inventory) out.push(`Inventory of ${f.inventory.createdAt}: objects added to s3://${f.inventory.sourceBucket} after it are not in this plan (list them, or use a later inventory).`)
  if (f.notFound) out.push(`Not found: ${plural(f.notFound.objects, 'listed key')} did not exist when planned, e.g. ${f.notFound.samples[0]}.`)
  return out
}

function markerLine(plan: BackfillPlan): string {
  const m = plan.markers
  return `Markers: ${formatCount(m.objects)} marker object${m.objects === 1 ? '' : 's'} skipped, not logs (${MARKER_DESCRIPTION}), e.g. ${m.samples[0]}.`
}

/** BigQuery: the jobs the load will use, against the per-table daily load-job limit. */
export function renderLoadEstimate(e: LoadEstimate): string {
  return [
    `Warehouse jobs: ${plural(e.loadJobs, 'load job')} (up to ${plural(e.objectsPerJob, 'object')} each; limit ${formatCount(e.dailyLoadJobLimit)} per table per day), ${plural(e.mergeQueries, 'merge transaction')}, ${plural(e.ledgerQueries, 'ledger check')}${e.staging ? `; staging files under ${e.staging}` : ''}.`,
    `Estimated BigQuery cost of the load: ${formatBytes(e.bytesBilledEstimate)} billed, about ${e.usd < 0.01 ? '< $0.01' : `$${e.usd.toFixed(2)}`} on demand (load jobs are free).`,
    ...e.notes.map((n) => `  ${n}`),
  ].join('\n')
}

/** The proof that the run covered its plan: every planned object is accounted for. */
function coverageLine(c: Coverage): string {
  const parts = [`${formatCount(c.loaded + c.replaced)} loaded`, `${formatCount(c.skipped)} skipped`, `${formatCount(c.failed)} failed`]
  if (c.gone + c.changed > 0) parts.push(`${formatCount(c.gone + c.changed)} gone or changed`)
  if (c.notStarted > 0) parts.push(`${formatCount(c.notStarted)} not started`)
  const verdict = c.leftOut === 0 ? 'none left out' : `${formatCount(c.leftOut)} LEFT OUT`
  return `  coverage  ${formatCount(c.planned)} planned = ${parts.join(' + ')}; ${verdict}`
}

export function renderSummary(r: BackfillResult): string {
  const lines: string[] = []
  if (r.dryRun) {
    lines.push(renderPlan(r.plan))
    if (r.loadEstimate) lines.push(renderLoadEstimate(r.loadEstimate))
    if (r.planFile) lines.push(`Plan written to ${r.planFile} (${plural(r.plan.totals.objects, 'object')}); run it exactly with --plan ${r.planFile}.`)
    lines.push('', `Dry run: nothing was written (no table, no ledger row). Run again without --dry-run to load ${plural(r.plan.totals.load + r.plan.totals.replace, 'object')} into ${r.table}.`)
    return lines.join('\n')
  }
  const o = r.objects
  lines.push(
    `Backfill ${r.loadId} into ${r.table} (${r.warehouse})`,
    `  objects   ${formatCount(o.loaded)} loaded, ${formatCount(o.replaced)} replaced, ${formatCount(o.skipped)} skipped (already loaded), ${formatCount(o.failed)} failed`,
    ...(r.plan.markers.objects > 0 ? [`  markers   ${formatCount(r.plan.markers.objects)} skipped, not logs (${MARKER_DESCRIPTION})`] : []),
    `  rows      ${formatCount(r.rows)} loaded, ${plural(r.rejected, 'rejected line')}`,
    `  bytes     ${formatBytes(r.bytesRead)} read, ${formatBytes(r.bytesUncompressed)} uncompressed`,
    `  time      ${formatDuration(r.durationMs)}, ${formatCount(r.rowsPerSecond)} rows/s, ${r.mbPerSecond} MB/s`,
  )
  if (r.plan.from) lines.push(...fromLines(r.plan.from).map((l) => `  ${l}`))
  if (r.missing && r.missing.gone + r.missing.changed > 0) {
    lines.push('', `Gone or changed since planned (not loaded, not failures; a LIST-based run or a later inventory covers their current versions): ${formatCount(r.missing.gone)} gone, ${formatCount(r.missing.changed)} changed:`)
    for (const m of r.missing.samples.slice(0, 5)) lines.push(`  ${m.uri}: ${m.reason}`)
  }
  if (r.coverage) lines.push(coverageLine(r.coverage))
  if (r.stopped) lines.push('', `Stopped: ${r.stopped}`)
  if (r.interrupted) lines.push('', r.interrupted)
  if (r.failures.length > 0) {
    lines.push('', `Failed objects (nothing from them was loaded; re-run the same command to retry only these):`)
    for (const f of r.failures.slice(0, 20)) lines.push(`  ${f.uri}: ${f.error}`)
    if (r.failures.length > 20) lines.push(`  ... and ${formatCount(r.failures.length - 20)} more (see --json)`)
  }
  if (r.rejected > 0) {
    lines.push('', `Rejected lines (kept in table _seneka_rejects with object, line number and reason):`)
    for (const s of r.rejectSamples.slice(0, 5)) lines.push(`  ${s.uri}:${s.line}: ${s.reason}`)
    lines.push(`  query them: SELECT object_uri, line, reason, raw FROM _seneka_rejects WHERE load_id = '${r.loadId}'`)
  }
  return lines.join('\n')
}
