import {DuckDBInstance} from '@duckdb/node-api'

/**
 * Two DuckDB files loaded from the same inputs two ways, compared with EXCEPT ALL both ways: table `t` (all but the
 * load id and ingestion time) and the rejects (object, line, reason, raw).
 */
export async function except(a: string, b: string): Promise<{aNotB: number; bNotA: number; rejectsDiffer: number; rows: number; rejects: number}> {
  const inst = await DuckDBInstance.create(':memory:')
  const c = await inst.connect()
  try {
    await c.run(`ATTACH '${a}' AS a (READ_ONLY)`)
    await c.run(`ATTACH '${b}' AS b (READ_ONLY)`)
    const one = async (sql: string): Promise<number> => Number((await c.runAndReadAll(sql)).getRows()[0][0])
    const cols = 'SELECT * EXCLUDE (_load_id, _ingested_at) FROM'
    const rej = 'SELECT object_uri, line, reason, raw FROM'
    return {
      aNotB: await one(`SELECT count(*) FROM (${cols} a.t EXCEPT ALL ${cols} b.t)`),
      bNotA: await one(`SELECT count(*) FROM (${cols} b.t EXCEPT ALL ${cols} a.t)`),
      rejectsDiffer: (await one(`SELECT count(*) FROM (${rej} a._seneka_rejects EXCEPT ALL ${rej} b._seneka_rejects)`)) + (await one(`SELECT count(*) FROM (${rej} b._seneka_rejects EXCEPT ALL ${rej} a._seneka_rejects)`)),
      rows: await one('SELECT count(*) FROM b.t'),
      rejects: await one('SELECT count(*) FROM b._seneka_rejects'),
    }
  } finally {
    c.closeSync()
    inst.closeSync()
  }
}
