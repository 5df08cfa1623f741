import path from 'node:path'
import {DuckDBWarehouse} from '../../../src/lib/warehouse/duckdb/warehouse.js'
import {LEDGER_TABLE} from '../../../src/lib/warehouse/types.js'

/** Rows of one source object: `count` rows starting at `start`, one every `stepSeconds`, lines from `firstLine`. */
export interface ObjectRows {
  uri: string
  start: string
  count: number
  stepSeconds?: number
  firstLine?: number
  service?: string
}

export interface Fixture {
  batch: ObjectRows[]
  stream: ObjectRows[]
  /** ledger entries: table -> uri -> rows */
  ledger?: Record<string, Record<string, {rows: number; rejected?: number}>>
}

const DDL = (t: string): string =>
  `CREATE TABLE ${t} (event_time TIMESTAMP, service VARCHAR, status INTEGER, _source_uri VARCHAR, _line BIGINT, _load_id VARCHAR)`

/** Builds a DuckDB file with tables batch_logs and stream_logs holding exactly the rows described. */
export async function buildWarehouse(dir: string, f: Fixture): Promise<string> {
  const file = path.join(dir, 'wh.duckdb')
  const wh = await DuckDBWarehouse.open(file)
  try {
    for (const [table, objects] of [['batch_logs', f.batch], ['stream_logs', f.stream]] as const) {
      await wh.query(DDL(table))
      for (const o of objects) {
        await wh.query(
          `INSERT INTO ${table} SELECT CAST($start AS TIMESTAMP) + to_seconds(i * $step), $service, 200, $uri, i + $first, 'test'
           FROM range($count) r(i)`,
          {start: o.start, step: o.stepSeconds ?? 1, service: o.service ?? 'web', uri: o.uri, first: o.firstLine ?? 1, count: o.count},
        )
      }
    }
    if (f.ledger) {
      const loader = await wh.openLoader({concurrency: 1}) // creates the ledger table
      await loader.close()
      for (const [table, entries] of Object.entries(f.ledger)) {
        for (const [uri, e] of Object.entries(entries)) {
          await wh.query(`INSERT INTO ${LEDGER_TABLE} (target_table, object_uri, etag, rows, rejected) VALUES ($t, $u, 'e', $r, $j)`, {
            t: table,
            u: uri,
            r: e.rows,
            j: e.rejected ?? 0,
          })
        }
      }
    }
  } finally {
    await wh.close()
  }
  return `duckdb:${file}`
}

/** Three hourly objects of 100 rows (one row every 30 s) on 2024-05-01, hours 00, 01 and 02. */
export function hourly(prefix = 's3://logs/app'): ObjectRows[] {
  return [0, 1, 2].map((h) => ({uri: `${prefix}/h0${h}.log`, start: `2024-05-01 0${h}:00:00`, count: 100, stepSeconds: 30}))
}
