#!/usr/bin/env node
// The event-driven path on the embedded default, no cloud: `seneka stream --watch` runs as a worker on a local
// folder while this script drops gzipped ALB log files into it, one every half second, each written in two
// halves (as a slow uploader would). The worker loads each file once it is complete, and a second run shows
// that nothing is loaded twice. Needs `npm run build` first (npm run demo:stream does it).
import {spawn, spawnSync} from 'node:child_process'
import {appendFileSync, mkdirSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {generateAlbFiles} from '../dist/lib/demo/alb-generator.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const incoming = path.join(root, 'demo-data', 'incoming')
const db = path.join(root, 'demo-data', 'stream.duckdb')
rmSync(incoming, {recursive: true, force: true})
rmSync(db, {force: true})
rmSync(`${db}.wal`, {force: true})
mkdirSync(incoming, {recursive: true})

const rel = (p) => path.relative(root, p)
const args = ['stream', '--watch', rel(incoming), '--format', 'alb', '--table', 'alb_logs', '--warehouse', `duckdb:${rel(db)}`, '--settle', '1s', '--poll-interval', '250ms', '--status-interval', '2s', '--stop-when-idle', '3s']
console.log(`$ npx seneka ${args.join(' ')}   (in the background)\n`)
const worker = spawn(process.execPath, [path.join(root, 'bin/run.js'), ...args], {stdio: 'inherit', cwd: root})

const files = [...generateAlbFiles({start: new Date('2024-05-01T00:00:00Z'), days: 1, intervalMinutes: 60, nodes: 1, linesPerFile: 200, malformedRate: 0.002, seed: 9})].slice(0, 8)
let lines = 0
for (const f of files) {
  const file = path.join(incoming, f.key)
  mkdirSync(path.dirname(file), {recursive: true})
  const half = Math.floor(f.body.length / 2)
  writeFileSync(file, f.body.subarray(0, half))
  await new Promise((r) => setTimeout(r, 200))
  appendFileSync(file, f.body.subarray(half))
  lines += f.lines
  console.log(`dropped ${rel(file)} (${f.lines} lines, written in two halves)`)
  await new Promise((r) => setTimeout(r, 300))
}
console.log(`\n${files.length} files, ${lines} lines dropped; the worker exits once the folder has been quiet for 3s.\n`)
const code = await new Promise((resolve) => worker.on('close', resolve))

const args2 = args.filter((a) => a !== '--status-interval' && a !== '2s')
console.log(`\n$ npx seneka ${args2.join(' ')}   (again: every file is already in the ledger)\n`)
const again = spawnSync(process.execPath, [path.join(root, 'bin/run.js'), ...args2], {stdio: 'inherit', cwd: root})
console.log(`
What to try next:
  - run a worker without --stop-when-idle and copy files into ${rel(incoming)}/ yourself (Ctrl-C stops it gracefully):
      npx seneka stream --watch ${rel(incoming)} --format alb --table alb_logs --warehouse duckdb:${rel(db)}
  - the same worker on S3 + SQS: npx seneka stream --queue https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE --format alb
  - docs/stream.md explains the message formats, exactly-once and the operational signals`)
process.exit(code === 0 && again.status === 0 ? 0 : 1)
