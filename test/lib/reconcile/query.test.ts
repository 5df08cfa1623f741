import {describe, expect, it} from 'vitest'
import {bucketCountQuery, explainQuery, floorToBucket, objectCountQuery} from '../../../src/lib/reconcile/query.js'
import {bigQueryDialect} from '../../../src/lib/warehouse/bigquery/sql.js'
import {bigQuerySyntaxError} from '../../helpers/bigquery-sql.js'

const d = bigQueryDialect('my-project', 'logs')
const range = {since: new Date('2024-05-01T00:00:00Z'), until: new Date('2024-05-02T00:00:00Z')}

describe('reconcile queries on BigQuery', () => {
  it('builds one GROUP BY per side with a range predicate on the time column, in BigQuery SQL', () => {
    const b = bucketCountQuery(d, {table: 'alb_batch', timeColumn: 'event_time', unit: 'hour', groupBy: 'elb', range})
    expect(b.sql).toBe(
      [
        'SELECT (UNIX_MICROS(b) / 1e6) AS bucket, grp, n FROM (',
        '  SELECT TIMESTAMP_TRUNC(`event_time`, HOUR) AS b, `elb` AS grp, COUNT(*) AS n',
        '  FROM `my-project.logs.alb_batch`',
        '  WHERE `event_time` >= CAST(@since AS TIMESTAMP) AND `event_time` < CAST(@until AS TIMESTAMP)',
        '  GROUP BY 1, 2',
        ') AS counts',
      ].join('\n'),
    )
    expect(b.params).toEqual(range)
    const o = objectCountQuery(d, {table: 'alb_stream', timeColumn: 'event_time', sourceColumn: '_source_uri', lineColumn: '_line', range, marginMs: 3_600_000})
    expect(o.params).toEqual({...range, lo: new Date('2024-04-30T23:00:00Z'), hi: new Date('2024-05-02T01:00:00Z')})
    expect(o.sql).toContain('WHERE `event_time` >= CAST(@lo AS TIMESTAMP) AND `event_time` < CAST(@hi AS TIMESTAMP)')
    const e = explainQuery(d, {table: 'alb_stream', timeColumn: 'event_time', sourceColumn: '_source_uri', range})
    for (const q of [b, o, e]) expect(bigQuerySyntaxError(q.sql), q.sql).toBeNull()
  })

  it('rounds instants down to their bucket', () => {
    const t = new Date('2024-05-01T13:47:31.500Z')
    expect(floorToBucket(t, 'minute').toISOString()).toBe('2024-05-01T13:47:00.000Z')
    expect(floorToBucket(t, 'hour').toISOString()).toBe('2024-05-01T13:00:00.000Z')
    expect(floorToBucket(t, 'day').toISOString()).toBe('2024-05-01T00:00:00.000Z')
  })
})
