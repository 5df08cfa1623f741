import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, onTestFinished} from 'vitest'

/**
 * A fresh temp folder, removed when the current test finishes (or, when called outside a test, after each
 * test of the suite).
 */
export function tempDir(label = 'seneka'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `${label}-`))
  const remove = (): void => rmSync(dir, {recursive: true, force: true})
  try {
    onTestFinished(remove)
  } catch {
    afterEach(remove)
  }
  return dir
}
