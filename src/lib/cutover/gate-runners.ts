import {evaluateSlos, latencyReport} from '../latency/index.js'
import {formatDuration} from '../time.js'
import {plural} from '../output/words.js'
import {reconcile} from '../reconcile/run.js'
import {openWarehouse} from '../warehouse/index.js'
import type {GateRunners} from './gates.js'

/**
 * The real gate runners, reusing reconcile's and latency-report's libraries over the shadow window:
 * reconcile compares the batch table (batchTable, required: a table compared with itself proves nothing) with
 * the event-driven table
 * hour by hour and must pass; latency p99 of the event-driven table must be at or under the bucket's SLO.
 */
export function defaultGateRunners(): GateRunners {
  return {
    async reconcile({bucket, window, warehouse}) {
      // comparing a table with itself would always pass: that is no gate
      if (!bucket.batchTable || bucket.batchTable === bucket.table) {
        return {passed: false, summary: `cutover.buckets.${bucket.name}.batchTable must name the batch path's table (not ${bucket.table}) for the reconcile gate to compare anything`}
      }
      const r = await reconcile({warehouse, batchTable: bucket.batchTable, streamTable: bucket.table, since: window.since, until: window.until, by: 'hour', now: window.until})
      if (r.noData) {
        return {passed: false, summary: `NO DATA: no rows in ${r.batchTable} or ${r.streamTable} over the shadow window: nothing was compared`, details: {summary: r.summary, totals: r.totals, since: r.since, until: r.until}}
      }
      return {
        passed: r.passed,
        summary: `${r.summary.mismatched} mismatched, ${r.summary.withinTolerance} within tolerance (${r.by}, ${r.batchTable} vs ${r.streamTable})`,
        details: {summary: r.summary, totals: r.totals, since: r.since, until: r.until},
      }
    },
    async latency({bucket, window, warehouse}) {
      const wh = await openWarehouse(warehouse, {readOnly: true})
      try {
        const r = await latencyReport(wh, {table: bucket.table, since: window.since, until: window.until})
        const sloS = bucket.p99Ms / 1000
        // the rule of latency-report --slo: `p99<=LIMIT` on every gated table, no measured rows is not a pass
        const slo = evaluateSlos(r, [{text: `p99<=${formatDuration(bucket.p99Ms)}`, key: 'p99', op: '<=', limitSeconds: sloS}])
        const [check] = slo.checks
        if (check.actual === null) return {passed: false, summary: `NO DATA: no rows with a measurable latency in ${bucket.table} over the shadow window`, details: {slo}}
        return {
          passed: slo.passed,
          summary: `p99 ${check.actual.toFixed(1)}s ${check.status === 'pass' ? '<=' : '>'} SLO ${sloS}s over ${plural(r.count, 'row')}`,
          details: {p50: r.p50, p99: r.p99, count: r.count, definition: r.definition, slo},
        }
      } finally {
        await wh.close()
      }
    },
  }
}
