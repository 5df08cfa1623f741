import {existsSync} from 'node:fs'
import path from 'node:path'
import {UserError} from '../errors.js'

/**
 * Refuses a file whose folder does not exist, instead of creating the folder silently: a typo in a path
 * (`--warehouse duckdb:./sneka/x.duckdb`, `--output reprots/x.json`) must not become a new folder tree.
 */
export function requireFolderOf(file: string, what: string, flag: string): void {
  const dir = path.dirname(path.resolve(file))
  if (!existsSync(dir)) {
    throw new UserError(`The folder ${dir} of the ${what} does not exist.`, {
      suggestion: `Create it first, or point ${flag} at a file in an existing folder.`,
    })
  }
}
