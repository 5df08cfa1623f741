import {DuckDBInstance} from '@duckdb/node-api'

/** Runs a query on a DuckDB file (opened and closed around it) and returns plain rows. */
export async function duckQuery(file: string, sql: string): Promise<Array<Record<string, unknown>>> {
  const inst = await DuckDBInstance.create(file)
  const c = await inst.connect()
  try {
    const rows = (await c.runAndReadAll(sql)).getRowObjectsJS()
    return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])))
  } finally {
    c.closeSync()
    inst.closeSync()
  }
}

export async function count(file: string, sql: string): Promise<number> {
  const rows = await duckQuery(file, sql)
  return Number(Object.values(rows[0])[0])
}
