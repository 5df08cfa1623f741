import * as hdr from 'hdr-histogram-js'

/** Running totals of one stream worker. */
export interface StreamCounters {
  messages: {
    received: number
    deleted: number
    /** unparseable messages, left on the queue for its redrive policy (DLQ) */
    invalid: number
    /** s3:TestEvent messages (acknowledged and ignored) */
    testEvents: number
    /** messages left on the queue because a load failed (redelivered later) */
    retained: number
  }
  events: {
    objectCreated: number
    /** events other than ObjectCreated (removals, restores, ...), acknowledged and ignored */
    ignored: number
    /** events of objects outside the worker's --bucket / --prefix scope, acknowledged and not loaded */
    outOfScope: number
  }
  objects: {
    loaded: number
    replaced: number
    /** the ledger (or this worker) already had this version, or a newer one */
    skipped: number
    /** the object no longer exists (deleted before it could be loaded) */
    missing: number
    failed: number
    /** marker objects (_SUCCESS, ELBAccessLogTestFile ...): not logs, never loaded */
    markers: number
  }
  rows: number
  rejected: number
  bytesRead: number
  /** failed loads + queue API errors */
  errors: number
  /** SQS visibility / Pub/Sub ack deadline extensions made while loading */
  visibilityExtensions: number
  /** messages that failed on every delivery up to the limit, left to the dead-letter queue / topic */
  poison: number
  /** --listen: push requests refused for their OIDC token (401: none, forged, expired, wrong audience; 403: not an allowed service account) */
  refused: {unauthenticated: number; forbidden: number}
  /**
   * --listen: push requests that never became a delivery, by the client's doing (not worker errors): a body cut
   * off (truncated), not complete within the body deadline (timedOut, 408), too large (413), not a push
   * request (malformed, 400); and those turned away with 429 while the worker held --max-requests (busy)
   */
  requests: {truncated: number; timedOut: number; tooLarge: number; malformed: number; busy: number}
}

export function emptyCounters(): StreamCounters {
  return {
    messages: {received: 0, deleted: 0, invalid: 0, testEvents: 0, retained: 0},
    events: {objectCreated: 0, ignored: 0, outOfScope: 0},
    objects: {loaded: 0, replaced: 0, skipped: 0, missing: 0, failed: 0, markers: 0},
    rows: 0,
    rejected: 0,
    bytesRead: 0,
    errors: 0,
    visibilityExtensions: 0,
    poison: 0,
    refused: {unauthenticated: 0, forbidden: 0},
    requests: {truncated: 0, timedOut: 0, tooLarge: 0, malformed: 0, busy: 0},
  }
}

/** Queue depth as the queue reports it; null when the queue (or emulator) does not say. */
export interface Backlog {
  /** messages waiting (ApproximateNumberOfMessages; for --watch: files found and not yet loading or queued) */
  messages: number | null
  /** messages received by some consumer and not deleted yet (ApproximateNumberOfMessagesNotVisible) */
  inFlight: number | null
  /** age of the oldest message this worker holds or received in the last interval, in seconds */
  oldestAgeSeconds: number | null
}

/** One status line (stderr) / JSON line (stdout under --json). */
export interface StreamStatus {
  type: 'status'
  time: string
  uptimeSeconds: number
  messagesPerSecond: number
  objectsPerSecond: number
  rowsPerSecond: number
  errors: number
  /** objects being loaded right now */
  loading: number
  /** objects handed to the loader, waiting for a load slot (nothing read yet) */
  queued: number
  backlog: Backlog
  totals: StreamCounters
}

export interface LatencySummary {
  /** objects measured (event time, or file mtime for --watch, to commit) */
  count: number
  p50Ms: number | null
  p99Ms: number | null
  maxMs: number | null
}

/** Latency from event time to commit, as an HDR histogram (ms). */
export class LatencyRecorder {
  private readonly hist = hdr.build({lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, numberOfSignificantValueDigits: 2, autoResize: true})

  /** the exact extremes: an HDR bucket's representative value can lie outside them */
  private min = Number.POSITIVE_INFINITY
  private max = Number.NEGATIVE_INFINITY

  record(ms: number): void {
    const v = Math.max(0, Math.round(ms))
    this.hist.recordValue(v)
    if (v < this.min) this.min = v
    if (v > this.max) this.max = v
  }

  summary(): LatencySummary {
    const n = this.hist.totalCount
    if (n === 0) return {count: 0, p50Ms: null, p99Ms: null, maxMs: null}
    const clamp = (v: number): number => Math.min(Math.max(v, this.min), this.max)
    return {count: n, p50Ms: clamp(this.hist.getValueAtPercentile(50)), p99Ms: clamp(this.hist.getValueAtPercentile(99)), maxMs: this.max}
  }
}

function objectsDone(c: StreamCounters): number {
  return c.objects.loaded + c.objects.replaced + c.objects.skipped + c.objects.missing
}

/** Turns the running counters into per-interval rates. */
export class StatusTracker {
  private last: {at: number; messages: number; objects: number; rows: number}
  private readonly started: number

  constructor(
    private readonly counters: StreamCounters,
    now = performance.now(),
  ) {
    this.started = now
    this.last = {at: now, messages: 0, objects: 0, rows: 0}
  }

  snapshot(loading: number, queued: number, backlog: Backlog, now = performance.now()): StreamStatus {
    const c = this.counters
    const secs = Math.max(now - this.last.at, 1) / 1000
    const cur = {at: now, messages: c.messages.received, objects: objectsDone(c), rows: c.rows}
    const rate = (a: number, b: number): number => Number(((a - b) / secs).toFixed(1))
    const status: StreamStatus = {
      type: 'status',
      time: new Date().toISOString(),
      uptimeSeconds: Math.round((now - this.started) / 1000),
      messagesPerSecond: rate(cur.messages, this.last.messages),
      objectsPerSecond: rate(cur.objects, this.last.objects),
      rowsPerSecond: rate(cur.rows, this.last.rows),
      errors: c.errors,
      loading,
      queued,
      backlog,
      totals: structuredClone(c),
    }
    this.last = cur
    return status
  }
}

function fmt(n: number): string {
  return n >= 1000 ? Math.round(n).toLocaleString('en-US') : String(n)
}

function fmtAge(s: number): string {
  if (s < 120) return `${Math.round(s)}s`
  if (s < 7200) return `${Math.round(s / 60)}m`
  return `${(s / 3600).toFixed(1)}h`
}

/** The one-line human status. */
export function renderStatusLine(s: StreamStatus): string {
  const t = s.totals
  const backlog =
    s.backlog.messages === null
      ? 'backlog ?'
      : `backlog ${fmt(s.backlog.messages)}${s.backlog.inFlight === null ? '' : ` (+${fmt(s.backlog.inFlight)} in flight)`}`
  const age = s.backlog.oldestAgeSeconds === null ? '' : `, oldest ${fmtAge(s.backlog.oldestAgeSeconds)}`
  return (
    `stream: ${s.messagesPerSecond} msg/s, ${s.objectsPerSecond} obj/s, ${fmt(s.rowsPerSecond)} rows/s | ` +
    `loaded ${fmt(t.objects.loaded + t.objects.replaced)}, skipped ${fmt(t.objects.skipped)}, failed ${fmt(t.objects.failed)}, ` +
    `invalid ${fmt(t.messages.invalid)}, poison ${fmt(t.poison)}, ignored ${fmt(t.events.ignored)}, errors ${fmt(s.errors)} | loading ${s.loading}, queued ${fmt(s.queued)} | ${backlog}${age}`
  )
}

/** Prometheus text exposition format (version 0.0.4). */
export function renderPrometheus(c: StreamCounters, loading: number, backlog: Backlog, latency: LatencySummary, queued = 0): string {
  const lines: string[] = []
  const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: Array<[string, number | null]>): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    for (const [labels, v] of samples) if (v !== null) lines.push(`${name}${labels} ${v}`)
  }
  /** one sample per value, labelled label="key" */
  const by = (label: string, values: Record<string, number>): Array<[string, number]> => Object.entries(values).map(([k, v]) => [`{${label}="${k}"}`, v])
  metric('seneka_stream_messages_total', 'counter', 'SQS messages by what became of them.', [
    ['{result="received"}', c.messages.received],
    ['{result="deleted"}', c.messages.deleted],
    ['{result="invalid"}', c.messages.invalid],
    ['{result="test_event"}', c.messages.testEvents],
    ['{result="retained"}', c.messages.retained],
  ])
  metric('seneka_stream_events_total', 'counter', 'S3 events in the messages.', [
    ['{kind="object_created"}', c.events.objectCreated],
    ['{kind="ignored"}', c.events.ignored],
    ['{kind="out_of_scope"}', c.events.outOfScope],
  ])
  const o = c.objects
  metric('seneka_stream_objects_total', 'counter', 'Objects by load outcome.', by('outcome', {loaded: o.loaded, replaced: o.replaced, skipped: o.skipped, missing: o.missing, failed: o.failed, marker: o.markers}))
  metric('seneka_stream_rows_total', 'counter', 'Rows loaded.', [['', c.rows]])
  metric('seneka_stream_rejected_lines_total', 'counter', 'Malformed lines kept in _seneka_rejects.', [['', c.rejected]])
  metric('seneka_stream_bytes_read_total', 'counter', 'Bytes read from the object store (as stored).', [['', c.bytesRead]])
  metric('seneka_stream_errors_total', 'counter', 'Failed loads and queue API errors.', [['', c.errors]])
  metric('seneka_stream_visibility_extensions_total', 'counter', 'ChangeMessageVisibility (SQS) or ModifyAckDeadline (Pub/Sub) calls made while loading.', [['', c.visibilityExtensions]])
  metric('seneka_stream_poison_total', 'counter', 'Messages that failed on every delivery up to the limit, left to the dead-letter queue or topic.', [['', c.poison]])
  metric('seneka_stream_refused_requests_total', 'counter', 'Push requests refused for their OIDC token (--listen).', [
    ['{reason="unauthenticated"}', c.refused.unauthenticated],
    ['{reason="forbidden"}', c.refused.forbidden],
  ])
  const q = c.requests
  metric(
    'seneka_stream_push_requests_not_delivered_total',
    'counter',
    'Push requests that were not a delivery: client errors (truncated, timed_out, too_large, malformed) and 429 answers (busy).',
    by('reason', {truncated: q.truncated, timed_out: q.timedOut, too_large: q.tooLarge, malformed: q.malformed, busy: q.busy}),
  )
  metric('seneka_stream_loading', 'gauge', 'Objects being loaded now.', [['', loading]])
  metric('seneka_stream_queued', 'gauge', 'Objects waiting for a load slot (nothing read yet).', [['', queued]])
  metric('seneka_stream_backlog_messages', 'gauge', 'Messages waiting on the queue (ApproximateNumberOfMessages).', [['', backlog.messages]])
  metric('seneka_stream_backlog_in_flight_messages', 'gauge', 'Messages received and not yet deleted (ApproximateNumberOfMessagesNotVisible).', [['', backlog.inFlight]])
  metric('seneka_stream_oldest_message_age_seconds', 'gauge', 'Age of the oldest message this worker holds or received in the last interval.', [['', backlog.oldestAgeSeconds]])
  metric('seneka_stream_latency_ms', 'gauge', 'Event time to commit, in milliseconds, since the worker started.', [
    ['{quantile="0.5"}', latency.p50Ms],
    ['{quantile="0.99"}', latency.p99Ms],
    ['{quantile="1"}', latency.maxMs],
  ])
  return `${lines.join('\n')}\n`
}
