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

/** Throttling, 5xx and dropped connections are worth retrying; bad data and bad requests are not. */
export function isTransient(err: unknown): boolean {
  const e = err as {name?: string; code?: string; $metadata?: {httpStatusCode?: number}; $retryable?: unknown; cause?: {code?: string}}
  if (!e || typeof e !== 'object') return false
  if (e.$retryable) return true
  if (e.name && RETRYABLE_NAMES.has(e.name)) return true
  const status = e.$metadata?.httpStatusCode
  if (status === 429 || (status !== undefined && status >= 500)) return true
  return RETRYABLE_CODES.has(e.code ?? '') || RETRYABLE_CODES.has(e.cause?.code ?? '')
}

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (err) {
      if (attempt >= opts.retries || !opts.isRetryable(err)) throw err
      const cap = Math.min(opts.maxDelayMs ?? 20_000, opts.baseDelayMs * 2 ** attempt)
      const delay = Math.round(Math.random() * cap)
      opts.onRetry?.(err, attempt + 1, delay)
      await new Promise((r) => setTimeout(r, delay))
    }
  }
}
