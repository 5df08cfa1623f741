import {noDataLine} from '../checks.js'
import {renderTable as table} from '../output/table.js'
import {formatCount} from '../output/units.js'
import {plural} from '../output/words.js'
import {formatDuration} from '../time.js'
import type {ObjectDedupeResult} from './objects.js'
import type {DedupeResult, RowDedupeResult} from './run.js'

const MAX_LISTED = 20

const renderTable: typeof table = (...args) => table(...args).replace(/\s+$/, '')

export function renderDedupe(r: DedupeResult): string {
  return r.mode === 'rows' ? renderRows(r) : renderObjects(r)
}

function renderRows(r: RowDedupeResult): string {
  const s = r.report
  const scope = s.range.column ? ` where ${s.range.column} in [${s.range.since ?? '-inf'}, ${s.range.until ?? '+inf'})` : ''
  const lines: string[] = [
    `Duplicates in ${s.table} (${r.warehouse}) by key (${s.keys.join(', ')})${scope}`,
    `  rows             ${formatCount(s.rows)}`,
    `  distinct keys    ${formatCount(s.distinctKeys)}`,
    `  duplicate rows   ${formatCount(s.duplicateRows)}${s.duplicateRows > 0 ? ` (extra copies of ${plural(s.duplicatedKeys, 'key')}, up to ${plural(s.maxCopies, 'copy')} of one key)` : ''}`,
    `  NULL-key rows    ${formatCount(s.nullKeyRows)}${s.nullKeyRows > 0 ? ` (never treated as duplicates; by column: ${Object.entries(s.nullKeyRowsByColumn).map(([k, v]) => `${k} ${formatCount(v)}`).join(', ')})` : ''}`,
    `  keeps            the ${s.keep} copy: ORDER BY ${shortOrder(s.keepOrder)}`,
  ]
  const days = s.perDay.filter((d) => d.duplicateRows > 0)
  if (days.length > 0) {
    lines.push(
      '',
      renderTable(
        days.slice(0, 31).map((d) => ({day: d.day, rows: formatCount(d.rows), dup: formatCount(d.duplicateRows), keys: formatCount(d.duplicatedKeys)})),
        [
          {key: 'day', name: 'Day (UTC)'},
          {key: 'rows', name: 'Rows', align: 'right'},
          {key: 'dup', name: 'Duplicate rows', align: 'right'},
          {key: 'keys', name: 'Keys duplicated', align: 'right'},
        ],
      ),
    )
    if (days.length > 31) lines.push(`  ... and ${plural(days.length - 31, 'more day')} with duplicates (see --json)`)
  }
  if (s.perSource.length > 0) {
    lines.push('', `Sources holding the copies that would be removed (${formatCount(s.sourcesWithDuplicates)} in all):`)
    for (const p of s.perSource.slice(0, 10)) lines.push(`  ${formatCount(p.duplicateRows).padStart(10)} of ${formatCount(p.rows)} rows  ${p.source ?? '(no source)'}`)
  }
  if (s.sampleKeys.length > 0) {
    lines.push('', 'Sample duplicated keys:')
    for (const k of s.sampleKeys) {
      const key = Object.entries(k.key).map(([n, v]) => `${n}=${v === null ? 'NULL' : String(v)}`).join(' ')
      lines.push(`  ${key}  x${k.copies}${k.firstIngestedAt ? `  ingested ${k.firstIngestedAt} .. ${k.lastIngestedAt}` : ''}`)
    }
  }
  lines.push('')
  if (r.applied) {
    const a = r.applied
    if (a.perDay) {
      for (const d of a.perDay) lines.push(`  ${d.day}  removed ${plural(d.rowsRemoved, 'duplicate row')} (${formatDuration(d.durationMs)})`)
      lines.push(
        `Removed ${plural(a.rowsRemoved, 'duplicate row')} in ${plural(a.perDay.length, 'transaction')}, one per UTC day holding duplicates (${formatDuration(a.durationMs)}); each day verified: no duplicates left within the day, distinct keys as before, NULL-key rows untouched. Copies of one key on different days are not removed by this pass.`,
      )
      const left = s.duplicateRows - a.rowsRemoved
      if (left > 0) lines.push(`${plural(left, 'duplicate row')} of the report ${left === 1 ? 'is a copy on another day and remains' : 'are copies on different days and remain'}; run the report again to see ${left === 1 ? 'it' : 'them'}.`)
    } else lines.push(
      `Removed ${plural(a.rowsRemoved, 'duplicate row')} in one transaction (${formatDuration(a.durationMs)}); verified: no duplicates left, ${plural(a.after.distinctKeys, 'distinct key')} as before, ${plural(a.after.nullKeyRows, 'NULL-key row')} untouched.`,
    )
  } else if (s.duplicateRows > 0) {
    lines.push(`Report only: nothing was changed. Run again with --apply to remove the ${plural(s.duplicateRows, 'duplicate row')}.`)
  } else if (r.noData) {
    const scopeText = s.range.column && (s.range.since || s.range.until) ? ` with ${s.range.column} in [${s.range.since ?? '-inf'}, ${s.range.until ?? '+inf'})` : ''
    lines.push(
      noDataLine(
        `${s.table} has no rows${s.nullKeyRows > 0 ? ' with a complete key' : ''}${scopeText}`,
        `Check --since/--until, --table${s.nullKeyRows > 0 ? ' and --key' : ''}, and that the table is being loaded.`,
      ),
    )
  } else {
    lines.push('No duplicates.')
  }
  return lines.join('\n')
}

function renderObjects(r: ObjectDedupeResult): string {
  const t = r.totals
  const lines: string[] = [
    `Offset ranges of ${plural(t.files, 'file')} (${plural(t.partitions, 'partition')}, pattern ${r.pattern}) under ${r.location}`,
    `  records          ${formatCount(t.records)} (${formatCount(t.duplicateRecords)} duplicate)`,
    `  redundant files  ${formatCount(t.redundantFiles)} (${plural(t.redundantRecords, 'record')}, all held by other files)`,
    `  overlaps         ${plural(t.overlappingFiles, 'file')} share ${plural(t.overlappingRecords, 'record')} with their neighbour (needs row-level dedupe)`,
    `  gaps             ${formatCount(t.gaps)} (${plural(t.missingRecords, 'offset')} missing; not duplicates)`,
  ]
  if (r.unmatched > 0) lines.push(`  not matched      ${formatCount(r.unmatched)} objects did not match the name pattern, e.g. ${r.unmatchedSamples[0]}`)
  if (t.emptyFiles > 0) lines.push(`  empty files      ${formatCount(t.emptyFiles)}`)
  if (r.partitions.length > 0) {
    lines.push(
      '',
      renderTable(
        r.partitions.slice(0, 50).map((p) => ({
          tp: `${p.topic ? `${p.topic}/` : ''}${p.partition}`,
          range: `${p.firstOffset}..${p.endOffset}`,
          files: formatCount(p.files),
          dup: formatCount(p.duplicateRecords),
          red: formatCount(p.redundantFiles),
          ov: formatCount(p.overlappingFiles),
          gaps: formatCount(p.gaps),
        })),
        [
          {key: 'tp', name: 'Partition'},
          {key: 'range', name: 'Offsets', align: 'right'},
          {key: 'files', name: 'Files', align: 'right'},
          {key: 'dup', name: 'Dup records', align: 'right'},
          {key: 'red', name: 'Redundant', align: 'right'},
          {key: 'ov', name: 'Overlaps', align: 'right'},
          {key: 'gaps', name: 'Gaps', align: 'right'},
        ],
      ),
    )
  }
  if (r.redundant.length > 0) {
    lines.push('', 'Redundant files (every record is in the kept files named):')
    for (const f of r.redundant.slice(0, MAX_LISTED)) {
      lines.push(`  ${f.uri}  offsets ${f.startOffset}..${f.endOffset}  ${f.identicalTo ? `same range as ${f.identicalTo}` : `covered by ${f.coveredBy.join(', ')}`}`)
    }
    if (r.redundant.length > MAX_LISTED) lines.push(`  ... and ${r.redundant.length - MAX_LISTED} more (see --json)`)
  }
  if (r.overlapping.length > 0) {
    lines.push('', 'Overlapping files (kept: they also hold records no other file has):')
    for (const f of r.overlapping.slice(0, MAX_LISTED)) {
      lines.push(`  ${f.uri}  offsets ${f.overlapFrom}..${f.overlapTo} (${formatCount(f.overlapRecords)} records) also in ${f.overlapsWith}`)
    }
    if (r.overlapping.length > MAX_LISTED) lines.push(`  ... and ${r.overlapping.length - MAX_LISTED} more (see --json)`)
  }
  if (r.gaps.length > 0) {
    lines.push('', 'Gaps (offsets no file holds):')
    for (const g of r.gaps.slice(0, MAX_LISTED)) {
      lines.push(`  ${g.topic ? `${g.topic}/` : ''}${g.partition}: offsets ${g.from}..${g.to} (${formatCount(g.missing)} missing) between ${g.after} and ${g.before}`)
    }
    if (r.gaps.length > MAX_LISTED) lines.push(`  ... and ${r.gaps.length - MAX_LISTED} more (see --json)`)
  }
  lines.push('')
  if (r.written) {
    lines.push(`Wrote the list of ${formatCount(r.written.objects)} redundant objects to ${r.written.output}${r.written.manifest ? ` and an S3 Batch Operations manifest to ${r.written.manifest}` : ' (no S3 Batch Operations manifest: the objects are not in S3)'}. Nothing was deleted.`)
  } else if (r.redundant.length > 0) {
    lines.push('Report only: nothing was written. Run again with --apply --output FILE to write the list of redundant objects and an S3 Batch Operations manifest (seneka never deletes objects).')
  } else if (!r.duplicatesFound) {
    lines.push('No duplicate offsets.')
  }
  return lines.join('\n')
}

/** The first terms of the keep order; the full ORDER BY is in --json (keepOrder). */
function shortOrder(order: string): string {
  // `col IS NULL, col ASC` is how NULLs are put last on every engine: say it once instead
  const all = order.split(', ')
  const terms = all.filter((t) => !/ IS NULL$/.test(t))
  const nulls = terms.length < all.length ? ', NULLs last' : ''
  return terms.length <= 3 ? `${terms.join(', ')}${nulls}` : `${terms.slice(0, 3).join(', ')}${nulls} (then ${terms.length - 3} more columns as tie-breakers; full order in --json)`
}
