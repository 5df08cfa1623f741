#!/usr/bin/env node
// Runs every bench/*.bench.js in turn (or those named on the command line), each in its own process so one
// benchmark's memory does not colour the next one's peak RSS.
import {spawnSync} from 'node:child_process'
import {readdirSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const dir = path.dirname(fileURLToPath(import.meta.url))
const wanted = process.argv.slice(2)
const benches = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)))
  .sort()
let failed = 0
for (const b of benches) {
  console.log(`\n=== ${b}`)
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(dir, b)], {stdio: 'inherit'})
  if (r.status !== 0) failed++
}
process.exit(failed > 0 ? 1 : 0)
