import {formatDuration} from '../time.js'
import {renderTable} from '../output/table.js'
import {fitLine} from '../output/width.js'
import {formatBytes, formatCount} from '../output/units.js'
import {plural} from '../output/words.js'
import type {Coverage} from './coverage.js'
import type {BackfillPlan, PlanFromSummary} from './plan.js'
import type {BackfillResult, ObjectFailure} from './run.js'
import type {LoadEstimate} from '../warehouse/types.js'
import {renderLoadMethods} from '../cost/load-methods.js'
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

/** "3/50 (from CLOUD_RUN_TASK_INDEX and CLOUD_RUN_TASK_COUNT)" */
function shardFrom(r: BackfillResult): string {
  return `${r.shard} (from ${(r.shardSource ?? '--shard').split('/').join(' and ')})`
}

/** A shard with nothing in it: said, not an error. */
function emptyShard(r: BackfillResult): string | undefined {
  const others = r.plan.otherShards ?? 0
  if (!r.shard || r.plan.totals.objects > 0 || others === 0) return undefined
  return `This shard holds none of the ${plural(others, 'object')} in range (they belong to other shards): nothing to load.`
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
    if (r.shard) lines.push(`Shard ${shardFrom(r)}: the plan holds only this shard's objects.`)
    if (emptyShard(r)) lines.push(emptyShard(r)!)
    lines.push(renderPlan(r.plan))
    if (r.loadEstimate) lines.push(renderLoadEstimate(r.loadEstimate))
    if (r.loadMethods) lines.push('', renderLoadMethods(r.loadMethods))
    if (r.planFile) lines.push(`Plan written to ${r.planFile} (${plural(r.plan.totals.objects, 'object')}); run it exactly with --plan ${r.planFile}.`)
    lines.push('', `Dry run: nothing was written (no table, no ledger row). Run again without --dry-run to load ${plural(r.plan.totals.load + r.plan.totals.replace, 'object')} into ${r.table}.`)
    return lines.join('\n')
  }
  const o = r.objects
  lines.push(
    `Backfill ${r.loadId} into ${r.table} (${r.warehouse})`,
    ...(r.shard ? [`  shard     ${shardFrom(r)}`] : []),
    ...(emptyShard(r) ? [`  ${emptyShard(r)}`] : []),
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
  if (r.failures.length > 0) lines.push('', ...renderFailures(r.failures))
  if (r.rejected > 0) {
    lines.push('', `Rejected lines (kept in table _seneka_rejects with object, line number and reason):`)
    for (const s of r.rejectSamples.slice(0, 5)) lines.push(fitLine('  ', s.uri, `:${s.line}: ${s.reason}`))
    lines.push(`  query them: SELECT object_uri, line, reason, raw FROM _seneka_rejects WHERE load_id = '${r.loadId}'`)
  }
  return lines.join('\n')
}

const MAX_LISTED = 20

/**
 * The failed objects, in two groups: those a re-run will not fix (say what to fix; objects rejected as the same
 * wrong format in ONE line with the count and one example), then those a re-run may load (transient errors).
 */
export function renderFailures(failures: ObjectFailure[]): string[] {
  const lines: string[] = []
  const terminal = failures.filter((f) => !f.retryable)
  const retryable = failures.filter((f) => f.retryable)
  if (terminal.length > 0) {
    lines.push(`Failed objects (nothing from them was loaded; the same objects fail again until the cause is fixed):`)
    const groups = new Map<string, ObjectFailure[]>()
    const single: ObjectFailure[] = []
    for (const f of terminal) {
      if (!f.rejected) {
        single.push(f)
        continue
      }
      const key = `${f.rejected.format}\u0000${f.rejected.likelyFormat ?? ''}`
      groups.set(key, [...(groups.get(key) ?? []), f])
    }
    for (const group of groups.values()) {
      const [first] = group
      if (group.length === 1) {
        single.unshift(first)
        continue
      }
      const {format, likelyFormat, lines: n, rejectedLines} = first.rejected!
      const fix = likelyFormat ? `their lines look like ${likelyFormat}: run again with --format ${likelyFormat}` : `check --format, or leave them out with --exclude`
      lines.push(`  ${formatCount(group.length)} objects were rejected as ${format}, so nothing from them was loaded; ${fix} (e.g. ${first.uri}: ${rejectedLines === n ? 'all' : formatCount(rejectedLines)} of ${plural(n, 'line')} rejected)`)
    }
    for (const f of single.slice(0, MAX_LISTED)) lines.push(fitLine('  ', f.uri, `: ${f.error}`))
    if (single.length > MAX_LISTED) lines.push(`  ... and ${formatCount(single.length - MAX_LISTED)} more (see --json)`)
  }
  if (retryable.length > 0) {
    if (lines.length > 0) lines.push('')
    lines.push(`Failed objects (nothing from them was loaded; a transient error: re-run the same command to retry only these):`)
    for (const f of retryable.slice(0, MAX_LISTED)) lines.push(fitLine('  ', f.uri, `: ${f.error}`))
    if (retryable.length > MAX_LISTED) lines.push(`  ... and ${formatCount(retryable.length - MAX_LISTED)} more (see --json)`)
  }
  return lines
}
