import {renderTable} from '../output/table.js'
import type {ApplyResult, RollbackResult} from './apply.js'
import type {GateRecord} from './state.js'
import type {CutoverPlan, PlanAction} from './plan.js'
import type {StatusResult} from './status.js'

const SIGN = {add: '+', change: '~', remove: '-', none: ' '} as const

function short(v: unknown): string {
  if (v === null || v === undefined) return '(none)'
  const s = typeof v === 'string' ? v : JSON.stringify(v)
  return s.length > 160 ? `${s.slice(0, 157)}...` : s
}

export function renderAction(a: PlanAction, verbose = false): string[] {
  const lines = [`  ${SIGN[a.change]} ${a.resource.padEnd(19)} ${a.target}`, `      ${a.summary}`]
  if (verbose && a.change !== 'none' && a.resource !== 'state') {
    lines.push(`      before: ${short(a.before)}`, `      after:  ${short(a.after)}`)
  }
  return lines
}

export function renderPlan(plan: CutoverPlan): string {
  const out: string[] = [`Cutover plan against ${plan.state.location} (version ${plan.state.version})`, '']
  for (const b of plan.buckets) {
    out.push(`s3://${b.bucket}  wave ${b.wave}  ${b.from} -> ${b.to}${b.gates ? '  (gates: reconcile, latency p99)' : ''}`)
    for (const a of b.actions) out.push(...renderAction(a, true))
    if (b.actions.every((a) => a.change === 'none')) out.push('  (no changes)')
    for (const n of b.notes ?? []) out.push(`  note: ${n}`)
    out.push('')
  }
  out.push(`Plan: ${plan.totals.add} to add, ${plan.totals.change} to change, ${plan.totals.remove} to remove.`)
  return out.join('\n')
}

export function gateText(g: GateRecord | null | undefined): string {
  if (!g) return '-'
  const failed = g.results.filter((r) => !r.passed).map((r) => r.gate)
  if (g.passed) return 'pass'
  if (g.forced) return `forced (${failed.join(', ')}): ${g.reason ?? ''}`
  return `FAIL ${failed.join(', ')}`
}

export function renderApply(r: ApplyResult): string {
  const out: string[] = []
  for (const b of r.buckets) {
    out.push(`s3://${b.bucket}: ${b.outcome}${b.outcome === 'applied' ? ` (${b.from} -> ${b.to})` : ''}`)
    if (b.gates) for (const g of b.gates.results) out.push(`  gate ${g.gate}: ${g.passed ? 'pass' : 'FAIL'} - ${g.summary}`)
    if (b.gates?.forced) out.push(`  gates bypassed with --force: ${b.gates.reason ?? ''}`)
    for (const a of b.applied) out.push(`  applied ${SIGN[a.change]} ${a.resource} ${a.target}`)
    if (b.failed) out.push(`  FAILED  ${b.failed.action.resource} ${b.failed.action.target}: ${b.failed.error}`)
  }
  if (r.stopped) out.push('', 'Stopped at the failure above: the actions listed as applied are in place and recorded; fix the cause and run apply again (it continues where it stopped).')
  out.push('', `State ${r.state.location} is at version ${r.state.version}.`)
  return out.join('\n')
}

export function renderRollback(r: RollbackResult): string {
  const out = [`Rollback of s3://${r.bucket}: ${r.from} -> ${r.to}${r.dryRun ? ' (dry run: nothing changed)' : ''}`]
  for (const a of r.actions) out.push(...renderAction(a, r.dryRun))
  if (!r.dryRun) out.push('', ...r.applied.map((a) => `applied ${SIGN[a.change]} ${a.resource} ${a.target}`))
  if (r.failed) out.push(`FAILED ${r.failed.action.resource} ${r.failed.action.target}: ${r.failed.error}`)
  return out.join('\n')
}

export function renderStatus(s: StatusResult): string {
  const rows = s.buckets.map((b) => ({
    bucket: b.configured ? b.bucket : `${b.bucket} (not in config)`,
    wave: b.wave === null ? '-' : String(b.wave),
    mode: b.mode,
    since: b.since ?? '-',
    by: b.by ?? '-',
    gates: gateText(b.gates),
  }))
  const head = `State ${s.state.location}, version ${s.state.version}${s.state.updatedAt ? `, updated ${s.state.updatedAt} by ${s.state.updatedBy}` : ''}${s.state.lock ? `\nLOCKED by ${s.state.lock.by} (${s.state.lock.operation}) since ${s.state.lock.at}` : ''}`
  if (rows.length === 0) return `${head}\nNo buckets configured.`
  return `${head}\n${renderTable(rows, [
    {key: 'bucket', name: 'Bucket'},
    {key: 'wave', name: 'Wave', align: 'right'},
    {key: 'mode', name: 'Mode'},
    {key: 'since', name: 'Since'},
    {key: 'by', name: 'By'},
    {key: 'gates', name: 'Last gates'},
  ])}`
}
