import {explainAwsError} from './aws/errors.js'
import {NotFoundError, UserError} from './errors.js'
import {explainCredentialsFileError} from './gcp/errors.js'

const DUCKDB_NO_SCHEMA = /Catalog Error: Schema with name "?([^\s"!]+)"? does not exist/

/**
 * The last net before "Unexpected error": plain mistakes that reached the command without a clear sentence on
 * the way (bad or expired AWS credentials, the wrong region, throttling that outlived every retry, a broken
 * GOOGLE_APPLICATION_CREDENTIALS file, a DuckDB table name with a schema that does not exist). Undefined when
 * the error is not one of them.
 */
export function explainKnownError(err: unknown): UserError | undefined {
  if (err instanceof UserError) return err
  const aws = explainAwsError(err, {final: true})
  if (aws) return aws
  const gcp = explainCredentialsFileError(err)
  if (gcp) return gcp
  const message = (err as {message?: unknown})?.message
  if (typeof message === 'string') {
    const schema = DUCKDB_NO_SCHEMA.exec(message)
    if (schema) {
      return new NotFoundError(
        `The DuckDB warehouse has no schema "${schema[1]}": a table name "${schema[1]}.TABLE" names a table in that schema.`,
        'Use a table name without a dot (e.g. --table alb_logs), or main.TABLE; dataset.table is for BigQuery warehouses.',
      )
    }
  }
  return undefined
}
