import type {Tolerance} from './tolerance.js'

export type BucketUnit = 'minute' | 'hour' | 'day'
export type ReconcileBy = BucketUnit | 'object'
export type Side = 'batch' | 'stream'

/** What the counts of one bucket say, whatever the tolerance. */
export type BucketStatus = 'ok' | 'missing_in_stream' | 'missing_in_batch' | 'differ'

/** What reconcile found about one source object. */
export type ObjectStatus = 'ok' | 'missing_in_stream' | 'missing_in_batch' | 'loaded_twice' | 'partial' | 'source_differs'

export const STATUS_LABELS: Record<BucketStatus | ObjectStatus, string> = {
  ok: 'ok',
  missing_in_stream: 'missing in stream',
  missing_in_batch: 'missing in batch',
  differ: 'both differ',
  loaded_twice: 'loaded twice',
  partial: 'partially loaded',
  source_differs: 'differs from source',
}

export interface BucketRow {
  /** bucket start, ISO-8601 UTC */
  bucket: string
  /** value of the --group-by column (null when absent or NULL) */
  group: string | null
  batch: number
  stream: number
  /** stream - batch */
  difference: number
  /** stream / batch, null when batch is 0 */
  ratio: number | null
  status: BucketStatus
  /** false when the difference is beyond --tolerance: a mismatch */
  withinTolerance: boolean
}

export interface ObjectSide {
  /** rows of the object in the table (inside the object window) */
  rows: number
  /** rows sharing a (source, line) pair with another row: more than one copy of a line */
  duplicateRows: number | null
  /** rows the load ledger recorded for the object on that side's table, null when it has no entry */
  ledgerRows: number | null
  /** lines the ledger recorded as rejected for the object, null without a ledger entry */
  ledgerRejected: number | null
}

export interface ObjectRow {
  object: string | null
  batch: ObjectSide | null
  stream: ObjectSide | null
  /** stream rows - batch rows */
  difference: number
  /** non-empty lines of the source object (--verify-source), null when not verified */
  sourceLines: number | null
  /** why the source could not be read, when --verify-source failed for this object */
  sourceError: string | null
  status: ObjectStatus
  /** which side the status is about, when it is about one side */
  side: Side | null
  /** one sentence explaining the status */
  detail: string
  withinTolerance: boolean
}

export interface ExplainRow {
  object: string | null
  group: string | null
  batch: number
  stream: number
  difference: number
  status: BucketStatus
}

export interface Explain {
  bucket: string
  bucketEnd: string
  objects: ExplainRow[]
}

export interface Totals {
  batch: number
  stream: number
  difference: number
  ratio: number | null
}

export interface ReconcileSummary {
  /** buckets or objects compared */
  compared: number
  /** identical on both sides */
  identical: number
  /** differing but within tolerance */
  withinTolerance: number
  /** beyond tolerance */
  mismatched: number
  /** mismatches by status */
  byStatus: Partial<Record<BucketStatus | ObjectStatus, number>>
}

export interface Watermark {
  /** --settle in milliseconds */
  settleMs: number
  /** the clock reading used */
  now: string
  /** now - settle, rounded down to the start of its bucket: rows at or after it were left out */
  at: string
}

export interface QueryRecord {
  side: Side | 'explain-batch' | 'explain-stream'
  sql: string
  params: Record<string, string>
}

interface ReportBase {
  warehouse: string
  batchTable: string
  streamTable: string
  timeColumn: string
  /** requested range [since, until) */
  since: string
  until: string
  /** the range compared after --settle: [since, effectiveUntil) */
  effectiveUntil: string
  watermark: Watermark | null
  tolerance: Tolerance
  totals: Totals
  summary: ReconcileSummary
  /**
   * true when at least one bucket/object was compared and every one is within tolerance (exit code 0); an
   * empty comparison (neither side has rows in the range) does not pass
   */
  passed: boolean
  /** neither side has rows in the range: nothing was compared (a typo in --since, or both loaders down) */
  noData: boolean
  queries: QueryRecord[]
  durationMs: number
}

export interface BucketReport extends ReportBase {
  by: BucketUnit
  groupBy: string | null
  rows: BucketRow[]
  explain: Explain | null
}

export interface ObjectReport extends ReportBase {
  by: 'object'
  sourceColumn: string
  lineColumn: string | null
  /** how far outside [since, until) rows are counted, so objects straddling the edges are counted whole */
  objectMarginMs: number
  verifiedSource: boolean
  rows: ObjectRow[]
}

export type ReconcileResult = BucketReport | ObjectReport
