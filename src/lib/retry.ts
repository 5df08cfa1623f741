export interface RetryOptions {
  retries: number
  /** first delay in ms; doubles each attempt, with full jitter */
  baseDelayMs: number
  maxDelayMs?: number
  isRetryable: (err: unknown) => boolean
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void
}

const RETRYABLE_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
])
const RETRYABLE_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN', 'UND_ERR_SOCKET'])

const EXHAUSTED = Symbol.for('seneka.retriesExhausted')

/**
 * Whether a retrying layer already gave up on this error: one owner per failure, so no layer above retries it
 * again (a BigQuery job insert was once tried SDK x object x batch x call = 5 x 4 x 7 times).
 */
export function retriesExhausted(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[EXHAUSTED] === true
}

function markExhausted(err: unknown): void {
  if (typeof err === 'object' && err !== null && Object.isExtensible(err)) Object.defineProperty(err, EXHAUSTED, {value: true})
}

/** Throttling, 5xx and dropped connections are worth retrying; bad data and bad requests are not. */
export function isTransient(err: unknown): boolean {
  const e = err as {name?: string; code?: string; $metadata?: {httpStatusCode?: number; attempts?: number}; $retryable?: unknown; cause?: {code?: string}}
  if (!e || typeof e !== 'object' || retriesExhausted(err)) return false
  // the AWS SDK owns its requests' retries: an error it already retried is final here
  if ((e.$metadata?.attempts ?? 1) > 1) return false
  if (e.$retryable) return true
  if (e.name && RETRYABLE_NAMES.has(e.name)) return true
  const status = e.$metadata?.httpStatusCode
  if (status === 429 || (status !== undefined && status >= 500)) return true
  return RETRYABLE_CODES.has(e.code ?? '') || RETRYABLE_CODES.has(e.cause?.code ?? '')
}

/**
 * Runs fn, retrying what opts.isRetryable accepts up to opts.retries times with jittered exponential backoff.
 * An error this layer gave up on is marked (retriesExhausted): layers above see it as final, whatever its kind.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (err) {
      if (retriesExhausted(err) || !opts.isRetryable(err)) throw err
      if (attempt >= opts.retries) {
        markExhausted(err)
        throw err
      }
      const cap = Math.min(opts.maxDelayMs ?? 20_000, opts.baseDelayMs * 2 ** attempt)
      const delay = Math.round(Math.random() * cap)
      opts.onRetry?.(err, attempt + 1, delay)
      await new Promise((r) => setTimeout(r, delay))
    }
  }
}
