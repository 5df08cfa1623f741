import {errorMessage} from '../errors.js'
import type {ResolvedBucket} from './config.js'

/**
 * Gates for shadow -> event-driven. The checks themselves belong to reconcile and latency-report; cutover
 * only calls them through this seam (see gate-runners.ts for the wiring to those libraries).
 */

export type GateName = 'reconcile' | 'latency'

export interface GateResult {
  gate: GateName
  passed: boolean
  /** one line for the status table, e.g. "0 mismatched hours of 72" or "p99 41s <= 5m" */
  summary: string
  checkedAt: string
  details?: unknown
}

export interface GateContext {
  bucket: ResolvedBucket
  /** the shadow window: from when the bucket entered shadow mode to now */
  window: {since: Date; until: Date}
  warehouse: string
}

export type GateOutcome = Pick<GateResult, 'passed' | 'summary' | 'details'>
export type GateRunner = (ctx: GateContext) => Promise<GateOutcome>

export interface GateRunners {
  reconcile: GateRunner
  latency: GateRunner
}

/** Runs every gate (each one even when another failed, so the operator sees all of them). A gate that throws fails. */
export async function runGates(ctx: GateContext, runners: GateRunners, now: () => Date = () => new Date()): Promise<GateResult[]> {
  const out: GateResult[] = []
  for (const gate of ['reconcile', 'latency'] as const) {
    try {
      const r = await runners[gate](ctx)
      out.push({gate, passed: r.passed, summary: r.summary, checkedAt: now().toISOString(), ...(r.details === undefined ? {} : {details: r.details})})
    } catch (err) {
      out.push({gate, passed: false, summary: `could not run: ${errorMessage(err)}`, checkedAt: now().toISOString()})
    }
  }
  return out
}
