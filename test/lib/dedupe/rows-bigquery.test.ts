import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {DEFAULT_MAX_BYTES_BILLED} from '../../../src/lib/cost/bigquery.js'
import {analyzeRows, applyRows, DayByDayError, type RowDedupeSpec} from '../../../src/lib/dedupe/rows.js'
import {runDedupe} from '../../../src/lib/dedupe/run.js'
import {renderDedupe} from '../../../src/lib/dedupe/render.js'
import {BigQueryWarehouse} from '../../../src/lib/warehouse/bigquery/warehouse.js'
import {openWarehouse} from '../../../src/lib/warehouse/index.js'
import {DuckDbStandIn} from '../../helpers/bigquery-on-duckdb.js'
import {bigQuerySyntaxError} from '../../helpers/bigquery-sql.js'
import {type GcpDouble, startGcpDouble} from '../../helpers/gcp-doubles.js'

let g: GcpDouble
beforeAll(async () => {
  g = await startGcpDouble()
})
afterAll(() => g.close())
afterEach(() => {
  g.tables.clear()
  g.requests.length = 0
  g.onQuery = undefined
})

async function open(): Promise<BigQueryWarehouse> {
  const wh = await openWarehouse('bigquery://test-project/logs', {
    readOnly: false,
    bigquery: {location: 'EU', apiEndpoint: g.endpoint, gcsEndpoint: g.endpoint, overrides: {retryBaseDelayMs: 1, pollIntervalMs: 2}},
  })
  return wh as BigQueryWarehouse
}

/** the real (not dry-run) query jobs: statement, session created, session used, bytes cap */
function statements() {
  return g.jobs('query').map((j) => ({
    sql: String(j.configuration.query.query).trim(),
    createSession: j.configuration.query.createSession === true,
    session: (j.configuration.query.connectionProperties ?? []).find((c: {key: string}) => c.key === 'session_id')?.value as string | undefined,
    maxBytes: j.configuration.query.maximumBytesBilled,
  }))
}

const kind = (sql: string): string =>
  sql.startsWith('BEGIN') ? 'BEGIN' : sql.startsWith('COMMIT') ? 'COMMIT' : sql.startsWith('ROLLBACK') ? 'ROLLBACK' : sql.startsWith('CALL BQ.ABORT_SESSION') ? 'ABORT' : sql.startsWith('DELETE') || sql.startsWith('MERGE') ? 'DELETE' : sql.includes('AS table_rows') ? 'COUNT' : sql.includes('_day AS day') ? 'DAYS' : 'OTHER'

describe('BigQuery transaction(): a multi-statement transaction in a session', () => {
  it('opens a session with BEGIN TRANSACTION, runs the statements in it with the cost guard, commits and ends the session', async () => {
    const wh = await open()
    g.onQuery = (sql) => (sql.startsWith('SELECT 7') ? {fields: [{name: 'x', type: 'INTEGER'}], rows: [{x: 7}]} : undefined)
    const rows = await wh.transaction(async (tx) => tx.query('SELECT 7 AS x'))
    expect(rows).toEqual([{x: 7}])
    const s = statements()
    expect(s.map((x) => kind(x.sql))).toEqual(['BEGIN', 'OTHER', 'COMMIT', 'ABORT'])
    expect(s[0]).toMatchObject({sql: 'BEGIN TRANSACTION', createSession: true, session: undefined})
    const id = g.jobs('query')[1].configuration.query.connectionProperties[0].value
    expect(id).toMatch(/^session_\d+$/)
    for (const x of s.slice(1)) expect(x).toMatchObject({createSession: false, session: id})
    for (const x of s) expect(x.maxBytes).toBe(String(DEFAULT_MAX_BYTES_BILLED))
    // the statement was dry-run first, outside the session
    const dry = g.jobs('dry')
    expect(dry.map((j) => j.configuration.query.query)).toEqual(['SELECT 7 AS x'])
    expect(dry[0].configuration.query.connectionProperties).toBeUndefined()
  })

  it('rolls back (and still ends the session) when the work fails, and passes the failure on', async () => {
    const wh = await open()
    const err = await wh
      .transaction(async (tx) => {
        await tx.query('SELECT 1 AS x')
        throw new Error('verification failed')
      })
      .catch((e) => e)
    expect(err.message).toBe('verification failed')
    const s = statements()
    expect(s.map((x) => kind(x.sql))).toEqual(['BEGIN', 'OTHER', 'ROLLBACK', 'ABORT'])
    expect(new Set(s.slice(1).map((x) => x.session)).size).toBe(1)
    expect(s[2].session).toMatch(/^session_/)
  })

  it('rolls back when a statement job fails in BigQuery', async () => {
    const wh = await open()
    g.onQuery = (sql) => {
      if (sql.startsWith('DELETE')) throw new Error('simulated: Transaction is aborted due to concurrent update')
      return undefined
    }
    const err = await wh.transaction((tx) => tx.query('DELETE FROM `test-project.logs.t` WHERE TRUE')).catch((e) => e)
    expect(err.message).toMatch(/concurrent update/)
    expect(statements().map((x) => kind(x.sql))).toEqual(['BEGIN', 'DELETE', 'ROLLBACK', 'ABORT'])
  })
})

const SPEC: RowDedupeSpec = {
  table: 'app_logs',
  keys: ['partition', 'offset'],
  keep: 'earliest',
  ingestedAtColumn: '_ingested_at',
  timeColumn: 'event_time',
  range: {since: new Date('2024-05-01T00:00:00Z'), until: new Date('2024-05-04T00:00:00Z')},
  samples: 0,
}

/** The table's metadata in the double, and answers for the statements of a per-day dedupe (removed: dup rows per day). */
function setup(removed: Record<string, number>, failDeleteOn?: string): void {
  const fields = [
    {name: 'event_time', type: 'TIMESTAMP'},
    {name: 'partition', type: 'INTEGER'},
    {name: 'offset', type: 'INTEGER'},
    {name: '_source_uri', type: 'STRING'},
    {name: '_line', type: 'INTEGER'},
    {name: '_ingested_at', type: 'TIMESTAMP'},
  ]
  g.tables.set('logs.app_logs', {metadata: {tableReference: {projectId: 'test-project', datasetId: 'logs', tableId: 'app_logs'}, schema: {fields}}, rows: []})
  const counted = new Map<string, number>()
  let tableRows = 1000
  g.onQuery = (sql, params) => {
    const k = kind(sql.trim())
    if (k === 'DAYS') {
      return {
        fields: [{name: 'day', type: 'TIMESTAMP'}, {name: 'dup_rows', type: 'INTEGER'}],
        rows: Object.entries(removed).map(([d, n]) => ({day: Date.parse(`${d}T00:00:00Z`) * 1000, dup_rows: n})),
      }
    }
    const day = String(params.seneka_day_start ?? '').slice(0, 10)
    if (k === 'DELETE' && day === failDeleteOn) throw new Error('simulated: Transaction is aborted due to concurrent update')
    if (k === 'COUNT') {
      const n = (counted.get(day) ?? 0) + 1
      counted.set(day, n)
      const dup = removed[day] ?? 0
      const distinct = 100
      if (n === 2) tableRows -= dup // after the delete
      const rows = n === 1 ? distinct + dup : distinct
      return {
        fields: ['table_rows', 'n_rows', 'null_rows', 'distinct_keys'].map((name) => ({name, type: 'INTEGER'})),
        rows: [{table_rows: tableRows, n_rows: rows, null_rows: 0, distinct_keys: distinct}],
      }
    }
    return undefined
  }
}

describe('dedupe --apply on BigQuery: one transaction per UTC day, one day after the other', () => {
  it('runs count, delete, verify, commit in its own session for each day holding duplicates, and reports rows removed per day', async () => {
    const wh = await open()
    setup({'2024-05-01': 3, '2024-05-03': 5})
    const days: string[] = []
    const applied = await applyRows(wh, SPEC, {onDay: (d) => void days.push(d)})
    expect(days).toEqual(['2024-05-01', '2024-05-03'])
    expect(applied.rowsRemoved).toBe(8)
    expect(applied.perDay?.map((d) => [d.day, d.rowsRemoved])).toEqual([
      ['2024-05-01', 3],
      ['2024-05-03', 5],
    ])
    expect(applied.before.duplicateRows).toBe(8)
    expect(applied.after.duplicateRows).toBe(0)

    const s = statements()
    expect(s.map((x) => kind(x.sql))).toEqual(['DAYS', ...['BEGIN', 'COUNT', 'DELETE', 'COUNT', 'COMMIT', 'ABORT'], ...['BEGIN', 'COUNT', 'DELETE', 'COUNT', 'COMMIT', 'ABORT']])
    // the day list is read outside any session, with a query BigQuery's grammar accepts; each day has its own
    // session, created by its BEGIN
    expect(s[0].session).toBeUndefined()
    expect(bigQuerySyntaxError(s[0].sql)).toBeNull()
    const first = s.slice(1, 7)
    const second = s.slice(7)
    expect(first[0].createSession && second[0].createSession).toBe(true)
    const [id1, id2] = [first[1].session, second[1].session]
    expect(id1).toBeDefined()
    expect(id2).toBeDefined()
    expect(id1).not.toBe(id2)
    for (const x of first.slice(1)) expect(x.session).toBe(id1)
    for (const x of second.slice(1)) expect(x.session).toBe(id2)
    for (const x of s) expect(x.maxBytes).toBe(String(DEFAULT_MAX_BYTES_BILLED))
    // each day's statements are limited to that day (on top of --since/--until), by parameters
    const deletes = g.jobs('query').filter((j) => kind(String(j.configuration.query.query)) === 'DELETE')
    for (const d of deletes) expect(String(d.configuration.query.query)).toMatch(/^MERGE INTO .* ON FALSE WHEN NOT MATCHED BY SOURCE AND .* THEN DELETE WHEN NOT MATCHED THEN INSERT /)
    expect(deletes).toHaveLength(2)
    for (const [i, day] of ['2024-05-01', '2024-05-03'].entries()) {
      const q = deletes[i].configuration.query
      expect(q.query).toMatch(/`event_time` >= CAST\(@seneka_day_start AS TIMESTAMP\) AND `event_time` < CAST\(@seneka_day_end AS TIMESTAMP\)/)
      const p = Object.fromEntries(q.queryParameters.map((x: {name: string; parameterValue: {value: string}}) => [x.name, x.parameterValue.value]))
      expect(p.seneka_day_start).toBe(`${day} 00:00:00.000+00:00`)
      expect(p.seneka_day_end.slice(0, 10)).toBe(new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10))
      expect(p.since).toBe('2024-05-01 00:00:00.000+00:00')
    }
    // every statement of the sessions was dry-run first without the session
    expect(g.jobs('dry').every((j) => j.configuration.query.connectionProperties === undefined)).toBe(true)
    expect(g.jobs('dry').filter((j) => String(j.configuration.query.query).startsWith('MERGE'))).toHaveLength(2)
  })

  it('stops at a failing day: that day is rolled back, earlier days stay committed, and the error names them', async () => {
    const wh = await open()
    setup({'2024-05-01': 3, '2024-05-02': 4, '2024-05-03': 5}, '2024-05-02')
    const err = await applyRows(wh, SPEC).catch((e) => e)
    expect(err).toBeInstanceOf(DayByDayError)
    expect(err.failedDay).toBe('2024-05-02')
    expect(err.daysDone.map((d: {day: string; rowsRemoved: number}) => [d.day, d.rowsRemoved])).toEqual([['2024-05-01', 3]])
    expect(err.daysNotStarted).toEqual(['2024-05-03'])
    expect(err.message).toMatch(/Removing duplicates of 2024-05-02 failed; .* rolled back.*2024-05-01: 3 rows removed.*2024-05-03.*concurrent update/)
    expect(err.suggestion).toMatch(/--since 2024-05-02T00:00:00Z/)
    const s = statements()
    expect(s.map((x) => kind(x.sql))).toEqual(['DAYS', 'BEGIN', 'COUNT', 'DELETE', 'COUNT', 'COMMIT', 'ABORT', 'BEGIN', 'COUNT', 'DELETE', 'ROLLBACK', 'ABORT'])
    const day2 = s.slice(7)
    expect(new Set(day2.slice(1).map((x) => x.session)).size).toBe(1)
    expect(day2[3].session).toBe(day2[1].session)
  })

  it('does nothing when no day holds duplicates within the day', async () => {
    const wh = await open()
    setup({})
    const applied = await applyRows(wh, SPEC)
    expect(applied.rowsRemoved).toBe(0)
    expect(applied.perDay).toEqual([])
    expect(statements().map((x) => kind(x.sql))).toEqual(['DAYS'])
  })
})

describe('rendering a per-day --apply', () => {
  it('lists rows removed per day and says how many cross-day copies remain', () => {
    const counts = {tableRows: 10, rows: 10, nullKeyRows: 0, distinctKeys: 8, duplicateRows: 0}
    const report = {
      table: 'app_logs', keys: ['partition', 'offset'], keep: 'earliest' as const, keepOrder: '`_ingested_at` IS NULL, `_ingested_at` ASC',
      range: {since: null, until: null, column: null}, rows: 12, nullKeyRows: 0, nullKeyRowsByColumn: {}, distinctKeys: 8,
      duplicateRows: 4, duplicatedKeys: 3, maxCopies: 2, perDay: [], perSource: [], sourcesWithDuplicates: 0, sampleKeys: [],
    }
    const out = renderDedupe({
      mode: 'rows', warehouse: 'bigquery://p/d', report, duplicatesFound: true, noData: false,
      applied: {rowsRemoved: 3, before: counts, after: counts, durationMs: 1200, perDay: [
        {day: '2024-05-01', rowsRemoved: 1, before: counts, after: counts, durationMs: 500},
        {day: '2024-05-03', rowsRemoved: 2, before: counts, after: counts, durationMs: 700},
      ]},
    })
    expect(out).toMatch(/2024-05-01 {2}removed 1 duplicate row \(/)
    expect(out).toMatch(/2024-05-03 {2}removed 2 duplicate rows/)
    expect(out).toMatch(/Removed 3 duplicate rows in 2 transactions, one per UTC day/)
    expect(out).toMatch(/1 duplicate row of the report is a copy on another day and remains/)
  })
})

describe('dedupe on BigQuery, executed (the double runs the GoogleSQL on a DuckDB stand-in)', () => {
  const FIELDS = [
    {name: 'event_time', type: 'TIMESTAMP'},
    {name: 'msg', type: 'STRING'},
    {name: 'partition', type: 'INTEGER'},
    {name: 'offset', type: 'INTEGER'},
  ]
  // no provenance columns (a table seneka did not load): copies of a key are byte-identical rows
  const ROWS = [
    {event_time: '2024-05-01T10:00:00Z', msg: 'a', partition: 0, offset: 1},
    {event_time: '2024-05-01T10:00:00Z', msg: 'a', partition: 0, offset: 1},
    {event_time: '2024-05-01T10:00:00Z', msg: 'a', partition: 0, offset: 1},
    {event_time: '2024-05-01T11:00:00Z', msg: 'b', partition: 0, offset: 2},
    {event_time: '2024-05-02T09:00:00Z', msg: 'c', partition: 1, offset: 7},
    {event_time: '2024-05-02T09:00:00Z', msg: 'c', partition: 1, offset: 7},
    {event_time: '2024-05-02T09:30:00Z', msg: 'null key', partition: null, offset: 9},
    {event_time: '2024-05-02T09:30:00Z', msg: 'null key', partition: null, offset: 9},
    {event_time: '2024-05-05T00:00:00Z', msg: 'out of range', partition: 2, offset: 1},
    {event_time: '2024-05-05T00:00:00Z', msg: 'out of range', partition: 2, offset: 1},
  ]
  let sql: DuckDbStandIn
  beforeAll(async () => {
    sql = await DuckDbStandIn.open()
  })
  afterAll(() => sql.close())
  afterEach(() => {
    g.sql = undefined
    g.datasetLocations.clear()
    g.sessions.clear()
    g.endedSessions.clear()
  })

  async function seed(): Promise<BigQueryWarehouse> {
    await sql.createTable('logs', 'app_logs', FIELDS, ROWS)
    g.tables.set('logs.app_logs', {metadata: {tableReference: {projectId: 'test-project', datasetId: 'logs', tableId: 'app_logs'}, schema: {fields: FIELDS}}, rows: []})
    g.sql = sql
    // the dataset lives in the EU and no --location is given: every job must still run in the EU
    g.datasetLocations.set('logs', 'EU')
    return (await openWarehouse('bigquery://test-project/logs', {
      readOnly: false,
      bigquery: {apiEndpoint: g.endpoint, gcsEndpoint: g.endpoint, overrides: {retryBaseDelayMs: 1, pollIntervalMs: 2}},
    })) as BigQueryWarehouse
  }

  const spec: RowDedupeSpec = {...SPEC, ingestedAtColumn: '_ingested_at', samples: 5}

  it('reports the duplicates with queries BigQuery accepts (reserved words quoted or avoided)', async () => {
    const wh = await seed()
    const r = await analyzeRows(wh, spec)
    expect(r).toMatchObject({rows: 8, nullKeyRows: 2, duplicateRows: 3, duplicatedKeys: 2, maxCopies: 3, distinctKeys: 3})
    expect(r.perDay.map((d) => [d.day, d.rows, d.duplicateRows])).toEqual([
      ['2024-05-01', 4, 2],
      ['2024-05-02', 4, 1],
    ])
    expect(r.sampleKeys.map((k) => [k.key, k.copies])).toEqual([
      [{partition: 0, offset: 1}, 3],
      [{partition: 1, offset: 7}, 2],
    ])
    for (const q of g.jobs('query')) expect(bigQuerySyntaxError(q.configuration.query.query)).toBeNull()
  })

  it('--apply removes byte-identical copies, keeps one of each, leaves NULL keys and rows out of range alone, in the dataset location', async () => {
    const wh = await seed()
    const applied = await applyRows(wh, spec)
    expect(applied.rowsRemoved).toBe(3)
    expect(applied.after.duplicateRows).toBe(0)
    const left = await sql.rows('logs', 'app_logs', 'event_time, msg')
    expect(left.map((x) => [x.msg, x.partition, x.offset])).toEqual([
      ['a', '0', '1'],
      ['b', '0', '2'],
      ['c', '1', '7'],
      ['null key', null, '9'],
      ['null key', null, '9'],
      ['out of range', '2', '1'],
      ['out of range', '2', '1'],
    ])
    // one session per day, each created where the dataset is (read from datasets.get, as no location was set)
    expect([...g.sessions.values()]).toEqual(['EU', 'EU'])
    expect(g.jobs().every((j) => j.jobReference?.location === 'EU')).toBe(true)
    expect(g.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/datasets/logs'))).toHaveLength(1)
  })

  it('an interrupted --apply ends its session at once: the open transaction is rolled back and frees the table', async () => {
    await seed()
    const abort = new AbortController()
    const err = await runDedupe({
      mode: 'rows',
      warehouse: 'bigquery://test-project/logs',
      bigquery: {apiEndpoint: g.endpoint, gcsEndpoint: g.endpoint, overrides: {retries: 0, retryBaseDelayMs: 1, pollIntervalMs: 2}},
      apply: true,
      maxRemove: {kind: 'percent', value: 100},
      signal: abort.signal,
      ...spec,
      // Ctrl-C after the MERGE ran in the transaction, before the commit
      onStage: async (s) => {
        if (s !== 'verifying') return
        abort.abort()
        await new Promise((r) => setTimeout(r, 50))
      },
    }).catch((e) => e)
    expect(err).toBeInstanceOf(Error)
    expect(String(err.message)).toMatch(/rolled back/)
    // the session was ended (by the interruption, not by a timeout) and nothing of the day is committed
    expect(g.endedSessions.size).toBe(1)
    expect((await sql.rows('logs', 'app_logs')).length).toBe(ROWS.length)
    expect(g.jobs('query').filter((j) => String(j.configuration.query.query).startsWith('COMMIT'))).toHaveLength(0)
  })

  it('a session created in the wrong location cannot run the statements (as in BigQuery)', async () => {
    const wh = await seed()
    g.datasetLocations.set('logs', 'EU')
    const us = (await openWarehouse('bigquery://test-project/logs', {
      readOnly: false,
      bigquery: {location: 'US', apiEndpoint: g.endpoint, gcsEndpoint: g.endpoint, overrides: {retries: 0, retryBaseDelayMs: 1, pollIntervalMs: 2}},
    })) as BigQueryWarehouse
    const err = await applyRows(us, spec).catch((e) => e)
    expect(String(err.message)).toMatch(/^Not found while trying to estimate a query \(dry run\): Not found: Dataset test-project:logs was not found in location US/)
    expect(err.suggestion).toMatch(/--location/)
    expect((await sql.rows('logs', 'app_logs')).length).toBe(ROWS.length)
    await wh.close()
  })
})
