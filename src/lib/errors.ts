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

/**
 * A table or column the user named does not exist. Always a usage error (exit 2), in every command: the command
 * line names something that is not there, like an unknown flag value.
 */
export class NotFoundError extends UsageError {
  constructor(message: string, suggestion?: string) {
    super(message, suggestion)
    this.name = 'NotFoundError'
  }
}

/** What every error becomes in output: the four fields of the --json error document (see output/json.ts). */
export interface ErrorDetail {
  name: string
  message: string
  exitCode: number
  suggestion?: string
}

export const DEBUG_SUGGESTION = 'Run again with --log-level debug to see where it happened, and report it with that output.'

/** The shape of oclif's CLIError (and its parse errors) without importing oclif: src/lib stays free of it. */
interface CliErrorLike {
  message: string
  oclif?: {exit?: number}
  suggestions?: string[]
}

function isCliErrorLike(err: unknown): err is CliErrorLike {
  return typeof err === 'object' && err !== null && typeof (err as CliErrorLike).oclif === 'object' && typeof (err as CliErrorLike).oclif?.exit === 'number'
}

/**
 * A command-line parser message as one sentence: drops "See more help with --help", the "The following error
 * occurred:" preamble, the "Parsing --flag" wrapper and the layout of argument lists.
 */
export function cleanParseMessage(message: string): string {
  let m = message.replace(/\n?See more help with --help\s*$/, '')
  m = m.replace(/^The following errors? occurred:\s*/, '')
  const parsing = /^Parsing (--[\w-]+)\s*\n\t?([\s\S]*)$/.exec(m)
  if (parsing) m = parsing[2].includes(parsing[1]) ? parsing[2] : `${parsing[1]}: ${parsing[2]}`
  const args = /^Missing (\d+) required args?:\n(\S+)/.exec(m)
  if (args) m = `Missing the required argument ${args[2].toUpperCase()}${Number(args[1]) > 1 ? ' (and more)' : ''}.`
  m = m.split(/\n\s*\n/)[0]
  return m.replace(/\s*\n\s*/g, '; ').trim()
}

/** First line of a message, at most 300 characters. */
export function firstLine(s: string): string {
  return s.split('\n')[0].slice(0, 300)
}

/**
 * Any error as the four fields seneka prints (human or --json): a UserError as it is; a parser or oclif error
 * as one sentence with its exit code (2 for usage); anything else as "Unexpected error" with exit 1. Never
 * copies other properties: no parser context, no SDK fields (an S3 error echoes the access key ID), no stack.
 */
export function describeError(err: unknown, ctx: {command?: string} = {}): ErrorDetail {
  if (err instanceof UserError) {
    return {name: err.name, message: err.message, exitCode: err.exitCode, ...(err.suggestion ? {suggestion: err.suggestion} : {})}
  }
  if (isCliErrorLike(err)) {
    const exitCode = err.oclif?.exit ?? ExitCode.ERROR
    const suggestion = err.suggestions?.[0] ?? (exitCode === ExitCode.USAGE && ctx.command ? `See ${ctx.command} --help.` : undefined)
    return {name: exitCode === ExitCode.USAGE ? 'UsageError' : 'Error', message: cleanParseMessage(err.message), exitCode, ...(suggestion ? {suggestion} : {})}
  }
  const e = err as {name?: unknown; message?: unknown}
  const name = typeof e?.name === 'string' && e.name ? e.name : 'Error'
  const message = typeof e?.message === 'string' ? e.message : String(err)
  // a flag's own parse function failed with a plain Error: the parser wrapped it as "Parsing --flag ..."
  if (/^Parsing --[\w-]+\s*\n/.test(message)) {
    return {name: 'UsageError', message: cleanParseMessage(message), exitCode: ExitCode.USAGE, ...(ctx.command ? {suggestion: `See ${ctx.command} --help.`} : {})}
  }
  return {name, message: `Unexpected error: ${firstLine(message)}`, exitCode: ExitCode.ERROR, suggestion: DEBUG_SUGGESTION}
}
