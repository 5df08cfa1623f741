import {stripVTControlCharacters} from 'node:util'
/**
 * The one --json contract of every seneka command (after sf-plugins-core): a success and an error are the same
 * small envelope. `status` is the process exit code; `warnings` holds every warning the run printed on stderr.
 *
 *   {"status": 0, "result": {...}, "warnings": [], "estimates": [...]}
 *   {"status": 2, "error": {"name": "UsageError", "message": "...", "exitCode": 2, "suggestion": "..."}, "warnings": []}
 *
 * An error carries these four fields and nothing else: no stack, no parser context, no SDK internals.
 * `estimates` (on BigQuery: every statement's dry-run bytes and cost, in order) is there when any was made.
 */
export interface ErrorDetail {
  name: string
  message: string
  exitCode: number
  suggestion?: string
}

export interface SuccessEnvelope<R> {
  status: number
  result: R
  warnings: string[]
  estimates?: unknown[]
}

export interface ErrorEnvelope {
  status: number
  error: ErrorDetail
  warnings: string[]
  estimates?: unknown[]
}

const withEstimates = (estimates: readonly unknown[] = []) => (estimates.length > 0 ? {estimates: [...estimates]} : {})
/** oclif colours its own messages (parse errors) when colour is forced: a JSON document carries the text only */
const plain = (texts: readonly string[]): string[] => texts.map((t) => stripVTControlCharacters(t))

export function successEnvelope<R>(result: R, status: number, warnings: string[], estimates?: readonly unknown[]): SuccessEnvelope<R> {
  return {status, result, warnings: plain(warnings), ...withEstimates(estimates)}
}

export function errorEnvelope(error: ErrorDetail, warnings: string[], estimates?: readonly unknown[]): ErrorEnvelope {
  const detail: ErrorDetail = {name: error.name, message: stripVTControlCharacters(error.message), exitCode: error.exitCode}
  if (error.suggestion) detail.suggestion = stripVTControlCharacters(error.suggestion)
  return {status: error.exitCode, error: detail, warnings: plain(warnings), ...withEstimates(estimates)}
}

/** At most this many warnings are kept for the document (a long stream run can warn without end). */
export const MAX_WARNINGS = 100

/** Collects warnings for the --json document, keeping the first MAX_WARNINGS and counting the rest. */
export class WarningLog {
  private readonly kept: string[] = []
  private dropped = 0

  add(message: string): void {
    if (this.kept.length < MAX_WARNINGS) this.kept.push(message)
    else this.dropped++
  }

  get list(): string[] {
    return this.dropped > 0 ? [...this.kept, `... and ${this.dropped} more warnings (all of them were printed on stderr)`] : [...this.kept]
  }
}
