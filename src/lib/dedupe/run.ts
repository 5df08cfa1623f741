import {checkOutcome} from '../checks.js'
import {UsageError} from '../errors.js'
import type {Tolerance} from '../reconcile/tolerance.js'
import {type BigQuerySettings, openWarehouse} from '../warehouse/index.js'
import {analyzeObjects, type ObjectDedupeOptions, type ObjectDedupeResult} from './objects.js'
import {analyzeRows, applyRows, checkRemoveShare, DEFAULT_MAX_REMOVE, type RowDedupeApplied, type RowDedupeHooks, type RowDedupeReport, type RowDedupeSpec} from './rows.js'

export interface RowDedupeResult {
  mode: 'rows'
  warehouse: string
  /** what the table held before anything was changed */
  report: RowDedupeReport
  /** --apply: what was removed, with the verified counts before and after (null for the report alone) */
  applied: RowDedupeApplied | null
  /** duplicates were present when the run started */
  duplicatesFound: boolean
  /** no row with a complete key in scope: nothing was checked (NO DATA, see lib/checks.ts) */
  noData: boolean
}

export type DedupeResult = RowDedupeResult | ObjectDedupeResult

export type DedupeOptions =
  | ({mode: 'rows'; warehouse: string; apply: boolean; bigquery?: BigQuerySettings; /** what --apply may remove: rows or a percentage of the rows in scope [50%] */ maxRemove?: Tolerance; signal?: AbortSignal} & RowDedupeSpec &
      RowDedupeHooks & {onReport?: (r: RowDedupeReport) => void})
  | ({mode: 'objects'; apply: boolean} & ObjectDedupeOptions)

/** The one entry point of `seneka dedupe`: report (and with --apply remove) duplicate rows, or analyse objects. */
export async function runDedupe(opts: DedupeOptions): Promise<DedupeResult> {
  if (opts.mode === 'objects') {
    if (opts.apply && !opts.output) throw new UsageError('--apply with --objects needs --output FILE.', 'seneka never deletes objects: it writes the list of redundant ones (and an S3 Batch Operations manifest) to --output.')
    return analyzeObjects({...opts, output: opts.apply ? opts.output : undefined})
  }
  const wh = await openWarehouse(opts.warehouse, {readOnly: !opts.apply, bigquery: opts.bigquery})
  // interrupted (Ctrl-C, SIGTERM): end the open transaction's session now, so the table's DML is not held
  const onAbort = (): void => void wh.abortOpenWork?.()
  opts.signal?.addEventListener('abort', onAbort, {once: true})
  try {
    const report = await analyzeRows(wh, opts)
    opts.onReport?.(report)
    if (opts.apply) checkRemoveShare(report, opts.maxRemove ?? DEFAULT_MAX_REMOVE)
    const applied = opts.apply ? await applyRows(wh, opts, opts) : null
    const outcome = checkOutcome(report.rows - report.nullKeyRows, report.duplicateRows > 0)
    return {mode: 'rows', warehouse: wh.description, report, applied, duplicatesFound: outcome === 'fail', noData: outcome === 'no-data'}
  } finally {
    opts.signal?.removeEventListener('abort', onAbort)
    await wh.close()
  }
}
