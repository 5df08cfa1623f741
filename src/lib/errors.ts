import {ExitCode, type ExitCodeValue} from './exit-codes.js'

/**
 * An error the user can act on: one clear sentence, plus what to do. Rendered without a stack trace
 * unless --log-level debug.
 */
export class UserError extends Error {
  readonly suggestion?: string
  readonly exitCode: ExitCodeValue

  constructor(message: string, opts: {suggestion?: string; exitCode?: ExitCodeValue; cause?: unknown} = {}) {
    super(message, {cause: opts.cause})
    this.name = 'UserError'
    this.suggestion = opts.suggestion
    this.exitCode = opts.exitCode ?? ExitCode.ERROR
  }
}

export class UsageError extends UserError {
  constructor(message: string, suggestion?: string) {
    super(message, {suggestion, exitCode: ExitCode.USAGE})
    this.name = 'UsageError'
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}

/** Network-level failures worth naming plainly (unreachable endpoints, DNS). */
export function describeNetworkError(err: unknown, what: string): UserError | undefined {
  const e = err as {code?: string; name?: string; cause?: {code?: string}}
  const code = e?.code ?? e?.cause?.code
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH') {
    return new UserError(`Cannot reach ${what} (${code}).`, {
      suggestion: 'Check the endpoint URL and your network, then run the command again.',
      cause: err,
    })
  }
  return undefined
}

/** An object was overwritten between the LIST/HEAD that described it and the read: terminal for this version. */
export class ObjectChangedError extends UserError {
  constructor(uri: string, version: string) {
    super(`${uri} changed after it was listed (version ${version} is gone); nothing of that version was loaded.`, {
      suggestion: 'Run again: the next run (or the stream worker, on its event) loads the current version.',
    })
    this.name = 'ObjectChangedError'
  }
}
