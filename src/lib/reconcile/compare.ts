import {withinTolerance, type Tolerance} from './tolerance.js'
import type {BucketRow, BucketStatus, ObjectRow, ObjectSide, ReconcileSummary, Side, Totals} from './types.js'

/** Counts of one side keyed by bucket (ISO) and group. */
export interface BucketCount {
  bucket: string
  group: string | null
  n: number
}

export function bucketStatus(batch: number, stream: number): BucketStatus {
  if (batch === stream) return 'ok'
  if (stream === 0) return 'missing_in_stream'
  if (batch === 0) return 'missing_in_batch'
  return 'differ'
}

function ratio(batch: number, stream: number): number | null {
  return batch === 0 ? null : Math.round((stream / batch) * 1e6) / 1e6
}

const key = (bucket: string, group: string | null): string => `${bucket}\u0000${group ?? '\u0001'}`

/** Full outer join of the two sides' counts, sorted by bucket then group. */
export function compareBuckets(batch: BucketCount[], stream: BucketCount[], tolerance: Tolerance): BucketRow[] {
  const rows = new Map<string, {bucket: string; group: string | null; batch: number; stream: number}>()
  for (const [side, counts] of [['batch', batch], ['stream', stream]] as const) {
    for (const c of counts) {
      const k = key(c.bucket, c.group)
      const r = rows.get(k) ?? {bucket: c.bucket, group: c.group, batch: 0, stream: 0}
      r[side] += c.n
      rows.set(k, r)
    }
  }
  return [...rows.values()]
    .sort((a, b) => (a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : compareNullable(a.group, b.group)))
    .map((r) => ({
      bucket: r.bucket,
      group: r.group,
      batch: r.batch,
      stream: r.stream,
      difference: r.stream - r.batch,
      ratio: ratio(r.batch, r.stream),
      status: bucketStatus(r.batch, r.stream),
      withinTolerance: withinTolerance(tolerance, r.batch, r.stream),
    }))
}

function compareNullable(a: string | null, b: string | null): number {
  if (a === b) return 0
  if (a === null) return 1
  if (b === null) return -1
  return a < b ? -1 : 1
}

export function totalsOf(rows: Array<{batch: number; stream: number}>): Totals {
  let batch = 0
  let stream = 0
  for (const r of rows) {
    batch += r.batch
    stream += r.stream
  }
  return {batch, stream, difference: stream - batch, ratio: ratio(batch, stream)}
}

export function summarize(rows: Array<{status: string; withinTolerance: boolean}>): ReconcileSummary {
  const s: ReconcileSummary = {compared: rows.length, identical: 0, withinTolerance: 0, mismatched: 0, byStatus: {}}
  for (const r of rows) {
    if (r.status === 'ok') s.identical++
    else if (r.withinTolerance) s.withinTolerance++
    else {
      s.mismatched++
      const st = r.status as keyof ReconcileSummary['byStatus']
      s.byStatus[st] = (s.byStatus[st] ?? 0) + 1
    }
  }
  return s
}

/** One side of one object as counted in the warehouse. */
export interface ObjectCount {
  object: string | null
  n: number
  dup: number | null
}

export interface LedgerInfo {
  rows: number
  rejected: number
}

export interface SourceInfo {
  lines: number | null
  error: string | null
  /** the object could not be read at all (store unreachable, denied, throttled): the check did not run for it */
  unavailable?: true
}

/**
 * Classifies every object seen on either side. In order of precedence: on one side only; a line present
 * more than once, or more rows than the ledger recorded (loaded twice); fewer rows than the ledger recorded
 * or than the other side (partially loaded); rows + rejected lines not matching the source's lines.
 */
export function compareObjects(
  batch: ObjectCount[],
  stream: ObjectCount[],
  ledgers: {batch: Map<string, LedgerInfo>; stream: Map<string, LedgerInfo>},
  sources: Map<string, SourceInfo> | null,
  tolerance: Tolerance,
): ObjectRow[] {
  const objects = new Map<string, {object: string | null; batch: ObjectCount | null; stream: ObjectCount | null}>()
  for (const [side, counts] of [['batch', batch], ['stream', stream]] as const) {
    for (const c of counts) {
      const k = c.object ?? '\u0001'
      const o = objects.get(k) ?? {object: c.object, batch: null, stream: null}
      o[side] = c
      objects.set(k, o)
    }
  }
  const rows: ObjectRow[] = []
  for (const o of [...objects.values()].sort((a, b) => compareNullable(a.object, b.object))) {
    const sideOf = (s: Side): ObjectSide | null => {
      const c = o[s]
      if (!c) return null
      const l = o.object === null ? undefined : ledgers[s].get(o.object)
      return {rows: c.n, duplicateRows: c.dup, ledgerRows: l ? l.rows : null, ledgerRejected: l ? l.rejected : null}
    }
    const b = sideOf('batch')
    const s = sideOf('stream')
    const src = o.object === null || !sources ? undefined : sources.get(o.object)
    rows.push(classify(o.object, b, s, src, tolerance))
  }
  return rows
}

function classify(object: string | null, b: ObjectSide | null, s: ObjectSide | null, src: SourceInfo | undefined, t: Tolerance): ObjectRow {
  const bRows = b?.rows ?? 0
  const sRows = s?.rows ?? 0
  const base = {
    object,
    batch: b,
    stream: s,
    difference: sRows - bRows,
    sourceLines: src?.lines ?? null,
    sourceError: src?.error ?? null,
  }
  const found = (status: ObjectRow['status'], side: Side | null, detail: string, expected: number, actual: number): ObjectRow => ({
    ...base,
    status,
    side,
    detail,
    withinTolerance: withinTolerance(t, expected, actual),
  })
  if (!s) return found('missing_in_stream', 'stream', `${bRows} rows in batch, none in stream`, bRows, 0)
  if (!b) return found('missing_in_batch', 'batch', `${sRows} rows in stream, none in batch`, 0, sRows)
  for (const [side, x] of [['batch', b], ['stream', s]] as const) {
    if (x.duplicateRows) return found('loaded_twice', side, `${x.duplicateRows} rows repeat a line already loaded`, x.rows - x.duplicateRows, x.rows)
    if (x.ledgerRows !== null && x.rows > x.ledgerRows) return found('loaded_twice', side, `${x.rows} rows, the ledger recorded ${x.ledgerRows}`, x.ledgerRows, x.rows)
  }
  for (const [side, x] of [['batch', b], ['stream', s]] as const) {
    if (x.ledgerRows !== null && x.rows < x.ledgerRows) return found('partial', side, `${x.rows} rows, the ledger recorded ${x.ledgerRows}`, x.ledgerRows, x.rows)
  }
  if (bRows !== sRows) {
    const [side, few, many] = bRows < sRows ? (['batch', bRows, sRows] as const) : (['stream', sRows, bRows] as const)
    return found('partial', side, `${few} rows in ${side}, ${many} on the other side`, many, few)
  }
  if (src?.error) return {...base, status: 'source_differs', side: null, detail: `the source could not be read: ${src.error}`, withinTolerance: false}
  if (src && src.lines !== null) {
    for (const [side, x] of [['batch', b], ['stream', s]] as const) {
      const accounted = x.rows + (x.ledgerRejected ?? 0)
      if (accounted !== src.lines) {
        const rej = x.ledgerRejected ? ` + ${x.ledgerRejected} rejected` : ''
        return found('source_differs', side, `${x.rows} rows${rej} in ${side}, the source has ${src.lines} lines`, src.lines, accounted)
      }
    }
  }
  return {...base, status: 'ok', side: null, detail: src && src.lines !== null ? 'same rows on both sides and in the source' : 'same rows on both sides', withinTolerance: true}
}
