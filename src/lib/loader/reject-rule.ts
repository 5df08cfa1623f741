import {FORMAT_NAMES, getFormat} from '../formats/index.js'
import type {LogFormat} from '../formats/types.js'
import type {Reject} from './read-object.js'

/**
 * When an object is not a load but a failure: every line rejected, or at least REJECTED_SHARE of its lines
 * rejected once it has at least REJECTED_MIN_LINES lines. Such an object is almost always the wrong --format
 * or a file that is not a log; loading its few "good" lines and counting the rest as rejects would hide that.
 */
export const REJECTED_SHARE = 0.9
export const REJECTED_MIN_LINES = 10

/** Human wording of the rule, for help texts and the README. */
export const REJECT_RULE_TEXT = `an object whose lines are all rejected, or at least ${REJECTED_SHARE * 100}% of them once it has ${REJECTED_MIN_LINES} lines or more, is a failed object (wrong --format, or not a log): none of its rows are committed`

export function mostlyRejected(rows: number, rejected: number): boolean {
  if (rejected === 0) return false
  if (rows === 0) return true
  const lines = rows + rejected
  return lines >= REJECTED_MIN_LINES && rejected / lines >= REJECTED_SHARE
}

/** A failed object: (nearly) all of its lines were rejected. Not transient: retrying reads the same lines. */
export class RejectedObjectError extends Error {
  override readonly name = 'RejectedObjectError'
  readonly code = 'SENEKA_OBJECT_REJECTED'

  constructor(
    readonly uri: string,
    readonly rows: number,
    readonly rejected: number,
    readonly format: string,
    /** a format that parses the sampled lines, when one does */
    readonly likelyFormat: string | undefined,
    firstReject: Reject | undefined,
  ) {
    const lines = rows + rejected
    const share = rows === 0 ? 'all' : `${rejected} of`
    const first = firstReject ? ` (line ${firstReject.line}: ${firstReject.reason})` : ''
    const hint = likelyFormat ? `; the lines look like ${likelyFormat}: run again with --format ${likelyFormat}` : `; check --format, or leave the object out with --exclude`
    // the callers print it after the object's URI
    super(`${share} ${lines} lines were rejected as ${format}${first}, so nothing from this object was loaded${hint}`)
  }
}

/** The first other format that parses every sampled raw line, if any. */
export function guessFormat(current: LogFormat, samples: Reject[]): string | undefined {
  const raws = samples.map((s) => s.raw).filter((r) => r.trim().length > 0).slice(0, 10)
  if (raws.length === 0) return undefined
  for (const name of FORMAT_NAMES) {
    if (name === current.name) continue
    const f = getFormat(name)
    if (raws.every((r) => f.parse(r).ok)) return name
  }
  return undefined
}

/** Throws RejectedObjectError when the rule says the object is a failure, not a load. */
export function checkRejectRule(uri: string, format: LogFormat, rows: number, rejects: Reject[] | number, samples: Reject[]): void {
  const rejected = typeof rejects === 'number' ? rejects : rejects.length
  if (!mostlyRejected(rows, rejected)) return
  throw new RejectedObjectError(uri, rows, rejected, format.name, guessFormat(format, samples), samples[0])
}
