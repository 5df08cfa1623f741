import path from 'node:path'
import {onTestFinished} from 'vitest'
import {tempDir} from '../../helpers/tmp.js'
import {DuckDBWarehouse} from '../../../src/lib/warehouse/duckdb/warehouse.js'

/** 2024-05-01T00:00:00Z in seconds since the epoch: every fixture time is an offset from it. */
export const T0 = Date.UTC(2024, 4, 1) / 1000

export interface FixtureRow {
  /** event time, seconds after T0 */
  ev: number
  /** the source object's LastModified, seconds after T0 (null: unknown) */
  mod: number | null
  /** ingested at, seconds after T0 */
  ing: number
  /** GCS object creation, seconds after T0 */
  gcs?: number | null
  src?: string
  path?: string
}

const ts = (s: number | null | undefined): string => (s === null || s === undefined ? 'NULL::TIMESTAMP' : `make_timestamp(${Math.round((T0 + s) * 1e6)})`)
const str = (s: string | undefined): string => (s === undefined ? 'NULL' : `'${s.replaceAll("'", "''")}'`)

/** Creates a table with seneka's event-time and provenance columns holding exactly these rows. */
export async function createTable(wh: DuckDBWarehouse, table: string, rows: FixtureRow[], opts: {gcs?: boolean} = {}): Promise<void> {
  const gcs = opts.gcs ? ', _gcs_created_at TIMESTAMP' : ''
  await wh.query(
    `CREATE TABLE ${table} (event_time TIMESTAMP, status INTEGER, _source_uri VARCHAR, _line BIGINT, _load_id VARCHAR,
     _ingested_at TIMESTAMP, _object_modified_at TIMESTAMP, _load_path VARCHAR${gcs})`,
  )
  for (let i = 0; i < rows.length; i += 500) {
    const values = rows
      .slice(i, i + 500)
      .map((r, k) => `(${ts(r.ev)}, 200, ${str(r.src ?? 's3://bucket-a/logs/x.log')}, ${i + k + 1}, 'L1', ${ts(r.ing)}, ${ts(r.mod)}, ${str(r.path ?? 'backfill')}${opts.gcs ? `, ${ts(r.gcs)}` : ''})`)
    if (values.length) await wh.query(`INSERT INTO ${table} VALUES ${values.join(', ')}`)
  }
}

/** Rows whose arrival latencies (ingested - modified) are exactly these seconds; event times 1 minute apart. */
export function arrivalRows(latencies: number[], extra: Partial<FixtureRow> = {}): FixtureRow[] {
  return latencies.map((l, i) => ({ev: i * 60, mod: i * 60 + 30, ing: i * 60 + 30 + l, ...extra}))
}

/** A fresh folder removed when the current test finishes. */
export function testDir(): string {
  return tempDir('seneka-latency')
}

/** A DuckDB warehouse in a fresh folder, closed when the current test finishes. */
export async function openTemp(): Promise<{wh: DuckDBWarehouse; file: string; dir: string}> {
  const dir = testDir()
  const file = path.join(dir, 'w.duckdb')
  const wh = await DuckDBWarehouse.open(file)
  onTestFinished(() => wh.close())
  return {wh, file, dir}
}

/**
 * Rows of the GCS path: S3 LastModified (`mod`), GCS finalize `transfer` s later (`gcs`), committed `load` s
 * after that (`ing`); event times 1 minute apart. Create the table with {gcs: true}.
 */
export function hopRows(hops: Array<[transfer: number, load: number]>, extra: Partial<FixtureRow> = {}): FixtureRow[] {
  return hops.map(([transfer, load], i) => ({ev: i * 60, mod: i * 60 + 5, gcs: i * 60 + 5 + transfer, ing: i * 60 + 5 + transfer + load, src: 'gs://landing/from-s3/x.log', path: 'stream', ...extra}))
}
