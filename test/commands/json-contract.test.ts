import {mkdirSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {albFixture, PREFIX} from '../helpers/alb-fixtures.js'
import {type JsonEnvelope, jsonResult, runCli} from '../helpers/cli.js'
import {tempDir} from '../helpers/tmp.js'

/** Parses an error document and checks it has the envelope's shape and nothing more. */
function errorDoc(stdout: string): NonNullable<JsonEnvelope['error']> & {status: number} {
  const doc = JSON.parse(stdout) as JsonEnvelope
  expect(Object.keys(doc).sort()).toEqual(['error', 'status', 'warnings'])
  expect(Object.keys(doc.error!).filter((k) => !['name', 'message', 'exitCode', 'suggestion'].includes(k))).toEqual([])
  expect(doc.status).toBe(doc.error!.exitCode)
  return {...doc.error!, status: doc.status}
}

describe('--json: one small document of one shape (CLI)', () => {
  it.each([
    [['latency-report', '--json'], /^Missing required flag table$/],
    [['latency-report', '--table', 't', '--bogus', '--json'], /^Nonexistent flag: --bogus$/],
    [['backfill', '--json'], /^Missing the required argument SOURCE\.$/],
    [['cutover', 'rollback', '--json'], /^Missing required flag bucket$/],
  ])('%j: a parse error is a small usage document without the parser context', async (args, message) => {
    const r = await runCli(args)
    expect(r.code).toBe(2)
    expect(r.stdout.length).toBeLessThan(600)
    expect(r.stdout).not.toContain(os.homedir())
    const e = errorDoc(r.stdout)
    expect(e).toMatchObject({status: 2, name: 'UsageError', exitCode: 2})
    expect(e.message).toMatch(message)
    expect(e.suggestion).toMatch(/^See seneka .+ --help\.$/)
  })

  it('with colour forced (FORCE_COLOR=1), the document is still plain text: no terminal codes in JSON', async () => {
    const r = await runCli(['cutover', 'rollback', '--json'], {env: {FORCE_COLOR: '1'}, raw: true})
    expect(r.code).toBe(2)
    expect(r.stdout).not.toContain('\u001b')
    expect(errorDoc(r.stdout).message).toBe('Missing required flag bucket')
  })

  it('a success is {status, result, warnings}, and info lines still reach stderr', async () => {
    const dir = tempDir()
    albFixture({dir: path.join(dir, 's3'), days: 1})
    const r = await runCli(['backfill', path.join(dir, 's3', PREFIX), '--format', 'alb', '--warehouse', `duckdb:${path.join(dir, 'wh.duckdb')}`, '--dry-run', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const doc = JSON.parse(r.stdout)
    expect(doc).toMatchObject({status: 0, warnings: []})
    expect(jsonResult(r.stdout).plan.totals.objects).toBeGreaterThan(0)
    expect(r.stderr).toMatch(/^Planned \d+ objects/m)
  })
})

describe('plain mistakes: one sentence, a suggestion, a stable exit code (CLI)', () => {
  it.each([
    ['a missing --config file', (d: string) => ['backfill', d, '--format', 'alb', '--config', path.join(d, 'nosuch.json')], 2, /^The file \S+nosuch\.json given to --config does not exist\.$/],
    ['stream --watch of a missing folder', (d: string) => ['stream', '--watch', path.join(d, 'nope'), '--format', 'alb'], 2, /^The folder \S+nope given to --watch does not exist\.$/],
    ['stream --watch of a file', (d: string) => ['stream', '--watch', path.join(d, 'file.txt'), '--format', 'alb'], 2, /is a file, not a folder\.$/],
    ['a missing cutover plan file', (d: string) => ['cutover', 'apply', path.join(d, 'nosuch.plan.json')], 2, /^The file \S+nosuch\.plan\.json given to PLANFILE does not exist\.$/],
    ['a --table with a DuckDB schema that does not exist', (d: string) => ['backfill', path.join(d, 'logs'), '--format', 'alb', '--warehouse', `duckdb:${path.join(d, 'wh.duckdb')}`, '--table', 'other.alb'], 2, /^The DuckDB warehouse has no schema "other"/],
  ])('%s', async (_what, argv, code, message) => {
    const d = tempDir()
    writeFileSync(path.join(d, 'file.txt'), 'x')
    mkdirSync(path.join(d, 'logs'))
    albFixture({dir: path.join(d, 'logs'), days: 1})
    const args = argv(d)
    const json = await runCli([...args, '--json'])
    expect(json.code).toBe(code)
    const e = errorDoc(json.stdout)
    expect(e.message).toMatch(message)
    expect(e.message).not.toContain('Unexpected error')
    expect(e.suggestion).toBeTruthy()
    const human = await runCli(args)
    expect(human.code).toBe(code)
    expect(human.stderr).not.toContain('Unexpected error')
    expect(human.stderr).toContain('Try this:')
  })

  it.each([
    ['does not exist', (d: string) => path.join(d, 'nosuch.json'), /GOOGLE_APPLICATION_CREDENTIALS names \S+nosuch\.json, which does not exist/],
    ['is not JSON', (d: string) => (writeFileSync(path.join(d, 'bad.json'), '{"type": "service_account", broken'), path.join(d, 'bad.json')), /which is not valid JSON/],
    ['is not a key file', (d: string) => (writeFileSync(path.join(d, 'half.json'), '{"type": "service_account"}'), path.join(d, 'half.json')), /which is not a usable key file/],
  ])('a GOOGLE_APPLICATION_CREDENTIALS file that %s', async (_what, file, message) => {
    const d = tempDir()
    const r = await runCli(['latency-report', '--warehouse', 'bigquery://my-project/logs', '--table', 't', '--json'], {env: {GOOGLE_APPLICATION_CREDENTIALS: file(d)}})
    expect(r.code).toBe(1)
    const e = errorDoc(r.stdout)
    expect(e).toMatchObject({name: 'UserError', exitCode: 1, suggestion: expect.stringContaining('GOOGLE_APPLICATION_CREDENTIALS')})
    expect(e.message).toMatch(message)
  })
})
