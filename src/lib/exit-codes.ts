/**
 * Exit codes shared by every seneka command. "Check failed" codes are distinct from errors so a runbook
 * step or CI job can tell "the tool broke" from "the tool ran and the data is not right".
 */
export const ExitCode = {
  OK: 0,
  ERROR: 1,
  USAGE: 2,
  /** backfill / stream: the run finished but at least one object failed to load (nothing partial was written). */
  PARTIAL_FAILURE: 3,
  /** backfill: more rejected lines than --max-rejects allows. */
  REJECTS_EXCEEDED: 4,
  /** reconcile: the two sides differ beyond the tolerance. */
  RECONCILE_MISMATCH: 10,
  /** latency-report: an --slo was breached. */
  SLO_BREACHED: 11,
  /** dedupe: duplicates found and --fail-on-duplicates was given. */
  DUPLICATES_FOUND: 12,
  /** cutover: a gate (reconcile or latency) did not pass. */
  GATE_FAILED: 13,
  /** cutover: another operator changed the state concurrently. */
  CONFLICT: 14,
  /** no such command (the shell's "command not found"); a close one is suggested ("Did you mean backfill?"). */
  COMMAND_NOT_FOUND: 127,
  /** backfill: interrupted by SIGINT (Ctrl-C) after committing what was running (128 + 2, the shell's convention). */
  INTERRUPTED: 130,
  /** backfill: stopped by SIGTERM after committing what was running (128 + 15). */
  TERMINATED: 143,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

/** Renders a help section listing exit codes, for command descriptions. */
export function exitCodeHelp(rows: Array<[ExitCodeValue, string]>): string {
  const lines = rows.map(([code, text]) => `  ${String(code).padEnd(3)} ${text}`)
  return ['EXIT CODES', ...lines].join('\n')
}
