import {noDataLine} from '../checks.js'
import {stringify} from 'csv-stringify/sync'
import {renderBlock} from '../output/table.js'
import {formatCount} from '../output/units.js'
import {plural} from '../output/words.js'
import {formatDuration} from '../time.js'
import {formatTolerance} from './tolerance.js'
import {type BucketReport, type ObjectReport, type ReconcileResult, STATUS_LABELS} from './types.js'


const signed = (n: number): string => (n > 0 ? `+${formatCount(n)}` : formatCount(n))
const ratioText = (r: number | null): string => (r === null ? '-' : r.toFixed(4))

/** The human report: header, one table row per bucket/object with a totals row, the verdict. */
export function renderReport(r: ReconcileResult, opts: {mismatchesOnly?: boolean} = {}): string {
  const lines: string[] = [
    `Reconcile ${r.batchTable} (batch) with ${r.streamTable} (stream) in ${r.warehouse}, by ${r.by}${r.by !== 'object' && r.groupBy ? ` and ${r.groupBy}` : ''}`,
    `  range      [${r.since}, ${r.effectiveUntil}) on ${r.timeColumn}`,
  ]
  if (r.watermark) {
    lines.push(`  watermark  ${r.watermark.at}: now (${r.watermark.now}) - settle ${formatDuration(r.watermark.settleMs)}${r.by === 'object' ? '' : ', rounded down to its bucket'}; later rows may still be arriving and were left out`)
  }
  if (r.by === 'object') lines.push(`  objects    by ${r.sourceColumn}; rows counted ${formatDuration(r.objectMarginMs)} beyond the range so edge objects count whole${r.verifiedSource ? '; source lines counted' : ''}`)
  lines.push(`  tolerance  ${formatTolerance(r.tolerance)}`, '')
  lines.push(r.by === 'object' ? objectTable(r, opts.mismatchesOnly) : bucketTable(r, opts.mismatchesOnly))
  if (r.by !== 'object' && r.explain) lines.push('', explainTable(r))
  const s = r.summary
  const kinds = Object.entries(s.byStatus).map(([k, n]) => `${formatCount(n)} ${STATUS_LABELS[k as keyof typeof STATUS_LABELS]}`)
  const unit = r.by === 'object' ? 'object' : 'bucket'
  lines.push('')
  if (r.noData) {
    lines.push(
      noDataLine(
        `neither ${r.batchTable} nor ${r.streamTable} has rows in [${r.since}, ${r.effectiveUntil})`,
        `Check --since/--until${r.watermark ? ' and --settle' : ''}, and that both load paths are running. (${formatDuration(r.durationMs)})`,
      ),
    )
  } else if (r.passed) {
    const tol = s.withinTolerance > 0 ? `, ${formatCount(s.withinTolerance)} differ within tolerance` : ''
    lines.push(`OK: ${plural(s.compared, unit)} compared, ${formatCount(s.identical)} identical${tol}. (${formatDuration(r.durationMs)})`)
  } else {
    lines.push(`MISMATCH: ${formatCount(s.mismatched)} of ${plural(s.compared, unit)} differ beyond the tolerance (${kinds.join(', ')}). (${formatDuration(r.durationMs)})`)
    if (r.by !== 'object' && !r.explain) {
      const first = r.rows.find((x) => !x.withinTolerance)
      if (first) lines.push(`See which objects are behind a bucket with --explain ${first.bucket}`)
    }
  }
  return lines.join('\n')
}

function bucketTable(r: BucketReport, mismatchesOnly?: boolean): string {
  const shown = mismatchesOnly ? r.rows.filter((x) => !x.withinTolerance) : r.rows
  const rows = shown.map((x) => ({
    bucket: x.bucket,
    group: x.group ?? '(null)',
    batch: formatCount(x.batch),
    stream: formatCount(x.stream),
    difference: signed(x.difference),
    ratio: ratioText(x.ratio),
    status: x.status === 'ok' ? 'ok' : `${STATUS_LABELS[x.status]}${x.withinTolerance ? ' (within tolerance)' : ''}`,
  }))
  const t = r.totals
  rows.push({bucket: 'total', group: '', batch: formatCount(t.batch), stream: formatCount(t.stream), difference: signed(t.difference), ratio: ratioText(t.ratio), status: ''})
  const hidden = r.rows.length - shown.length
  return (
    renderBlock(rows, [
      {key: 'bucket', name: 'Bucket (UTC)'},
      ...(r.groupBy ? [{key: 'group' as const, name: r.groupBy}] : []),
      {key: 'batch', name: 'Batch', align: 'right'},
      {key: 'stream', name: 'Stream', align: 'right'},
      {key: 'difference', name: 'Difference', align: 'right'},
      {key: 'ratio', name: 'Ratio', align: 'right'},
      {key: 'status', name: 'Status'},
    ]) + (hidden > 0 ? `\n(${plural(hidden, 'bucket')} within tolerance not shown)` : '')
  )
}

function objectTable(r: ObjectReport, mismatchesOnly?: boolean): string {
  const shown = mismatchesOnly ? r.rows.filter((x) => !x.withinTolerance) : r.rows
  const rows = shown.map((x) => ({
    object: x.object ?? '(no source)',
    batch: x.batch ? formatCount(x.batch.rows) : '-',
    stream: x.stream ? formatCount(x.stream.rows) : '-',
    difference: signed(x.difference),
    source: x.sourceLines === null ? '-' : formatCount(x.sourceLines),
    status: x.status === 'ok' ? 'ok' : `${STATUS_LABELS[x.status]}${x.side ? ` (${x.side})` : ''}${x.withinTolerance ? ', within tolerance' : ''}: ${x.detail}`,
  }))
  const t = r.totals
  rows.push({object: 'total', batch: formatCount(t.batch), stream: formatCount(t.stream), difference: signed(t.difference), source: '', status: ''})
  const hidden = r.rows.length - shown.length
  return (
    renderBlock(rows, [
      {key: 'object', name: 'Object'},
      {key: 'batch', name: 'Batch', align: 'right'},
      {key: 'stream', name: 'Stream', align: 'right'},
      {key: 'difference', name: 'Difference', align: 'right'},
      ...(r.verifiedSource ? [{key: 'source' as const, name: 'Source lines', align: 'right' as const}] : []),
      {key: 'status', name: 'Status'},
    ]) + (hidden > 0 ? `\n(${plural(hidden, 'object')} within tolerance not shown)` : '')
  )
}

function explainTable(r: BucketReport): string {
  const e = r.explain!
  const rows = e.objects.map((o) => ({
    object: o.object ?? '(no source)',
    group: o.group ?? '(null)',
    batch: formatCount(o.batch),
    stream: formatCount(o.stream),
    difference: signed(o.difference),
    status: STATUS_LABELS[o.status],
  }))
  return renderBlock(
    rows,
    [
      {key: 'object', name: 'Object'},
      ...(r.groupBy ? [{key: 'group' as const, name: r.groupBy}] : []),
      {key: 'batch', name: 'Batch', align: 'right'},
      {key: 'stream', name: 'Stream', align: 'right'},
      {key: 'difference', name: 'Difference', align: 'right'},
      {key: 'status', name: 'Status'},
    ],
    `Objects behind bucket ${e.bucket} (until ${e.bucketEnd})`,
  )
}

/** One CSV row per bucket or object, with a header. */
export function toCsv(r: ReconcileResult): string {
  if (r.by === 'object') {
    return stringify(
      r.rows.map((x) => ({
        object: x.object ?? '',
        batch_rows: x.batch?.rows ?? 0,
        stream_rows: x.stream?.rows ?? 0,
        difference: x.difference,
        batch_duplicate_rows: x.batch?.duplicateRows ?? '',
        stream_duplicate_rows: x.stream?.duplicateRows ?? '',
        batch_ledger_rows: x.batch?.ledgerRows ?? '',
        stream_ledger_rows: x.stream?.ledgerRows ?? '',
        source_lines: x.sourceLines ?? '',
        status: x.status,
        side: x.side ?? '',
        within_tolerance: x.withinTolerance,
        detail: x.detail,
      })),
      {header: true, columns: OBJECT_CSV_COLUMNS, cast: {boolean: (b) => String(b)}},
    )
  }
  return stringify(
    r.rows.map((x) => ({
      bucket: x.bucket,
      ...(r.groupBy ? {[r.groupBy]: x.group ?? ''} : {}),
      batch: x.batch,
      stream: x.stream,
      difference: x.difference,
      ratio: x.ratio ?? '',
      status: x.status,
      within_tolerance: x.withinTolerance,
    })),
    {header: true, columns: ['bucket', ...(r.groupBy ? [r.groupBy] : []), 'batch', 'stream', 'difference', 'ratio', 'status', 'within_tolerance'], cast: {boolean: (b) => String(b)}},
  )
}

const OBJECT_CSV_COLUMNS = [
  'object',
  'batch_rows',
  'stream_rows',
  'difference',
  'batch_duplicate_rows',
  'stream_duplicate_rows',
  'batch_ledger_rows',
  'stream_ledger_rows',
  'source_lines',
  'status',
  'side',
  'within_tolerance',
  'detail',
]
