import {ObjectChangedError} from '../errors.js'
import type {ObjectInfo, ObjectStore} from '../store/types.js'

/**
 * What became of every planned object: the counts add up to the plan (`leftOut` 0), or the summary says how
 * many were left out. A reviewed plan (--plan) proves with it that the run covered it.
 */
export interface Coverage {
  planned: number
  loaded: number
  replaced: number
  skipped: number
  failed: number
  /** planned from an inventory, a list or a plan: deleted since */
  gone: number
  /** planned from an inventory, a list or a plan: overwritten since (another ETag or size) */
  changed: number
  /** not started because the run was interrupted or stopped: a re-run loads them */
  notStarted: number
  /** planned objects none of the above accounts for (0 unless something is wrong) */
  leftOut: number
}

/** Objects of an inventory, a file list or a plan that were gone or had changed when read: reported, not failed. */
export interface MissingObjects {
  gone: number
  changed: number
  /** the first few: uri and what happened */
  samples: Array<{uri: string; reason: 'gone' | 'changed'}>
}

const MAX_SAMPLES = 20

/**
 * After a failed read of a planned object: whether it is gone or changed since it was planned (a HEAD tells), in
 * which case it is counted in `missing` and is not a failure of the run.
 */
export async function classifyMissing(store: ObjectStore, planned: ObjectInfo, err: unknown, missing: MissingObjects): Promise<boolean> {
  let now: ObjectInfo | undefined
  try {
    now = await store.head(planned.key)
  } catch {
    return false // the store cannot tell: a real failure, reported as such
  }
  const reason = !now ? 'gone' : err instanceof ObjectChangedError || now.etag !== planned.etag || now.size !== planned.size ? 'changed' : undefined
  if (!reason) return false
  missing[reason]++
  if (missing.samples.length < MAX_SAMPLES) missing.samples.push({uri: planned.uri, reason})
  return true
}

/** The coverage of a run from its counts. */
export function coverageOf(planned: number, o: {loaded: number; replaced: number; skipped: number; failed: number}, missing: MissingObjects | undefined, notStarted: number): Coverage {
  const gone = missing?.gone ?? 0
  const changed = missing?.changed ?? 0
  const accounted = o.loaded + o.replaced + o.skipped + o.failed + gone + changed + notStarted
  return {planned, loaded: o.loaded, replaced: o.replaced, skipped: o.skipped, failed: o.failed, gone, changed, notStarted, leftOut: Math.max(0, planned - accounted)}
}
