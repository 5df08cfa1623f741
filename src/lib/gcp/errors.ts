import {describeNetworkError, UserError} from '../errors.js'
import {retriesExhausted} from '../retry.js'

/** Google API errors as the client libraries raise them (ApiError / GaxiosError shapes). */
interface GoogleError {
  code?: number | string
  status?: number
  message?: string
  errors?: Array<{reason?: string; message?: string}>
  response?: {status?: number}
  cause?: {code?: string}
}

const TRANSIENT_REASONS = new Set(['rateLimitExceeded', 'backendError', 'internalError', 'jobRateLimitExceeded', 'quotaExceeded'])
const NETWORK_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN', 'UND_ERR_SOCKET'])

export function httpStatus(err: unknown): number | undefined {
  const e = err as GoogleError
  if (!e || typeof e !== 'object') return undefined
  if (typeof e.code === 'number') return e.code
  return e.status ?? e.response?.status
}

function reasons(err: unknown): string[] {
  const e = err as GoogleError
  return (e?.errors ?? []).map((x) => x.reason ?? '').filter(Boolean)
}

/**
 * 429, 5xx, rate-limit reasons and dropped connections are worth retrying; everything else (bad SQL,
 * missing permission, over the byte cap) is not. A quotaExceeded on bytes billed is never transient.
 */
export function isGcpTransient(err: unknown): boolean {
  const e = err as GoogleError & {$retryable?: unknown}
  if (!e || typeof e !== 'object' || retriesExhausted(err)) return false
  if (e.$retryable) return true
  const status = httpStatus(err)
  if (status === 429 || (status !== undefined && status >= 500 && status < 600)) return true
  const r = reasons(err)
  if (r.includes('bytesBilledLimitExceeded')) return false
  if (r.some((x) => TRANSIENT_REASONS.has(x)) && !/bytes billed/i.test(e.message ?? '')) return true
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true
  return NETWORK_CODES.has(e.cause?.code ?? '')
}

export interface ExplainContext {
  /** what seneka was doing, e.g. "list gs://bucket/prefix" */
  what: string
  /** the IAM permission this call needs, named when access is denied */
  needs: string
  service: 'storage' | 'bigquery'
}

const ROLE_HINT: Record<ExplainContext['service'], string> = {
  storage: 'roles/storage.objectViewer to read, roles/storage.objectAdmin on the staging bucket',
  bigquery: 'roles/bigquery.jobUser on the project and roles/bigquery.dataEditor on the dataset',
}

/**
 * Turns a Google client error into one clear sentence naming what to do. Marks transient errors retryable
 * (so the object-level retries above see them). Never includes credentials: only the API's message.
 */
export function explainGcpError(err: unknown, ctx: ExplainContext): unknown {
  const net = describeNetworkError(err, `the Google Cloud ${ctx.service === 'storage' ? 'Storage' : 'BigQuery'} endpoint (${ctx.what})`)
  if (net) return net
  const file = explainCredentialsFileError(err)
  if (file) return file
  const e = err as GoogleError
  const message = apiMessage(e) ?? String(err)
  if (/Could not load the default credentials|Unable to detect a Project Id|invalid_grant|Could not refresh access token/i.test(message)) {
    return new UserError(`No usable Google Cloud credentials were found (Application Default Credentials) to ${ctx.what}.`, {
      suggestion: 'Run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or run with an attached service account.',
      cause: err,
    })
  }
  const status = httpStatus(err)
  if (status === 401) {
    return new UserError(`Google Cloud rejected the credentials while trying to ${ctx.what}.`, {
      suggestion: 'Refresh them with `gcloud auth application-default login` or check GOOGLE_APPLICATION_CREDENTIALS.',
      cause: err,
    })
  }
  if (status === 403 && !isGcpTransient(err) && !reasons(err).includes('bytesBilledLimitExceeded')) {
    const named = /Permission '?([a-z]+\.[A-Za-z.]+)'? denied/.exec(message) ?? /does not have ([a-z]+\.[A-Za-z.]+) access/.exec(message)
    const permission = named?.[1] ?? ctx.needs
    return new UserError(`Permission ${permission} is missing to ${ctx.what}.`, {
      suggestion: `Grant it to the account seneka runs as (for example ${ROLE_HINT[ctx.service]}); see docs/bigquery.md.`,
      cause: err,
    })
  }
  if (status === 404) {
    return new UserError(`Not found while trying to ${ctx.what}: ${firstLine(message)}`, {
      suggestion: ctx.service === 'storage' ? 'Check the bucket and prefix.' : 'Check the project, the dataset (bq mk --dataset) and --location.',
      cause: err,
    })
  }
  if (isGcpTransient(err) && typeof err === 'object' && err !== null) {
    ;(err as {$retryable?: unknown}).$retryable = {throttling: status === 429}
  }
  return err
}

/** The API's own message: the client's "Multiple errors occurred" wrapper says less than the first error. */
function apiMessage(e: GoogleError | undefined): string | undefined {
  const first = e?.errors?.find((x) => x.message)?.message
  if (first && (!e?.message || /^Multiple errors occurred/.test(e.message))) return first
  return e?.message
}

const CREDENTIALS_FILE = /Unable to read the credential file specified by the GOOGLE_APPLICATION_CREDENTIALS environment variable:\s*(.*)/s

/**
 * A GOOGLE_APPLICATION_CREDENTIALS that names a missing file, a file that is not JSON, or JSON that is not a key
 * file: one sentence naming the variable and the file. Undefined for any other error.
 */
export function explainCredentialsFileError(err: unknown): UserError | undefined {
  const message = (err as {message?: unknown})?.message
  const m = typeof message === 'string' ? CREDENTIALS_FILE.exec(message) : null
  if (!m) return undefined
  const file = process.env.GOOGLE_APPLICATION_CREDENTIALS ?? 'the file'
  const reason = m[1].trim()
  const what = /does not exist|ENOENT|not a file/i.test(reason)
    ? 'does not exist (or is not a file)'
    : /Unexpected (token|end)|in JSON at position|is not valid JSON/i.test(reason)
      ? 'is not valid JSON'
      : `is not a usable key file (${firstLine(reason).replace(/\.$/, '')})`
  return new UserError(`GOOGLE_APPLICATION_CREDENTIALS names ${file}, which ${what}.`, {
    suggestion: 'Point GOOGLE_APPLICATION_CREDENTIALS at a service-account key file (JSON), or unset it to use `gcloud auth application-default login`.',
    cause: err,
  })
}

function firstLine(s: string): string {
  return s.split('\n')[0].slice(0, 300)
}
