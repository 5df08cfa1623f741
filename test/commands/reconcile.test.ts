import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {ExitCode} from '../../src/lib/exit-codes.js'
import Reconcile from '../../src/commands/reconcile.js'
import {jsonResult, runCli, runCommand} from '../helpers/cli.js'
import {tempDir} from '../helpers/tmp.js'
import {buildWarehouse, hourly} from '../lib/reconcile/fixtures.js'

const args = (warehouse: string): string[] => [
  'reconcile',
  '--warehouse',
  warehouse,
  '--batch-table',
  'batch_logs',
  '--stream-table',
  'stream_logs',
  '--since',
  '2024-05-01',
  '--until',
  '2024-05-01T03:00:00Z',
]

describe('seneka reconcile', () => {
  it('exits 10 on a mismatch, prints the full JSON report and writes the CSV', async () => {
    const [h0, h1, h2] = hourly()
    const dir = tempDir()
    const warehouse = await buildWarehouse(dir, {batch: [h0, h1, h2], stream: [h0, h1, {...h2, count: 90}]})
    const csv = path.join(dir, 'out.csv')
    const r = await runCli([...args(warehouse), '--json', '--csv', csv])
    expect(r.code).toBe(ExitCode.RECONCILE_MISMATCH)
    const doc = jsonResult(r.stdout)
    expect(doc.passed).toBe(false)
    expect(doc.by).toBe('hour')
    expect(doc.rows.map((x: {bucket: string; batch: number; stream: number; status: string}) => [x.bucket, x.batch, x.stream, x.status])).toEqual([
      ['2024-05-01T00:00:00.000Z', 100, 100, 'ok'],
      ['2024-05-01T01:00:00.000Z', 100, 100, 'ok'],
      ['2024-05-01T02:00:00.000Z', 100, 90, 'differ'],
    ])
    expect(doc.totals).toEqual({batch: 300, stream: 290, difference: -10, ratio: 0.966667})
    expect(doc.summary).toEqual({compared: 3, identical: 2, withinTolerance: 0, mismatched: 1, byStatus: {differ: 1}})
    expect(readFileSync(csv, 'utf8').trim().split('\n')).toHaveLength(4)

    // the same data within a 10-row tolerance passes; the human report goes to stdout
    const ok = await runCli([...args(warehouse), '--tolerance', '10'])
    expect(ok.code).toBe(ExitCode.OK)
    expect(ok.stdout).toMatch(/OK: 3 buckets compared, 2 identical, 1 differ within tolerance\./)
  })

  it('--by object on a terminal fits its width (URIs cut in the middle); off a terminal every character is kept (in process)', async () => {
    const prefix = `s3://my-logs/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2024/05/01/${'n'.repeat(100)}`
    const [h0, h1, h2] = hourly(prefix)
    const warehouse = await buildWarehouse(tempDir(), {batch: [h0, h1, h2], stream: [h0, h1, {...h2, count: 90}]})
    const argv = [...args(warehouse).slice(1), '--by', 'object']
    const piped = await runCommand(Reconcile, argv)
    expect(piped.stdout).toContain(`${prefix}/h02.log`)
    const tty = Object.getOwnPropertyDescriptors(process.stdout)
    Object.defineProperty(process.stdout, 'isTTY', {value: true, configurable: true})
    Object.defineProperty(process.stdout, 'columns', {value: 100, configurable: true})
    try {
      const r = await runCommand(Reconcile, argv)
      expect(r.code).toBe(ExitCode.RECONCILE_MISMATCH)
      const long = r.stdout.split('\n').filter((l) => l.length > 100)
      expect(long.filter((l) => l.includes('s3://'))).toEqual([])
      expect(r.stdout).toMatch(/ s3:\/\/my-logs\/AWS\S*…\S*n\/h02\.log /)
    } finally {
      for (const k of ['isTTY', 'columns'] as const) {
        if (tty[k]) Object.defineProperty(process.stdout, k, tty[k])
        else delete (process.stdout as unknown as Record<string, unknown>)[k]
      }
    }
  })

  it('exits 2 with one clear sentence for an unknown table', async () => {
    const dir = tempDir()
    const warehouse = await buildWarehouse(dir, {batch: hourly(), stream: hourly()})
    const r = await runCli([...args(warehouse).map((a) => (a === 'stream_logs' ? 'stream_logz' : a)), '--json'])
    expect(r.code).toBe(ExitCode.USAGE)
    const doc = JSON.parse(r.stdout)
    expect(doc.error.message).toBe(`The stream table stream_logz does not exist in ${warehouse}.`)
    expect(existsSync(path.join(dir, 'out.csv'))).toBe(false)
  })

  it('documents flags and exit codes in --help', async () => {
    const r = await runCli(['reconcile', '--help'])
    expect(r.code).toBe(0)
    for (const s of ['--batch-table', '--settle', '--tolerance', '--explain', '--verify-source', 'EXIT CODES', '10  the check ran']) expect(r.stdout).toContain(s)
  })

  it('exits 10 with NO DATA when neither table has rows in the range, and 1 when --verify-source cannot reach the store', async () => {
    const warehouse = await buildWarehouse(tempDir(), {batch: hourly(), stream: hourly()})
    const empty = await runCli(['reconcile', '--warehouse', warehouse, '--batch-table', 'batch_logs', '--stream-table', 'stream_logs', '--since', '2023-05-01', '--until', '2023-05-02'])
    expect(empty.code).toBe(ExitCode.RECONCILE_MISMATCH)
    expect(empty.stdout).toMatch(/NO DATA: neither batch_logs nor stream_logs has rows/)
    expect(empty.stdout).not.toMatch(/OK:/)
    const outage = await runCli([...args(warehouse), '--by', 'object', '--verify-source', '--s3-endpoint', 'http://127.0.0.1:9', '--region', 'us-east-1'], {
      env: {AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test'},
    })
    expect(outage.code).toBe(ExitCode.ERROR)
    expect(outage.stderr.replace(/\s*›\s*/g, ' ').replace(/\s+/g, ' ')).toMatch(/Could not read \d+ of \d+ source objects to count their lines .*so --verify-source did not run\./)
    expect(outage.stdout).not.toMatch(/differs from source|source_differs/)
  })
})
