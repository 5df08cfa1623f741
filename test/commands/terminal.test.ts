import {spawnSync} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {ROOT, runCli} from '../helpers/cli.js'
import {tempDir} from '../helpers/tmp.js'

const version = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string

describe('seneka help, version and typos (CLI)', () => {
  it('`seneka help` lists the commands and topics', async () => {
    const r = await runCli(['help'])
    expect(r.code, r.stderr).toBe(0)
    for (const s of ['backfill', 'reconcile', 'latency-report', 'dedupe', 'stream', 'cutover']) expect(r.stdout).toContain(s)
  })

  it('`seneka help backfill` is the same as `seneka backfill --help`', async () => {
    const [a, b] = await Promise.all([runCli(['help', 'backfill']), runCli(['backfill', '--help'])])
    expect(a.code, a.stderr).toBe(0)
    expect(a.stdout).toContain('EXIT CODES')
    expect(a.stdout).toBe(b.stdout)
  })

  it('`seneka help cutover apply` shows the topic command', async () => {
    const r = await runCli(['help', 'cutover', 'apply'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('PLANFILE')
  })

  it('`seneka version` and `seneka --version` print the version', async () => {
    const [a, b] = await Promise.all([runCli(['version']), runCli(['--version'])])
    expect(a.code, a.stderr).toBe(0)
    expect(a.stdout).toContain(`seneka/${version}`)
    expect(b.stdout).toContain(`seneka/${version}`)
  })

  it('a typo is named as not a command, with where to look (no TTY: no prompt)', async () => {
    const r = await runCli(['backfil'])
    expect(r.code).toBe(127)
    expect(r.stderr).toContain('backfil is not a seneka command')
    expect(r.stderr).toContain('seneka help')
  })

  it('off a terminal a typo still gets "Did you mean backfill?" and the corrected command, arguments kept; exit 127', async () => {
    const r = await runCli(['backfil', 'demo-data/app', '--format', 'jsonl', '--dry-run'])
    expect(r.code).toBe(127)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('Error: backfil is not a seneka command. Did you mean backfill?')
    expect(r.stderr).toContain('Try this: Run: seneka backfill demo-data/app --format jsonl --dry-run (seneka help lists the commands).')
  })

  it('under --json a typo is the error envelope on stdout, with the suggestion', async () => {
    const r = await runCli(['backfil', 'demo-data/app', '--format', 'jsonl', '--json'])
    expect(r.code).toBe(127)
    expect(JSON.parse(r.stdout)).toEqual({
      status: 127,
      error: {name: 'CommandNotFound', message: 'backfil is not a seneka command. Did you mean backfill?', exitCode: 127, suggestion: 'Run: seneka backfill demo-data/app --format jsonl --json (seneka help lists the commands).'},
      warnings: [],
    })
  })

  it('an error is never hard-wrapped: a long path stays whole on its line (copy and paste)', async () => {
    const long = path.join(tempDir(), 'a-folder-with-a-rather-long-name', 'and-another-one-below-it', 'AWSLogs', '123456789012', 'elasticloadbalancing')
    const r = await runCli(['backfill', long, '--format', 'alb', '--dry-run'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`Error: The folder ${long} does not exist.`)
    expect(r.stderr.split('\n').filter((l) => l.trim()).length).toBe(2)
  })

  it('`seneka version --json` is the envelope of every command', async () => {
    const r = await runCli(['version', '--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({status: 0, result: {cliVersion: `seneka/${version}`, architecture: `${process.platform}-${process.arch}`, nodeVersion: `node-${process.version}`}, warnings: []})
  })

  // `script` (util-linux) gives the CLI a terminal, where the not-found plugin asks "Did you mean ...?"
  it.runIf(existsSync('/usr/bin/script'))('a typo on a terminal gets "Did you mean backfill?"', () => {
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(ROOT, 'bin/run.js'))} backfil`
    const r = spawnSync('/usr/bin/script', ['-qec', cmd, '/dev/null'], {input: 'n\r', encoding: 'utf8', timeout: 30_000, env: {...process.env, NO_COLOR: '1'}})
    // eslint-disable-next-line no-control-regex
    const out = r.stdout.replace(/\u001B\[[0-9;?]*[A-Za-z]/g, '')
    expect(out).toMatch(/Did you mean backfill\?/)
  })

  // answered Y, the suggested command runs with the arguments and flags that were typed
  it.runIf(existsSync('/usr/bin/script'))('a typo on a terminal answered Y runs backfill with the arguments typed', () => {
    const dir = tempDir()
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(ROOT, 'bin/run.js'))} backfil ${JSON.stringify(path.join(dir, 'none'))} --format jsonl --dry-run`
    const env: NodeJS.ProcessEnv = {...process.env, NO_COLOR: '1'}
    delete env.CI
    const r = spawnSync('/usr/bin/script', ['-qec', cmd, '/dev/null'], {input: 'y\r', encoding: 'utf8', timeout: 30_000, env})
    // eslint-disable-next-line no-control-regex
    const out = r.stdout.replace(/\u001B\[[0-9;?]*[A-Za-z]/g, '')
    expect(out).toMatch(/Did you mean backfill\?/)
    expect(out).not.toContain('Missing the required argument SOURCE')
    // backfill itself ran on the SOURCE typed: its own error about that folder
    expect(out).toMatch(/The folder \S+none does not exist\./)
  })
})

describe('an old Node.js', () => {
  // the pinned Node, made to report an old version before bin/run.js runs (as a system Node 20 would)
  const asNode = (version: string, args: string[]) =>
    spawnSync(process.execPath, ['--import', `data:text/javascript,Object.defineProperty(process, 'versions', {value: {...process.versions, node: '${version}'}})`, path.join(ROOT, 'bin/run.js'), ...args], {cwd: ROOT, encoding: 'utf8'})

  it.each(['20.11.1', '22.11.0', '18.20.0'])('Node %s is refused in one sentence, before any library warns', (version) => {
    const r = asNode(version, ['backfill', '--help'])
    expect(r.status).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(`seneka needs Node.js 22.12 or newer, and this is Node.js ${version}: in a checkout, run \`npm ci\` and then \`npx seneka ...\` (npx uses the Node 24 the project pins), or install a newer Node.js.\n`)
  })

  it('Node 22.12 and newer run', () => {
    const r = asNode('22.12.0', ['--version'])
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/^seneka\/\d/)
  })

  it('agrees with the engines field of package.json', () => {
    const engines = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).engines.node
    expect(engines).toBe('>=22.12')
    expect(readFileSync(path.join(ROOT, 'bin/run.js'), 'utf8')).toContain('major === 22 && minor < 12')
  })
})
