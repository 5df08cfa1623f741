import {readdirSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {STAGE_PREFIX} from '../warehouse/duckdb/stage.js'
import {parseWarehouse} from '../warehouse/index.js'

/**
 * Removes this process's own DuckDB staging folders beside the warehouse file, synchronously: for an exit at
 * once (a second Ctrl-C), where the loader cannot close. (Folders are named `.seneka-stage-<host>-<pid>-...`;
 * later runs remove those of dead processes anyway, this only spares the wait.)
 */
export function removeOwnStageDirsSync(warehouseUri: string): void {
  let parent: string
  try {
    const wh = parseWarehouse(warehouseUri)
    if (wh.kind !== 'duckdb') return
    parent = wh.target === ':memory:' ? os.tmpdir() : path.dirname(wh.target)
  } catch {
    return
  }
  const own = new RegExp(`^${STAGE_PREFIX.replaceAll('.', '\\.')}[0-9a-f]{8}-${process.pid}-`)
  let names: string[] = []
  try {
    names = readdirSync(parent)
  } catch {
    return
  }
  for (const name of names) if (own.test(name)) rmSync(path.join(parent, name), {recursive: true, force: true})
}
