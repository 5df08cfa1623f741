import {existsSync, mkdirSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {PlanDb} from '../../../src/lib/backfill/plan-db.js'

describe('the temporary plan database', () => {
  it('removes its folder on close, and the folders of killed runs on the next open', async () => {
    // a pid above Linux's maximum: no process has it
    const left = path.join(os.tmpdir(), 'seneka-plan-4194305-abc')
    mkdirSync(path.join(left, 'spill'), {recursive: true})
    const db = await PlanDb.open()
    expect(existsSync(left)).toBe(false)
    expect(existsSync(db.dir)).toBe(true)
    await db.run('CREATE TABLE t AS SELECT range AS i FROM range(10)')
    expect(await db.all('SELECT count(*)::INTEGER AS n FROM t')).toEqual([{n: 10}])
    await db.close()
    expect(existsSync(db.dir)).toBe(false)
  })
})
