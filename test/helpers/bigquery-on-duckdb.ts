import {DuckDBConnection, DuckDBInstance} from '@duckdb/node-api'

/**
 * A stand-in that really executes the GoogleSQL seneka sends to BigQuery, on an in-memory DuckDB: the
 * BigQuery double hands it every statement it does not simulate itself. Each statement is translated
 * (backtick names, @parameters, the few BigQuery functions seneka uses) and run; each BigQuery session gets its
 * own DuckDB connection, so BEGIN / COMMIT / ROLLBACK TRANSACTION are real transactions and an aborted session
 * rolls back. Results come back with BigQuery field types and cells as BigQuery's REST API encodes them
 * (TIMESTAMP as microseconds). A translation it does not know fails loudly instead of guessing.
 */

export interface StandInField {
  name: string
  type: string
}

export interface StandInAnswer {
  fields: StandInField[]
  rows: Array<Record<string, unknown>>
}

export interface TypedParam {
  type: string
  value: unknown
}

const DUCK_TYPES: Record<string, string> = {
  STRING: 'VARCHAR',
  INTEGER: 'BIGINT',
  INT64: 'BIGINT',
  FLOAT: 'DOUBLE',
  FLOAT64: 'DOUBLE',
  BOOLEAN: 'BOOLEAN',
  BOOL: 'BOOLEAN',
  TIMESTAMP: 'TIMESTAMP',
}

function bqType(duck: string): string {
  if (/INT/.test(duck)) return 'INTEGER'
  if (/DOUBLE|FLOAT|DECIMAL/.test(duck)) return 'FLOAT'
  if (/TIMESTAMP/.test(duck)) return 'TIMESTAMP'
  if (duck === 'BOOLEAN') return 'BOOLEAN'
  return 'STRING'
}

/** Splits a call's argument text at top-level commas. */
function splitArgs(text: string): string[] {
  const out: string[] = []
  let depth = 0
  let cur = ''
  for (const ch of text) {
    if (ch === '(' || ch === '[') depth++
    if (ch === ')' || ch === ']') depth--
    if (ch === ',' && depth === 0) {
      out.push(cur.trim())
      cur = ''
    } else cur += ch
  }
  if (cur.trim()) out.push(cur.trim())
  return out
}

/** Rewrites every call NAME(args) (case-insensitive), innermost calls included, with fn(args). */
function rewriteCalls(sql: string, name: string, fn: (args: string[]) => string): string {
  const re = new RegExp(`\\b${name}\\(`, 'i')
  let out = sql
  for (let m = re.exec(out); m; m = re.exec(out)) {
    const open = m.index + m[0].length
    let depth = 1
    let i = open
    for (; i < out.length && depth > 0; i++) {
      if (out[i] === '(') depth++
      if (out[i] === ')') depth--
    }
    const inner = rewriteCalls(out.slice(open, i - 1), name, fn)
    out = out.slice(0, m.index) + fn(splitArgs(inner)) + out.slice(i)
  }
  return out
}

/** GoogleSQL as seneka writes it -> DuckDB SQL. */
export function toDuckSql(sql: string): string {
  let s = sql.trim().replace(/;\s*$/, '')
  s = s.replace(/^COMMIT TRANSACTION$/i, 'COMMIT').replace(/^ROLLBACK TRANSACTION$/i, 'ROLLBACK')
  // `project.dataset.table` -> "dataset"."table"; `column` -> "column"
  s = s.replace(/`([^`.]+)\.([^`.]+)\.([^`.]+)`/g, '"$2"."$3"').replace(/`([^`]+)`/g, '"$1"')
  s = s.replace(/\bIN UNNEST\(@([A-Za-z_][A-Za-z0-9_]*)\)/g, 'IN (SELECT unnest(@$1))')
  s = s.replace(/@([A-Za-z_][A-Za-z0-9_]*)/g, '$$$1')
  s = rewriteCalls(s, 'TO_JSON_STRING', ([x]) => `to_json(${x})`)
  s = rewriteCalls(s, 'STRUCT', (args) => `struct_pack(${args.map((a, i) => `k${i} := ${a}`).join(', ')})`)
  s = rewriteCalls(s, 'TIMESTAMP_TRUNC', ([x, unit]) => `date_trunc('${unit.toLowerCase()}', ${x})`)
  s = rewriteCalls(s, 'UNIX_MICROS', ([x]) => `epoch_us(${x})`)
  s = s.replace(/APPROX_QUANTILES\(([^,]+), (\d+)\)\[OFFSET\((\d+)\)\]/gi, (_, x, n, k) => `quantile_disc(${x}, ${Number(k) / Number(n)})`)
  return s
}

function duckParam(p: TypedParam): unknown {
  if (p.value === null || p.value === undefined) return null
  if (p.type === 'TIMESTAMP') {
    // '2024-05-01 00:00:00.000+00:00' (the client's encoding) -> a UTC timestamp literal DuckDB casts
    return String(p.value).replace(/([+-]00:?00|Z)$/, '')
  }
  if (p.type === 'INT64' || p.type === 'INTEGER') return BigInt(String(p.value))
  if (p.type === 'FLOAT64' || p.type === 'FLOAT') return Number(p.value)
  if (p.type === 'BOOL' || p.type === 'BOOLEAN') return p.value === true || p.value === 'true'
  return String(p.value)
}

function micros(text: string): number {
  const m = /\.(\d{1,6})/.exec(text)
  const frac = m ? Number(m[1].padEnd(6, '0')) % 1000 : 0
  return Date.parse(`${text.replace(' ', 'T').replace(/\.\d+/, (x) => x.slice(0, 4))}Z`) * 1000 + frac
}

export class DuckDbStandIn {
  /** every statement run, translated, in order */
  readonly executed: string[] = []
  private readonly sessions = new Map<string, DuckDBConnection>()

  private constructor(
    private readonly db: DuckDBInstance,
    private readonly main: DuckDBConnection,
  ) {}

  static async open(): Promise<DuckDbStandIn> {
    const db = await DuckDBInstance.create(':memory:')
    return new DuckDbStandIn(db, await db.connect())
  }

  /** Creates dataset.table with BigQuery fields and rows (TIMESTAMP values as ISO strings or Dates). */
  async createTable(dataset: string, table: string, fields: StandInField[], rows: Array<Record<string, unknown>> = []): Promise<void> {
    await this.main.run(`CREATE SCHEMA IF NOT EXISTS "${dataset}"`)
    await this.main.run(`CREATE OR REPLACE TABLE "${dataset}"."${table}" (${fields.map((f) => `"${f.name}" ${DUCK_TYPES[f.type] ?? 'VARCHAR'}`).join(', ')})`)
    const values = rows.map((r) => {
      const vals = fields.map((f) => {
        const v = r[f.name]
        if (v === null || v === undefined) return 'NULL'
        if (f.type === 'TIMESTAMP') return `TIMESTAMP '${(v instanceof Date ? v.toISOString() : String(v)).replace('T', ' ').replace('Z', '')}'`
        if (typeof v === 'number' || typeof v === 'bigint') return String(v)
        return `'${String(v).replaceAll("'", "''")}'`
      })
      return `(${vals.join(', ')})`
    })
    for (let i = 0; i < values.length; i += 500) await this.main.run(`INSERT INTO "${dataset}"."${table}" VALUES ${values.slice(i, i + 500).join(', ')}`)
  }

  /** Rows of a table, as JSON-like objects (for assertions). */
  async rows(dataset: string, table: string, orderBy = '1'): Promise<Array<Record<string, unknown>>> {
    const r = await this.main.runAndReadAll(`SELECT * FROM "${dataset}"."${table}" ORDER BY ${orderBy}`)
    return r.getRowObjectsJson() as Array<Record<string, unknown>>
  }

  private async connection(session?: string): Promise<DuckDBConnection> {
    if (!session) return this.main
    let c = this.sessions.get(session)
    if (!c) {
      c = await this.db.connect()
      this.sessions.set(session, c)
    }
    return c
  }

  /** Ends a session: an open transaction in it is rolled back (what BigQuery does when a session ends). */
  async endSession(session: string): Promise<void> {
    const c = this.sessions.get(session)
    if (!c) return
    this.sessions.delete(session)
    await c.run('ROLLBACK').catch(() => {})
    c.closeSync()
  }

  /** Appends rows (REST cells: TIMESTAMP as microseconds) to dataset.table, created with these fields if missing. */
  async insertRows(dataset: string, table: string, fields: StandInField[], rows: Array<Record<string, unknown>>): Promise<void> {
    await this.main.run(`CREATE SCHEMA IF NOT EXISTS "${dataset}"`)
    await this.main.run(`CREATE TABLE IF NOT EXISTS "${dataset}"."${table}" (${fields.map((f) => `"${f.name}" ${DUCK_TYPES[f.type] ?? 'VARCHAR'}`).join(', ')})`)
    const cell = (v: unknown, type: string) =>
      v === null || v === undefined ? 'NULL' : type === 'TIMESTAMP' ? `make_timestamp(${Math.round(Number(v))}::BIGINT)` : typeof v === 'number' ? String(v) : `'${String(v).replaceAll("'", "''")}'`
    for (let i = 0; i < rows.length; i += 500) {
      const values = rows.slice(i, i + 500).map((r) => `(${fields.map((f) => cell(r[f.name], f.type)).join(', ')})`)
      await this.main.run(`INSERT INTO "${dataset}"."${table}" (${fields.map((f) => `"${f.name}"`).join(', ')}) VALUES ${values.join(', ')}`)
    }
  }

  async run(sql: string, params: Record<string, TypedParam>, session?: string): Promise<StandInAnswer> {
    let duck = toDuckSql(sql)
    // ARRAY<STRING> parameters go in as list literals
    for (const [k, p] of Object.entries(params)) {
      if (p.type === 'ARRAY') duck = duck.replaceAll(`$${k}`, `[${(p.value as unknown[]).map((v) => `'${String(v).replaceAll("'", "''")}'`).join(', ')}]::VARCHAR[]`)
    }
    this.executed.push(duck)
    const c = await this.connection(session)
    const used = Object.fromEntries(Object.entries(params).filter(([k, p]) => p.type !== 'ARRAY' && duck.includes(`$${k}`)).map(([k, p]) => [k, duckParam(p)]))
    const reader = await c.runAndReadAll(duck, used as never)
    const names = reader.columnNames()
    const types = reader.columnTypes().map((t) => bqType(String(t)))
    const fields = names.map((name, i) => ({name, type: types[i]}))
    const rows = (reader.getRowObjectsJson() as Array<Record<string, unknown>>).map((r) =>
      Object.fromEntries(fields.map((f) => [f.name, f.type === 'TIMESTAMP' && r[f.name] !== null ? micros(String(r[f.name])) : r[f.name]])),
    )
    return {fields, rows}
  }

  close(): void {
    for (const c of this.sessions.values()) c.closeSync()
    this.main.closeSync()
    this.db.closeSync()
  }
}
