#!/usr/bin/env node
// The main job on the embedded default: write a small realistic set of gzipped ALB access logs into a local
// folder laid out like S3, preview the backfill, run it into a local DuckDB file, and run the same command
// again to show that nothing is loaded twice. Needs `npm run build` first (npm run demo does it).
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {generateAlbFiles} from '../dist/lib/demo/alb-generator.js'
import {generateAppLogFiles} from '../dist/lib/demo/app-generator.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const dataDir = path.join(root, 'demo-data', 's3')
const db = path.join(root, 'demo-data', 'seneka.duckdb')
const prefix = path.join(dataDir, 'AWSLogs/123456789012/elasticloadbalancing/eu-west-1')

let written = 0
let lines = 0
for (const f of generateAlbFiles({start: new Date('2024-05-01T00:00:00Z'), days: 2, intervalMinutes: 30, nodes: 2, linesPerFile: 250, malformedRate: 0.001, seed: 7})) {
  const file = path.join(dataDir, f.key)
  lines += f.lines
  if (existsSync(file)) continue // keep files (and their ETags) stable across demo runs
  mkdirSync(path.dirname(file), {recursive: true})
  writeFileSync(file, f.body)
  written++
}
// JSON-lines application logs (topic, partition, offset) for the README's examples
for (const f of generateAppLogFiles()) {
  const file = path.join(root, 'demo-data', 'app', f.key)
  if (existsSync(file)) continue
  mkdirSync(path.dirname(file), {recursive: true})
  writeFileSync(file, f.body)
}
console.log(`Demo data: ${lines} ALB log lines in gzipped files under ${path.relative(root, dataDir)}/ (${written} new files), JSON-lines logs under demo-data/app/.\n`)

const seneka = (args) => {
  console.log(`$ npx seneka ${args.join(' ')}`)
  const r = spawnSync(process.execPath, [path.join(root, 'bin/run.js'), ...args], {stdio: 'inherit', cwd: root})
  console.log('')
  return r.status ?? 1
}

const base = [path.relative(root, prefix) + '/', '--format', 'alb', '--table', 'alb_batch', '--warehouse', `duckdb:${path.relative(root, db)}`]
const range = ['--since', '2024-05-01', '--until', '2024-05-03']
seneka(['backfill', ...base, ...range, '--dry-run'])
const first = seneka(['backfill', ...base, ...range])
console.log('The same command again: every object is in the ledger, so nothing is loaded twice.\n')
const status = seneka(['backfill', ...base, ...range])

const w = `--warehouse duckdb:${path.relative(root, db)}`
console.log(`What to try next:
  - run \`npm run demo\` again: every object is skipped, nothing is loaded twice
  - latency of the demo load, with an SLO gate (exit 11 when breached):
      npx seneka latency-report --table alb_batch ${w} --measure arrival --slo 'p99<=1m'
  - check for duplicates by provenance key (exit 12 with --fail-on-duplicates):
      npx seneka dedupe --table alb_batch --key _source_uri,_line ${w} --fail-on-duplicates
  - the README's examples run as they are: export SENEKA_WAREHOUSE=duckdb:${path.relative(root, db)}
  - the event-driven path on a local folder: npm run demo:stream
  - add --json to any command for one JSON document on stdout; --help for examples and exit codes`)
process.exit([first, status].every((s) => s === 0 || s === 3 || s === 4) ? 0 : 1)
