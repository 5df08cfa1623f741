import path from 'node:path'
import {gzipSync} from 'node:zlib'
import {DuckDBWarehouse} from '../../../src/lib/warehouse/duckdb/warehouse.js'

export interface TestRow {
  partition: number | null
  offset: number | null
  event_time: string
  message?: string
  _source_uri: string
  _line: number
  _ingested_at: string
}

const DDL = `CREATE TABLE IF NOT EXISTS app_logs (partition INTEGER, "offset" BIGINT, event_time TIMESTAMP, message VARCHAR,
  _source_uri VARCHAR, _line BIGINT, _ingested_at TIMESTAMP)`

/** A DuckDB file holding app_logs with the given rows (a constructed table: partition/offset keys + provenance). */
export async function makeTable(dir: string, rows: TestRow[]): Promise<string> {
  const file = path.join(dir, 'w.duckdb')
  const wh = await DuckDBWarehouse.open(file)
  await wh.query(DDL)
  for (const r of rows) {
    await wh.query(`INSERT INTO app_logs VALUES ($p, $o, CAST($t AS TIMESTAMP), $m, $s, $l, CAST($i AS TIMESTAMP))`, {
      p: r.partition,
      o: r.offset,
      t: r.event_time,
      m: r.message ?? `msg ${r.partition}/${r.offset}`,
      s: r._source_uri,
      l: r._line,
      i: r._ingested_at,
    })
  }
  await wh.close()
  return file
}

/** Records partition p, offsets [from, to), one per minute from `day`, as loaded from `source` at `ingested`. */
export function records(p: number | null, from: number, to: number, source: string, ingested: string, day = '2024-05-01'): TestRow[] {
  const out: TestRow[] = []
  for (let o = from; o < to; o++) {
    out.push({
      partition: p,
      offset: o,
      event_time: new Date(Date.parse(`${day}T00:00:00Z`) + o * 60_000).toISOString().replace('Z', ''),
      _source_uri: source,
      _line: o - from + 1,
      _ingested_at: ingested,
    })
  }
  return out
}

export {count} from '../../helpers/duckdb.js'

/** JSON lines of records with offsets [from, from+n), gzipped when asked. */
export function body(from: number, n: number, gzip = true): Buffer {
  const text = Array.from({length: n}, (_, i) => JSON.stringify({offset: from + i, msg: 'x'.repeat(20)})).join('\n') + '\n'
  return gzip ? gzipSync(text) : Buffer.from(text)
}

export const kc = (topic: string, p: number, start: number): string => `${topic}+${p}+${String(start).padStart(10, '0')}.json.gz`

