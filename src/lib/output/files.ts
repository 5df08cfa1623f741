import {existsSync, statSync} from 'node:fs'
import path from 'node:path'
import {UsageError, UserError} from '../errors.js'

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

/**
 * Checks that a path given on the command line exists and is a file (or a folder): a usage error naming the flag
 * otherwise, so a typo is one sentence and exit code 2, not an unexpected error.
 */
export function requireExisting(file: string, kind: 'file' | 'folder', label: string, suggestion?: string): string {
  let stat: ReturnType<typeof statSync> | undefined
  try {
    stat = statSync(file)
  } catch {
    stat = undefined
  }
  if (!stat) throw new UsageError(`The ${kind} ${file} given to ${label} does not exist.`, suggestion ?? `Check the path given to ${label}.`)
  if (kind === 'file' && stat.isDirectory()) throw new UsageError(`${file} given to ${label} is a folder, not a file.`, suggestion ?? `Give ${label} a file.`)
  if (kind === 'folder' && !stat.isDirectory()) throw new UsageError(`${file} given to ${label} is a file, not a folder.`, suggestion ?? `Give ${label} a folder.`)
  return file
}
