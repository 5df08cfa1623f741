import {spawnSync} from 'node:child_process'
import {chmodSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {ROOT} from './helpers/cli.js'
import {tempDir} from './helpers/tmp.js'

// The generators run as the demo runs them: from dist/ (npm test builds first).
const {generateAlbFiles} = await import('../dist/lib/demo/alb-generator.js' as string)
const {generateAppLogFiles} = await import('../dist/lib/demo/app-generator.js' as string)

/** Every ```sh block of README.md, in order, and whether a `<!-- no-ci: why -->` line marks it. */
export function readmeBlocks(text: string): Array<{line: number; code: string; skip?: string}> {
  const lines = text.split('\n')
  const blocks: Array<{line: number; code: string; skip?: string}> = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```sh') continue
    let j = i + 1
    while (j < lines.length && lines[j].trim() !== '```') j++
    let k = i - 1
    while (k >= 0 && lines[k].trim() === '') k--
    const marker = k >= 0 ? /^<!--\s*no-ci:?\s*(.*?)\s*-->$/.exec(lines[k].trim()) : null
    blocks.push({line: i + 1, code: lines.slice(i + 1, j).join('\n'), ...(marker ? {skip: marker[1] || 'no-ci'} : {})})
    i = j
  }
  return blocks
}

describe('README.md', () => {
  const blocks = readmeBlocks(readFileSync(path.join(ROOT, 'README.md'), 'utf8'))

  it('marks only the blocks that need the cloud or the project itself as no-ci, each with a reason', () => {
    const skipped = blocks.filter((b) => b.skip)
    expect(skipped.length).toBeLessThanOrEqual(6)
    for (const b of skipped) expect(b.skip, `README.md:${b.line}`).toMatch(/\w{3,}/)
    expect(blocks.length - skipped.length).toBeGreaterThanOrEqual(4)
  })

  it('every other ```sh block runs as pasted, in order, after the demo (a temp dir with the demo data)', () => {
    const dir = tempDir('readme')
    // the demo's data, smaller: the examples do not depend on the sizes
    for (const f of generateAlbFiles({start: new Date('2024-05-01T00:00:00Z'), days: 2, intervalMinutes: 240, nodes: 2, linesPerFile: 40, malformedRate: 0, seed: 7})) {
      const file = path.join(dir, 'demo-data', 's3', f.key)
      mkdirSync(path.dirname(file), {recursive: true})
      writeFileSync(file, f.body)
    }
    for (const f of generateAppLogFiles()) {
      const file = path.join(dir, 'demo-data', 'app', f.key)
      mkdirSync(path.dirname(file), {recursive: true})
      writeFileSync(file, f.body)
    }
    // `seneka` as `npx seneka` runs it: bin/run.js on the pinned Node
    const bin = path.join(dir, '.bin')
    mkdirSync(bin)
    writeFileSync(path.join(bin, 'seneka'), `#!/bin/sh\nexec "${process.execPath}" "${path.join(ROOT, 'bin/run.js')}" "$@"\n`)
    chmodSync(path.join(bin, 'seneka'), 0o755)
    const env = {...process.env, PATH: `${bin}:${path.dirname(process.execPath)}:${process.env.PATH}`, SENEKA_WAREHOUSE: 'duckdb:demo-data/seneka.duckdb'}
    for (const b of blocks.filter((x) => !x.skip)) {
      const r = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', b.code], {cwd: dir, env, encoding: 'utf8', timeout: 300_000})
      // a busy machine may take minutes over a block: a bound only stops a hung one (status null, its signal shown)
      expect({block: `README.md:${b.line}`, status: r.status ?? r.signal, stderr: r.status === 0 ? '' : `${r.stdout}\n${r.stderr}`}).toEqual({block: `README.md:${b.line}`, status: 0, stderr: ''})
    }
    // the chart example draws something readable on the demo data: latencies of minutes, not years (the demo's
    // logs are from 2024: an event-time measure would draw every row in one bar hundreds of days wide)
    const chart = blocks.flatMap((b) => b.code.split('\n')).find((l) => l.includes('--compare-table') && l.includes('--html'))!
    const r = spawnSync('bash', ['-c', `${chart} --json`], {cwd: dir, env, encoding: 'utf8', timeout: 300_000})
    const doc = JSON.parse(r.stdout) as {result: {max: number; compare: {max: number}}}
    expect(doc.result.max).toBeLessThan(3600)
    expect(doc.result.compare.max).toBeLessThan(3600)
  }, 900_000)
})

describe('README.md backfill examples', () => {
  it('the dry run previews the table the next command loads', () => {
    const text = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
    const first = readmeBlocks(text).find((b) => b.code.includes('seneka backfill'))!
    // one command per `seneka backfill`, continuation lines joined
    const commands = first.code.replaceAll('\\\n', ' ').split('\n').filter((l) => l.startsWith('seneka backfill demo-data/s3/'))
    expect(commands.length).toBeGreaterThanOrEqual(2)
    const tables = commands.map((c) => /--table (\S+)/.exec(c)?.[1] ?? 'the default table')
    expect(new Set(tables)).toEqual(new Set(['alb_batch']))
  })
})
