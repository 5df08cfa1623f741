import {formatBytes, formatCount} from '../output/units.js'
import {plural} from '../output/words.js'
import {formatDuration} from '../time.js'
import type {StreamResult} from './types.js'

/** The human summary printed when the worker stops. */
export function renderStreamSummary(r: StreamResult): string {
  const o = r.objects
  const m = r.messages
  const scoped = r.events.outOfScope > 0 ? `, ${formatCount(r.events.outOfScope)} outside --bucket / --prefix (acknowledged, not loaded)` : ''
  const lines = [
    `Stream ${r.loadId} stopped (${r.stoppedBy === 'idle' ? 'idle' : 'signal'}) after ${formatDuration(r.durationMs)}: ${r.mode === 'sqs' ? 'queue' : r.mode === 'pubsub' ? 'subscription' : r.mode === 'push' ? 'push endpoint' : 'folder'} ${r.source} -> ${r.table} in ${r.warehouse}`,
    `  objects   ${formatCount(o.loaded)} loaded, ${formatCount(o.replaced)} replaced, ${formatCount(o.skipped)} already loaded, ${formatCount(o.missing)} gone, ${formatCount(o.failed)} failed${o.markers > 0 ? `, ${formatCount(o.markers)} markers skipped (not logs)` : ''}`,
    `  rows      ${formatCount(r.rows)} (${plural(r.rejected, 'rejected line')} in _seneka_rejects), ${formatBytes(r.bytesRead)} read`,
  ]
  if (r.mode === 'sqs') {
    lines.push(
      `  messages  ${formatCount(m.received)} received, ${formatCount(m.deleted)} deleted, ${formatCount(m.retained)} left for redelivery, ${formatCount(m.invalid)} unparseable, ${plural(m.testEvents, 'test event')}`,
      `  events    ${formatCount(r.events.objectCreated)} ObjectCreated, ${formatCount(r.events.ignored)} other (ignored)${scoped}`,
    )
  }
  if (r.mode === 'pubsub') {
    lines.push(
      `  messages  ${formatCount(m.received)} received, ${formatCount(m.deleted)} acked, ${formatCount(m.retained)} nacked for redelivery, ${formatCount(m.invalid)} unparseable`,
      `  events    ${formatCount(r.events.objectCreated)} OBJECT_FINALIZE, ${formatCount(r.events.ignored)} other (ignored)${scoped}`,
    )
  }
  if (r.mode === 'push') {
    const refused = r.refused.unauthenticated + r.refused.forbidden
    lines.push(
      `  requests  ${formatCount(m.received)} pushed, ${formatCount(m.deleted)} answered 2xx, ${formatCount(m.retained)} answered 503 for redelivery, ${formatCount(m.invalid)} unparseable, ${formatCount(refused)} refused (${formatCount(r.refused.unauthenticated)} 401, ${formatCount(r.refused.forbidden)} 403)`,
      `  events    ${formatCount(r.events.objectCreated)} OBJECT_FINALIZE / finalized, ${formatCount(r.events.ignored)} other (ignored)${scoped}`,
    )
    const q = r.requests
    if (q.truncated + q.timedOut + q.tooLarge + q.malformed + q.busy > 0) {
      lines.push(`  not delivered  ${formatCount(q.busy)} answered 429 (busy); client errors: ${formatCount(q.truncated)} bodies cut off, ${formatCount(q.timedOut)} too slow (408), ${formatCount(q.tooLarge)} too large (413), ${formatCount(q.malformed)} not push requests (400)`)
    }
  }
  if (r.poison > 0) lines.push(`  poison    ${formatCount(r.poison)} messages failed on every delivery and were left to the dead-letter queue/topic`)
  if (r.latency.count > 0) lines.push(`  latency   event to commit p50 ${formatDuration(r.latency.p50Ms!)}, p99 ${formatDuration(r.latency.p99Ms!)}, max ${formatDuration(r.latency.maxMs!)}`)
  for (const f of r.failures.slice(0, 5)) lines.push(`  failed    ${f.uri}: ${f.error}`)
  if (r.failures.length > 5) lines.push(`  ... and ${plural(o.failed - 5, 'more failure')}`)
  for (const p of r.poisonObjects.slice(0, 5)) lines.push(`  poison    ${p.uri ?? `message ${p.messageId}`} (${plural(p.deliveries, 'delivery', 'deliveries')}): ${p.reason}`)
  for (const i of r.invalidMessages.slice(0, 5)) lines.push(`  invalid   message ${i.messageId}: ${i.reason}`)
  return lines.join('\n')
}
