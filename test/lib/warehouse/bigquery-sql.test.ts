import {describe, expect, it} from 'vitest'
import {getFormat} from '../../../src/lib/formats/index.js'
import {tableColumns} from '../../../src/lib/formats/types.js'
import {bigQueryDialect, joinScript, ledgerCheckSql, ledgerSelectSql, mergeBatchStatements, replacedRange} from '../../../src/lib/warehouse/bigquery/sql.js'
import {bigQuerySyntaxError} from '../../helpers/bigquery-sql.js'
import {parseWarehouse} from '../../../src/lib/warehouse/index.js'
import {dryRunCoverage} from '../../helpers/gcp-doubles.js'


const d = bigQueryDialect('test-project', 'logs')
const merge = (replacing: boolean) =>
  mergeBatchStatements(d, {table: 'alb_logs', staging: '_seneka_stg_alb_logs_0a1b2c3d', columns: tableColumns(getFormat('alb')), replacing})

describe('every SQL statement the BigQuery warehouse generates parses as GoogleSQL (reserved words refused)', () => {
  const statements = [
    ledgerCheckSql(d),
    ledgerSelectSql(d),
    ...merge(true),
    ...merge(false),
    d.deleteRanked!('alb_logs', {partitionBy: ['_source_uri', '_line'], orderBy: '_ingested_at IS NULL, _ingested_at, _load_id DESC', where: '_source_uri IS NOT NULL', columns: ['_source_uri', '_line', 'rows', '_ingested_at', '_load_id']}),
    `SELECT ${d.timeBucket('event_time', 'hour')} AS h, ${d.quantile!('x', 0.99)} AS p99, ${d.epochSeconds('event_time')} AS e FROM ${d.table('alb_logs')} WHERE event_time >= ${d.timestampParam('since')} AND event_time < ${d.timestampParam('until')} GROUP BY h`,
    `SELECT COUNT(*) AS n FROM ${d.table('other_ds.t')} WHERE ${d.quoteIdent('rows')} > ${d.param('n')}`,
  ]
  for (const sql of statements) {
    it(sql.slice(0, 80), () => {
      expect(bigQuerySyntaxError(sql)).toBeNull()
    })
  }

  it('whole merge scripts parse, and the checker refuses what GoogleSQL refuses', () => {
    for (const replacing of [true, false]) expect(bigQuerySyntaxError(joinScript(merge(replacing)))).toBeNull()
    expect(bigQuerySyntaxError('SELECT COUNT(*) AS rows FROM t')).not.toBeNull()
    expect(bigQuerySyntaxError('SELECT source, rows FROM t')).not.toBeNull()
    expect(bigQuerySyntaxError('SELECT ROW_NUMBER() OVER (ORDER BY x NULLS LAST) AS n FROM t')).not.toBeNull()
    expect(bigQuerySyntaxError('SELECT COUNT(*) AS `rows` FROM t')).toBeNull()
  })

  it('the ledger MERGE has the expected shape', () => {
    const m = merge(true).find((s) => s.startsWith('MERGE '))!
    expect(m).toMatch(/^MERGE `test-project\.logs\._seneka_ledger` AS l USING \(.*\) AS s ON l\.target_table = @table AND l\.object_uri = s\._source_uri WHEN MATCHED THEN UPDATE SET .* WHEN NOT MATCHED THEN INSERT \(.*\) VALUES \(.*\)$/)
  })

  it('the merge is one transaction keyed by the ledger, deleting old versions only when replacing', () => {
    const withDelete = joinScript(merge(true))
    const without = joinScript(merge(false))
    expect(withDelete.split(';\n')[0]).toBe('BEGIN TRANSACTION')
    expect(withDelete).toContain("WHERE COALESCE(l.load_id, '') = e.prev")
    expect(withDelete).toContain("DELETE FROM `test-project.logs.alb_logs` WHERE _source_uri IN (SELECT e.uri FROM UNNEST(@expected) AS e LEFT JOIN `test-project.logs._seneka_ledger` AS l ON l.target_table = @table AND l.object_uri = e.uri WHERE COALESCE(l.load_id, '') = e.prev AND e.prev <> '')")
    expect(without).not.toContain('DELETE')
    expect(without.trim().endsWith('COMMIT TRANSACTION;\nSELECT e.uri AS object_uri FROM UNNEST(@expected) AS e JOIN `test-project.logs._seneka_ledger` AS l ON l.target_table = @table AND l.object_uri = e.uri WHERE l.load_id = e.load AND l.etag = e.etag;')).toBe(true)
  })

  it('the merge script is DDL-free, so its dry run covers every statement (BigQuery stops a script dry run at its first DDL)', () => {
    for (const replacing of [true, false]) {
      for (const s of merge(replacing)) expect(s).not.toMatch(/^\s*(CREATE|DROP|ALTER|TRUNCATE)\b/i)
      expect(dryRunCoverage(joinScript(merge(replacing)))).toEqual({sql: joinScript(merge(replacing))})
    }
    // what the double does with the old shape: refused, as BigQuery refuses it
    expect(dryRunCoverage('BEGIN TRANSACTION;\nCREATE TEMP TABLE _seneka_apply AS SELECT 1 AS x;\nSELECT 1;')).toHaveProperty('error')
    expect(dryRunCoverage('SELECT 1;\nCREATE TABLE t (x INT64);\nSELECT 2;')).toEqual({sql: 'SELECT 1;'})
  })

  it('a replace DELETE bounded by the replaced rows\' event-time range filters the partition column with constants', () => {
    const ranged = mergeBatchStatements(d, {table: 'alb_logs', staging: '_seneka_stg_alb_logs_0a1b2c3d', columns: tableColumns(getFormat('alb')), replacing: true, replaceRange: true})
    expect(ranged[1]).toMatch(/^DELETE FROM `test-project\.logs\.alb_logs` WHERE `event_time` >= CAST\(@replace_since AS TIMESTAMP\) AND `event_time` < CAST\(@replace_until AS TIMESTAMP\) AND _source_uri IN /)
    expect(bigQuerySyntaxError(ranged[1])).toBeNull()
    const t = (s: string) => new Date(s)
    expect(replacedRange([{eventRange: {min: t('2024-05-01T10:00:00Z'), max: t('2024-05-01T10:05:00Z')}}, {eventRange: {min: t('2024-04-30T23:59:00Z'), max: t('2024-05-01T00:01:00Z')}}])).toEqual({
      min: t('2024-04-30T23:59:00Z'),
      max: t('2024-05-01T10:05:00.001Z'),
    })
    // an entry without a recorded range (older ledger): no bound
    expect(replacedRange([{eventRange: {min: t('2024-05-01T10:00:00Z'), max: t('2024-05-01T10:05:00Z')}}, {eventRange: null}])).toBeNull()
  })

  it('quotes identifiers and qualifies tables with project and dataset', () => {
    expect(d.table('alb_logs')).toBe('`test-project.logs.alb_logs`')
    expect(d.table('raw.alb_logs')).toBe('`test-project.raw.alb_logs`')
    expect(() => d.table('x; DROP TABLE y')).toThrow(/not a valid table name/)
    expect(() => d.param('a-b')).toThrow()
  })
})

describe('warehouse URIs', () => {
  it('accept domain-scoped project ids (example.com:my-project) and qualify their tables with them', () => {
    expect(parseWarehouse('bigquery://example.com:my-project/logs')).toEqual({kind: 'bigquery', target: 'example.com:my-project', dataset: 'logs'})
    expect(parseWarehouse('bigquery://my-project/logs')).toEqual({kind: 'bigquery', target: 'my-project', dataset: 'logs'})
    const t = bigQueryDialect('example.com:my-project', 'logs').table('alb_logs')
    expect(t).toBe('`example.com:my-project.logs.alb_logs`')
    expect(bigQuerySyntaxError(`SELECT COUNT(*) AS n FROM ${t}`)).toBeNull()
    for (const bad of ['bigquery://My-Project/logs', 'bigquery://ab/logs', 'bigquery://:proj-ect/logs', 'bigquery://my-project/lo-gs']) expect(() => parseWarehouse(bad)).toThrow(/is not a warehouse URI/)
  })
})
