import {parse} from 'sql-parser-cst'

/**
 * A strict check of GoogleSQL: sql-parser-cst's BigQuery dialect knows BigQuery's reserved keywords (it
 * refuses `COUNT(*) AS rows`, which lenient parsers accept) and its grammar (MERGE, scripts, transactions,
 * QUALIFY, UNNEST, typed parameters). Returns null when the text parses, else the parser's first line.
 */
export function bigQuerySyntaxError(sql: string): string | null {
  try {
    parse(sql, {dialect: 'bigquery', paramTypes: ['@name']})
    return null
  } catch (err) {
    return String((err as Error).message).split('\n')[0].replace(/^Syntax Error: /, '')
  }
}
