import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'
import Backfill from '../../src/commands/backfill.js'
import {sectionArgv} from '../../src/lib/config.js'
import {albFixture} from '../helpers/alb-fixtures.js'
import {ROOT} from '../helpers/cli.js'
import {tempDir} from '../helpers/tmp.js'

// In-process (--json: the result is returned, the human summary is not drawn; errors without it, to see them thrown): the command class from src, oclif's real parser, the config file on disk.
async function backfill(config: unknown, argv: string[], json = true) {
  const dir = tempDir()
  const src = path.join(dir, 'logs')
  albFixture({days: 1, intervalMinutes: 720, linesPerFile: 5, dir: src})
  const file = path.join(dir, 'seneka.json')
  writeFileSync(file, JSON.stringify(config))
  return Backfill.run([src, '--config', file, '--warehouse', `duckdb:${path.join(dir, 'w.duckdb')}`, '--log-level', 'error', ...(json ? ['--json'] : []), ...argv], ROOT)
}

describe('per-command config sections', () => {
  beforeEach(() => {
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  })
  afterEach(() => {
    vi.restoreAllMocks()
    process.exitCode = undefined
  })

  it("a command's section supplies its flags, required ones included", async () => {
    const r = await backfill({backfill: {format: 'alb', table: 'from_config', 'dry-run': true}}, [])
    expect(r).toMatchObject({dryRun: true, table: 'from_config', format: 'alb'})
  })

  it('flags given on the command line win over the section', async () => {
    const r = await backfill({backfill: {format: 'alb', table: 'from_config', 'dry-run': true}}, ['--table', 'from_cli'])
    expect(r).toMatchObject({dryRun: true, table: 'from_cli'})
  })

  it('repeatable flags take a list, and the values go through the flag parser', async () => {
    const r = await backfill({backfill: {format: 'alb', 'dry-run': true, include: ['*.nothing', '*.gz'], since: '2024-05-01T12:00'}}, [])
    expect(r.plan.totals.objects).toBe(2) // the 12:00 files of two nodes
    expect(r.since).toBe('2024-05-01T12:00:00.000Z')
  })

  it('an unknown key is an error naming the key path, in any command section', async () => {
    await expect(backfill({backfill: {format: 'alb', formt: 'elb'}}, [], false)).rejects.toThrow(/invalid at backfill\.formt: seneka backfill has no --formt flag/)
    await expect(backfill({stream: {queue_url: 'x'}}, ['--format', 'alb'], false)).rejects.toThrow(/invalid at stream\.queue_url: seneka stream has no --queue_url flag/)
  })

  it('a value of the wrong shape or one the flag refuses names the config file', async () => {
    await expect(backfill({backfill: {format: 'alb', 'dry-run': 'yes'}}, [], false)).rejects.toThrow(/invalid at backfill\.dry-run: expected true or false/)
    await expect(backfill({backfill: {format: 'xml'}}, [], false)).rejects.toThrow(/config file .*seneka\.json has a value that backfill does not accept: .*xml/)
  })
})

describe('sectionArgv', () => {
  const flags = [
    {name: 'format', kind: 'option' as const},
    {name: 'include', kind: 'option' as const, multiple: true},
    {name: 'reload', kind: 'boolean' as const},
    {name: 'color', kind: 'boolean' as const, allowNo: true},
  ]
  const args = (values: Record<string, unknown>, given: string[] = []) => sectionArgv({file: 'f.json', section: 'backfill', values, flags, given: new Set(given), command: 'seneka backfill'})

  it('turns keys into flag tokens and leaves out the flags given', () => {
    expect(args({format: 'alb', include: ['a', 'b'], reload: true, color: false})).toEqual(['--format=alb', '--include=a', '--include=b', '--reload', '--no-color'])
    expect(args({format: 'alb', reload: false}, ['format'])).toEqual([])
  })

  it('refuses a list for a single-valued flag and an object anywhere', () => {
    expect(() => args({format: ['a']})).toThrow(/backfill\.format: expected one value/)
    expect(() => args({format: {x: 1}})).toThrow(/backfill\.format: expected a string or a number/)
    expect(() => args({config: 'x'})).toThrow(/backfill\.config: seneka backfill has no --config flag/)
  })
})
