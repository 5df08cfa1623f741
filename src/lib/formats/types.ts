/** Logical column types; each warehouse maps them to its own (DuckDB/BigQuery) types in one place. */
export type ColumnType = 'string' | 'int' | 'bigint' | 'double' | 'timestamp' | 'json'

export interface Column {
  name: string
  type: ColumnType
  description?: string
}

/**
 * A parsed value. Timestamps are microseconds since the Unix epoch (UTC): a number while exact (up to year
 * 2255), else the exact decimal digits as a string; bigint values beyond 2^53 are likewise decimal strings
 * (never rounded); json columns hold the JSON text.
 */
export type Value = string | number | null

export type ParseResult = {ok: true; values: Value[]} | {ok: false; reason: string}

export interface LogFormat {
  readonly name: string
  readonly description: string
  /** Columns of the format, in order; the event-time column is always named `event_time`. */
  readonly columns: readonly Column[]
  /** the options the format was built with, so a worker thread can build the same format */
  readonly options?: Record<string, unknown>
  parse(line: string): ParseResult
}

/** Provenance columns seneka adds to every row it loads. */
export const PROVENANCE_COLUMNS: readonly Column[] = [
  {name: '_source_uri', type: 'string', description: 'URI of the object the row came from'},
  {name: '_line', type: 'bigint', description: 'line number of the row in its object (1-based)'},
  {name: '_load_id', type: 'string', description: 'id of the backfill or stream run that loaded the row'},
  {name: '_ingested_at', type: 'timestamp', description: 'when the row was committed to the warehouse'},
  {name: '_object_modified_at', type: 'timestamp', description: "the source object's LastModified"},
  {name: '_load_path', type: 'string', description: 'backfill or stream'},
  {name: '_gcs_created_at', type: 'timestamp', description: 'gs:// sources: when this generation of the object was created in GCS (the transfer hop ends there); NULL for other sources'},
]

export const EVENT_TIME_COLUMN = 'event_time'
export const SOURCE_URI_COLUMN = '_source_uri'
export const LINE_COLUMN = '_line'
export const INGESTED_AT_COLUMN = '_ingested_at'
export const OBJECT_MODIFIED_AT_COLUMN = '_object_modified_at'
export const LOAD_PATH_COLUMN = '_load_path'

export function tableColumns(format: LogFormat): Column[] {
  return [...format.columns, ...PROVENANCE_COLUMNS]
}
