/** What a latency is measured between (see docs/latency-report.md). */
export type Measure = 'arrival' | 'event' | 'transfer' | 'hops'
export type BinScale = 'linear' | 'log'
export type WatermarkMode = 'max' | 'median'
export type WindowUnit = 'minute' | 'hour' | 'day'

export const MEASURES: readonly Measure[] = ['arrival', 'event', 'transfer', 'hops']
/** The hops of the GCS path (--measure hops): S3 LastModified -> GCS finalize -> committed, and both together. */
export const HOPS = ['transfer', 'load', 'end-to-end'] as const
export type Hop = (typeof HOPS)[number]
/** Words --group-by understands besides a column name. */
export const GROUP_WORDS = ['source', 'bucket', 'path', 'hour'] as const

export interface LatencyOptions {
  table: string
  /** a second table (e.g. the stream path's) reported side by side with the same settings */
  compareTable?: string
  /** default arrival */
  measure?: Measure
  /** rows whose event time is at or after this instant */
  since?: Date
  /** rows whose event time is before this instant */
  until?: Date
  /** default event_time */
  eventTimeColumn?: string
  /** default _ingested_at */
  ingestedAtColumn?: string
  /** the source (S3) object's LastModified; default _object_modified_at */
  arrivalColumn?: string
  /** when the GCS copy of the object was created (transfer measure); default _gcs_created_at */
  gcsCreatedColumn?: string
  /** number of histogram bins (default 20) */
  bins?: number
  /** default linear */
  binScale?: BinScale
  /** a column, or source | bucket | path | hour */
  groupBy?: string
  /** groups kept in the result, largest first (hour groups: the first ones in time); default 50 */
  maxGroups?: number
  /** use the engine's approximate quantile function (DuckDB approx_quantile) */
  approximate?: boolean
  /** where quantiles are computed; default warehouse when the dialect can, else client (HDR histogram) */
  compute?: 'warehouse' | 'client'
  /** default max */
  watermark?: WatermarkMode
  /** default 600 (10 minutes) */
  lateThresholdSeconds?: number
  /** windows of ingestion time the watermark is computed for; default hour */
  window?: WindowUnit
  /** client-side computation: rows fetched per page (bounded memory); default 50,000 */
  pageSize?: number
}

/** One histogram bin, in seconds: lo inclusive, hi exclusive (the last bin includes hi). */
export interface Bin {
  lo: number
  hi: number
  count: number
}

/** Percentiles and histogram of one set of rows. Every latency is in seconds; null when count is 0. */
export interface LatencyStats {
  /** rows with a measured latency */
  count: number
  /** rows in range where one of the two timestamps is NULL (not measured) */
  unmeasured: number
  mean: number | null
  min: number | null
  p50: number | null
  p90: number | null
  p95: number | null
  p99: number | null
  p99_9: number | null
  max: number | null
  /** latencies below zero (the clocks disagree): reported as they are, never clamped */
  negative: {count: number; min: number | null}
  bins: Bin[]
}

export interface LatencyGroup extends LatencyStats {
  key: string
}

/** One hop's distribution (--measure hops); every hop of a report shares the same rows and the same bins. */
export interface HopLatency extends LatencyStats {
  hop: Hop
  /** e.g. "_gcs_created_at - _object_modified_at" */
  definition: string
}

export interface LateWindow {
  /** start of the ingestion-time window (ISO-8601) */
  window: string
  /** the watermark of the window (ISO-8601) */
  watermark: string
  rows: number
  late: number
  share: number
}

export interface LateData {
  mode: WatermarkMode
  thresholdSeconds: number
  window: WindowUnit
  rows: number
  /** rows whose event time is behind the watermark of their ingestion window */
  late: number
  share: number
  /**
   * rows loaded by a backfill (`_load_path = 'backfill'`), left out of rows, late and the watermarks: a backfill
   * replays history, so its rows are behind any watermark by design
   */
  backfilled: number
  windows: LateWindow[]
}

export interface TableLatency extends LatencyStats {
  table: string
  /** per group (with --group-by) */
  groups?: LatencyGroup[]
  /** groups left out of `groups` beyond maxGroups */
  groupsOmitted?: number
  /**
   * --measure hops: transfer, load and end-to-end side by side, over the rows where all three timestamps are
   * known (so per row transfer + load = end to end); the table's own statistics are the end-to-end hop's
   */
  hops?: HopLatency[]
  /** null when the table has no event-time or ingested-at column */
  lateData: LateData | null
}

export interface LatencyResult extends TableLatency {
  warehouse: string
  measure: Measure
  /** e.g. "_ingested_at - _object_modified_at" */
  definition: string
  range: {since: string | null; until: string | null; column: string}
  quantiles: {
    /** whether p50..p99_9 are exact; count, mean, min and max always are */
    exact: boolean
    computed: 'warehouse' | 'client'
    method: string
  }
  binScale: BinScale
  binCount: number
  groupBy: string | null
  compare?: TableLatency
}

export type SloKey = 'p50' | 'p90' | 'p95' | 'p99' | 'p99_9' | 'max' | 'mean'

export interface Slo {
  /** the text as given, e.g. "p99<=6m" */
  text: string
  key: SloKey
  op: '<=' | '<'
  limitSeconds: number
}

export interface SloCheck extends Slo {
  /** the table checked (with --compare-table every SLO is checked against both tables) */
  table: string
  actual: number | null
  status: 'pass' | 'breach' | 'no-data'
}

export interface SloEvaluation {
  /** every SLO passed on every table (an SLO with no data to check does not pass) */
  passed: boolean
  /** the main table */
  table: string
  /** every table gated: the main table, then the --compare-table */
  tables: string[]
  /** one check per SLO and table, the main table's first */
  checks: SloCheck[]
}
