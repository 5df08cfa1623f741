import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {ROOT, runCli} from '../helpers/cli.js'
import {tempDir} from '../helpers/tmp.js'

/** What a command imports when it starts: a run on local folders and DuckDB loads no cloud SDK. */
async function packagesLoaded(args: string[]): Promise<Set<string>> {
  const dir = tempDir()
  const file = path.join(dir, 'packages.txt')
  writeFileSync(file, '')
  const r = await runCli(args, {env: {NODE_OPTIONS: `--import ${path.join(ROOT, 'test/helpers/record-packages.mjs')}`, SENEKA_TEST_PACKAGES: file}, cwd: dir})
  expect(r.code, r.stderr).toBe(0)
  return new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean))
}

describe('start-up imports', () => {
  it('a local backfill into DuckDB loads neither the AWS nor the Google SDKs, nor other commands', async () => {
    const dir = tempDir()
    mkdirSync(path.join(dir, 'logs'))
    writeFileSync(path.join(dir, 'logs', 'a.log'), '')
    const pkgs = await packagesLoaded(['backfill', path.join(dir, 'logs'), '--format', 'alb', '--dry-run', '--warehouse', `duckdb:${path.join(dir, 'w.duckdb')}`])
    expect(pkgs.has('@oclif/core')).toBe(true)
    const cloud = [...pkgs].filter((p) => /^@aws-sdk\/|^@google-cloud\/|^google-auth-library$|^gaxios$/.test(p))
    expect(cloud).toEqual([])
    // modules of other commands (dedupe's CSV writer, latency's histograms) are not imported either
    expect(pkgs.has('csv-stringify')).toBe(false)
    expect(pkgs.has('hdr-histogram-js')).toBe(false)
  })
})
