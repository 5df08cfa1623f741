import {checkOutcome} from '../checks.js'
import {UsageError} from '../errors.js'
import {parseDuration} from '../time.js'
import type {LatencyStats, Slo, SloCheck, SloEvaluation, SloKey} from './types.js'

const SLO = /^\s*(p50|p90|p95|p99|p99[._]9|max|mean)\s*(<=|<)\s*(\S+)\s*$/i

/** Parses an SLO such as "p99<=6m", "p99.9<10m" or "max<=1h" (durations: 500ms, 30s, 6m, 1h, 1d). */
export function parseSlo(text: string): Slo {
  const m = SLO.exec(text)
  if (!m) {
    throw new UsageError(
      `--slo "${text}" is not an SLO.`,
      'Write KEY<=DURATION or KEY<DURATION with KEY one of p50, p90, p95, p99, p99_9 (or p99.9), max, mean, e.g. --slo "p99<=6m".',
    )
  }
  const key = m[1].toLowerCase().replace('.', '_') as SloKey
  const limitSeconds = parseDuration(m[3], `--slo "${text}"`) / 1000
  return {text: text.trim(), key, op: m[2] as Slo['op'], limitSeconds}
}

/**
 * Checks SLOs against a latency result: its main table and, when there is one, its compare table (a table drawn
 * beside the gated one is gated too: a report must not say "all met" next to a table that breaches). An SLO with
 * no measured rows to check does not pass: an empty range must not look like a healthy pipeline. The cutover
 * latency gate uses this same rule.
 */
export function evaluateSlos(result: LatencyStats & {table: string; compare?: LatencyStats & {table: string}}, slos: Array<Slo | string>): SloEvaluation {
  const parsed = slos.map((s) => (typeof s === 'string' ? parseSlo(s) : s))
  const gated = [result, ...(result.compare ? [result.compare] : [])]
  const checks = gated.flatMap((t) =>
    parsed.map((slo) => {
      const actual = t.count > 0 ? t[slo.key] : null
      const outcome = checkOutcome(actual === null ? 0 : t.count, actual !== null && !(slo.op === '<=' ? actual <= slo.limitSeconds : actual < slo.limitSeconds))
      const status: SloCheck['status'] = outcome === 'fail' ? 'breach' : outcome
      return {...slo, table: t.table, actual, status}
    }),
  )
  return {passed: checks.every((c) => c.status === 'pass'), table: result.table, tables: gated.map((t) => t.table), checks}
}

/** The worst status of one SLO over every gated table (for a single line per SLO, e.g. on a chart). */
export function worstStatus(checks: SloCheck[]): SloCheck['status'] {
  return checks.some((c) => c.status === 'breach') ? 'breach' : checks.some((c) => c.status === 'no-data') ? 'no-data' : 'pass'
}
