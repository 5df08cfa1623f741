import {UsageError} from './errors.js'

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/

/** Validates a table name ("name" or "dataset.name") before it reaches SQL. */
export function checkTableName(name: string): string {
  const parts = name.split('.')
  if (parts.length > 2 || !parts.every((p) => IDENT.test(p))) {
    throw new UsageError(`"${name}" is not a valid table name.`, 'Use letters, digits and underscores (optionally dataset.table).')
  }
  return name
}

/** Validates a column name before it reaches SQL. */
export function checkColumnName(name: string, flag = 'column'): string {
  if (!IDENT.test(name)) throw new UsageError(`${flag} "${name}" is not a valid column name.`, 'Use letters, digits and underscores.')
  return name
}
