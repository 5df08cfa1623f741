import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {runBackfill} from '../../../src/lib/backfill/run.js'
import {getFormat} from '../../../src/lib/formats/index.js'
import {parseJsonlColumns} from '../../../src/lib/formats/jsonl.js'
import {duckQuery} from '../../helpers/duckdb.js'
import {tempDir} from '../../helpers/tmp.js'

const BASE = [
  'http', '2024-05-01T10:00:00.123456Z', 'app/lb/1', '10.0.0.1:2817', '10.0.0.2:80', '0.000', '0.001', '0.000', '200', '200', '34', '366',
  '"GET http://x/ HTTP/1.1"', '"curl/8"', '-', '-', 'arn:tg', '"Root=1"', '"-"', '"-"', '0', '2024-05-01T10:00:00.000000Z', '"forward"',
]
const albLine = (patch: Record<number, string> = {}): string => BASE.map((f, i) => patch[i] ?? f).join(' ')

async function load(files: Record<string, string>, format = getFormat('alb')) {
  const dir = tempDir()
  const src = path.join(dir, 'src')
  mkdirSync(src, {recursive: true})
  for (const [name, body] of Object.entries(files)) writeFileSync(path.join(src, name), body)
  const db = path.join(dir, 'wh.duckdb')
  const r = await runBackfill({sources: [src], format, warehouse: `duckdb:${db}`, table: 't', range: {}, concurrency: 2, dryRun: false})
  return {r, db}
}

describe('one bad value is one rejected line, never a failed object (DuckDB)', () => {
  it('rejects out-of-range ALB values and keeps extreme but valid ones exactly', async () => {
    const lines = [
      albLine(),
      albLine({3: '10.0.0.1:99999999999'}),
      albLine({8: '9999999999'}),
      albLine({10: '10000000000000000000'}),
      albLine({11: '1e21'}),
      albLine({1: '2024-02-30T00:00:00Z'}),
      albLine({1: '0001-01-01T00:00:00Z', 10: '9223372036854775807', 11: '9007199254740993'}),
      albLine({1: '0099-06-30T12:00:00.5Z'}),
      albLine({1: '9999-12-31T23:59:59.999999Z'}),
    ]
    const {r, db} = await load({'a.log': `${lines.join('\n')}\n`})
    expect(r.objects.failed).toBe(0)
    expect(r.failures).toEqual([])
    expect(r.rows).toBe(4)
    expect(r.rejected).toBe(5)
    const rejects = await duckQuery(db, 'SELECT line, reason FROM _seneka_rejects ORDER BY line')
    expect(rejects.map((x) => x.line)).toEqual([2, 3, 4, 5, 6])
    const rows = await duckQuery(db, 'SELECT _line, CAST(event_time AS VARCHAR) AS t, CAST(received_bytes AS VARCHAR) AS rb, CAST(sent_bytes AS VARCHAR) AS sb FROM t ORDER BY _line')
    expect(rows).toEqual([
      {_line: 1, t: '2024-05-01 10:00:00.123456', rb: '34', sb: '366'},
      {_line: 7, t: '0001-01-01 00:00:00', rb: '9223372036854775807', sb: '9007199254740993'},
      {_line: 8, t: '0099-06-30 12:00:00.5', rb: '34', sb: '366'},
      {_line: 9, t: '9999-12-31 23:59:59.999999', rb: '34', sb: '366'},
    ])
  })

  it('keeps every character of text values exactly through the staging file: quotes, tabs, \\N, U+0001, a record with white space', async () => {
    const messages = ['say "hi"', 'tab\there', 'line\nbreak', '\\N', 'ctl \u0001 one', '\u0001\u0001', '"', '', 'plain']
    const lines = messages.map((m, i) => (i === 0 ? `{ "ts" :\t"2024-05-01T10:00:0${i}Z", "message": ${JSON.stringify(m)} }` : JSON.stringify({ts: `2024-05-01T10:00:0${i}Z`, message: m})))
    const {r, db} = await load({'a.jsonl': `${lines.join('\n')}\n`}, getFormat('jsonl'))
    expect(r.failures).toEqual([])
    const rows = await duckQuery(db, 'SELECT message, record FROM t ORDER BY _line')
    expect(rows.map((x) => x.message)).toEqual(messages)
    expect(rows.map((x) => x.record)).toEqual(lines)
  })

  it('rejects jsonl values that do not fit their column, keeps 2^53+1 exactly', async () => {
    const format = getFormat('jsonl', {columns: parseJsonlColumns('partition:int,offset:bigint')})
    const lines = [
      '{"ts":1714557600,"partition":1,"offset":9007199254740993}',
      '{"ts":1714557600,"partition":3e9,"offset":1}',
      '{"ts":1714557600,"partition":1,"offset":1e19}',
      '{"ts":1714557600,"partition":true,"offset":1}',
      '{"ts":1714557600,"partition":"","offset":1}',
      '{"ts":1714557600,"partition":[7],"offset":1}',
      '{"ts":1714557600,"partition":2,"offset":1e21}',
    ]
    const {r, db} = await load({'a.jsonl': lines.join('\n')}, format)
    expect([r.objects.failed, r.rows, r.rejected]).toEqual([0, 1, 6])
    const rows = await duckQuery(db, 'SELECT partition, CAST("offset" AS VARCHAR) AS o FROM t')
    expect(rows).toEqual([{partition: 1, o: '9007199254740993'}])
  })
})

describe('long lines and bytes that are not text (DuckDB)', () => {
  it('loads lines far beyond DuckDB default line size, rejects a line over 16 MB and invalid UTF-8 as one line each', async () => {
    const big = 'x'.repeat(3_000_000)
    const huge = 'y'.repeat(17 * 1024 * 1024)
    const body = Buffer.concat([
      Buffer.from(`{"ts":1714557600,"msg":"${big}"}\n`),
      Buffer.from(`{"ts":1714557601,"msg":"${huge}"}\n`),
      Buffer.from('{"ts":1714557602,"msg":"bad \xff\xfe here"}\n', 'latin1'),
      Buffer.from(albLine({13: `"${'ua '.repeat(1_500_000)}"`}).replace(/^/, '') + '\n'),
      Buffer.from('{"ts":1714557603,"msg":"ok ünï"}\n'),
    ])
    const dir = tempDir()
    mkdirSync(path.join(dir, 'src'))
    writeFileSync(path.join(dir, 'src', 'a.jsonl'), body)
    const db = path.join(dir, 'wh.duckdb')
    const r = await runBackfill({sources: [path.join(dir, 'src')], format: getFormat('jsonl'), warehouse: `duckdb:${db}`, table: 't', range: {}, concurrency: 1, dryRun: false})
    expect(r.failures).toEqual([])
    expect([r.rows, r.rejected]).toEqual([2, 3])
    const rejects = await duckQuery(db, 'SELECT line, reason, length(raw) AS n FROM _seneka_rejects ORDER BY line')
    expect(rejects[0]).toEqual({line: 2, reason: `line is longer than 16777216 bytes (${huge.length + 26} bytes)`, n: 2048})
    expect(rejects[1]).toMatchObject({line: 3, reason: 'not valid UTF-8'})
    expect(rejects[2]).toMatchObject({line: 4, reason: 'not valid JSON'})
    const rows = await duckQuery(db, 'SELECT _line, length(message) AS n FROM t ORDER BY _line')
    expect(rows).toEqual([{_line: 1, n: 3_000_000}, {_line: 5, n: 6}])
  })

  it('loads an ALB line with a 4.5 MB user agent', async () => {
    const ua = 'Mozilla '.repeat(560_000)
    const {r, db} = await load({'a.log': `${albLine({13: `"${ua}"`})}\n${albLine()}\n`})
    expect(r.failures).toEqual([])
    expect([r.rows, r.rejected]).toEqual([2, 0])
    expect(await duckQuery(db, 'SELECT length(user_agent) AS n FROM t ORDER BY _line')).toEqual([{n: ua.length}, {n: 6}])
  })
})
