import {ExitCode, type ExitCodeValue} from './exit-codes.js'

/**
 * The one rule for "no data", shared by every check: `reconcile` (exit 10), `latency-report --slo` (exit 11),
 * `dedupe --fail-on-duplicates` (exit 12) and the cutover gates. A check that had no rows to look at did not pass:
 * its outcome is NO DATA, it exits with the check's own failure code, and the report says so in one line that
 * starts with "NO DATA:". A typo in --since, or a loader that stopped, must never look like a healthy table.
 */
export type CheckOutcome = 'pass' | 'fail' | 'no-data'

/** The outcome of a check that looked at `checked` rows (or buckets, or objects) and found a failure or not. */
export function checkOutcome(checked: number, failed: boolean): CheckOutcome {
  return checked === 0 ? 'no-data' : failed ? 'fail' : 'pass'
}

/** The exit code of a check: 0 only when it passed; NO DATA exits like a failure of that check. */
export function checkExitCode(outcome: CheckOutcome, failure: ExitCodeValue): ExitCodeValue {
  return outcome === 'pass' ? ExitCode.OK : failure
}

/** The report's line for NO DATA: what had no rows, where, and what to check. */
export function noDataLine(what: string, hint: string): string {
  return `NO DATA: ${what}, so nothing was checked and nothing passed. ${hint}`
}
