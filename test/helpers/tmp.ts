import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach} from 'vitest'

/** A fresh temp folder per call, removed after the test. */
export function tempDir(label = 'seneka'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `${label}-`))
  afterEach(() => rmSync(dir, {recursive: true, force: true}))
  return dir
}
