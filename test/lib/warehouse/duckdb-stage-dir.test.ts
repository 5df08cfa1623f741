import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {getFormat} from '../../../src/lib/formats/index.js'
import {openStageDir, removeStaleStageDirs, STAGE_LEASE_MS} from '../../../src/lib/warehouse/duckdb/stage.js'
import {DuckDBWarehouse} from '../../../src/lib/warehouse/duckdb/warehouse.js'
import {tempDir} from '../../helpers/tmp.js'

/** the pid of a process that has exited */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {encoding: 'utf8'})
  return Number(r.stdout)
}

describe('staging folders left by killed runs', () => {
  it('removes folders whose process is gone or whose lease ran out, keeps live ones', async () => {
    const dir = tempDir()
    const own = await openStageDir(dir)
    const host = /\.seneka-stage-([0-9a-f]{8})-/.exec(path.basename(own))![1]
    const make = (name: string, ageMs = 0): string => {
      const p = path.join(dir, name)
      mkdirSync(p)
      writeFileSync(path.join(p, 'x.tsv'), 'data')
      const t = (Date.now() - ageMs) / 1000
      utimesSync(p, t, t)
      return name
    }
    const dead = make(`.seneka-stage-${host}-${deadPid()}-abc`)
    const livePid = make(`.seneka-stage-${host}-${process.ppid}-def`) // the test runner's parent: alive
    const otherHost = make('.seneka-stage-00000000-1-ghi')
    const oldName = make('.seneka-stage-Xy12Ab', STAGE_LEASE_MS + 60_000)
    const oldNameFresh = make('.seneka-stage-Zz12Ab')
    const liveButExpired = make(`.seneka-stage-${host}-${process.ppid}-jkl`, STAGE_LEASE_MS + 60_000)
    const unrelated = make('keep-me')
    const removed = (await removeStaleStageDirs(dir)).map((p) => path.basename(p)).sort()
    expect(removed).toEqual([dead, liveButExpired, oldName].sort())
    expect(readdirSync(dir).sort()).toEqual([path.basename(own), livePid, otherHost, oldNameFresh, unrelated].sort())
  })

  it('opening a loader cleans up after a run killed with -9', async () => {
    const dir = tempDir()
    const host = /\.seneka-stage-([0-9a-f]{8})-/.exec(path.basename(await openStageDir(dir)))![1]
    const killed = path.join(dir, `.seneka-stage-${host}-${deadPid()}-zzz`)
    mkdirSync(killed)
    writeFileSync(path.join(killed, 'a.tsv'), 'x'.repeat(1000))
    const wh = await DuckDBWarehouse.open(path.join(dir, 'wh.duckdb'))
    await wh.ensureTable('t', getFormat('alb'))
    const loader = await wh.openLoader({concurrency: 1})
    expect(existsSync(killed)).toBe(false)
    await loader.close()
    await wh.close()
  })
})
