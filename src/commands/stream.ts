import {Flags} from '@oclif/core'
import {BaseCommand} from '../base-command.js'
import {describeEstimate, type QueryEstimate} from '../lib/cost/bigquery.js'
import {renderStreamDryRun, type StreamDryRun, streamDryRun} from '../lib/stream/dry-run.js'
import {bigQueryFlags, loadMethodFlag, trafficFlags} from '../flags/cost.js'
import {checkMaxLatency} from '../lib/cost/quotas.js'
import {UsageError} from '../lib/errors.js'
import {ExitCode, exitCodeHelp} from '../lib/exit-codes.js'
import {concurrencyFlag, durationFlag, existingFolderFlag, formatFlags, gcsEndpointFlag, wrap} from '../flags/index.js'
import {streamWorkerFlags} from '../flags/stream.js'
import {formatAndTable} from '../lib/formats/index.js'
import {parseWarehouse} from '../lib/warehouse/index.js'
import {plural} from '../lib/output/words.js'
import {renderStreamSummary} from '../lib/stream/render.js'
import {runStream, type StreamResult} from '../lib/stream/run.js'
import {parseSubscriptionName} from '../lib/stream/sources/pubsub-name.js'
import {parseListenAddress, stopBudget} from '../lib/stream/sources/push.js'
import {folderRetryRule} from '../lib/stream/sources/folder.js'
import {DEFAULT_MAX_DELIVERIES} from '../lib/stream/sources/poison.js'
import {renderStatusLine} from '../lib/stream/stats.js'
import {formatDuration} from '../lib/time.js'
import {DEFAULT_STREAM_MAX_LATENCY_MS} from '../lib/warehouse/bigquery/defaults.js'
import {MIN_LOAD_JOBS_MAX_LATENCY_MS} from '../lib/cost/quotas.js'

/** the sources: exactly one is given */
const SOURCE_FLAGS = ['queue', 'subscription', 'listen', 'watch']

export default class Stream extends BaseCommand<typeof Stream, StreamResult | StreamDryRun> {
  static override summary = 'The event-driven loader: load each object as it lands, from S3 event notifications on SQS, GCS notifications on Pub/Sub (pulled, or pushed to --listen), or a watched local folder, exactly once.'

  static override description = `Long-polls the SQS queue that receives the bucket's S3 event notifications (up to 10 messages per receive, --concurrency loads in flight) and loads every object an ObjectCreated event names, with the same formats, provenance columns and load ledger as backfill. Delivery is at least once; the ledger makes loading exactly once: a duplicate or redelivered notification loads nothing twice, and for two events on the same key the S3 sequencer decides which version is newer.

A message is deleted only after every object it names is committed. While a large object loads, the message's visibility is extended (ChangeMessageVisibility). A failed load leaves the message on the queue: it is redelivered after the visibility timeout, and the queue's redrive policy moves it to a dead-letter queue after maxReceiveCount attempts. A message that cannot be parsed is counted and logged and left for the DLQ; it never stops the worker.

MESSAGES ACCEPTED
  - S3 event notifications: {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": ...},
    "object": {"key": <URL-encoded, "+" for space>, "size": ..., "eTag": ..., "sequencer": ...}}}, ...]}
    with any number of records per message
  - the same inside an SNS envelope {"Type": "Notification", "Message": "<the notification as a JSON string>"}
  - S3 events routed through EventBridge {"source": "aws.s3", "detail-type": "Object Created", "detail": {...}}
  - the s3:TestEvent S3 sends when notifications are configured: deleted and ignored
  Events other than ObjectCreated (ObjectRemoved, ObjectRestore, ...) are acknowledged, ignored and counted.

--subscription projects/P/subscriptions/S receives a GCS bucket's Pub/Sub notifications (payload JSON_API_V1 or NONE) over StreamingPull. Each OBJECT_FINALIZE names bucketId, objectId and objectGeneration: the object is read by name at that generation (never listed), and the generation is its version in the ledger, so a redelivered notification loads nothing twice and an older generation never replaces a newer one. A message is acked only after its object is committed; its ack deadline (--ack-deadline) is extended while it loads (ModifyAckDeadline). A failed load nacks it for redelivery; OBJECT_DELETE, OBJECT_METADATA_UPDATE and OBJECT_ARCHIVE are acked and counted as ignored.

POISON MESSAGES
  A message whose load fails (or that cannot be parsed) on every delivery is poison once it reached
  --max-deliveries deliveries (default: the queue's maxReceiveCount, the subscription's dead-letter
  maxDeliveryAttempts, else 5): it is counted ("poison" in the summary, --json and metrics) with its object
  and reason, and left to the dead-letter queue or topic. Without a dead-letter topic a poison Pub/Sub
  message is held rather than nacked forever. Redeliveries of failing messages do not keep
  --stop-when-idle from stopping.

--listen HOST:PORT is push mode, for Cloud Run (where a Cloud Function used to load) or any HTTP front: it accepts Pub/Sub push requests of a GCS bucket's notifications and Eventarc CloudEvents (google.cloud.storage.object.v1.finalized, binary or structured mode) by POST on any path. Each request is answered 200 only after its object is committed (or when the event is ignored, a duplicate or an older generation); a failed load is answered 503, so Pub/Sub redelivers it with backoff, and after --max-deliveries deliveries (Pub/Sub sends deliveryAttempt when the subscription has a dead-letter policy) it is poison and left to the dead-letter topic. With --push-audience every request must carry a Google-signed OIDC token (RS256, issuer accounts.google.com) for that audience, of one of the --push-service-account accounts: others get 401 or 403 and are counted. A request's body must be complete within 5s of its headers (408 otherwise); only a complete push takes one of the --max-requests slots (default 5 x the objects the loader takes in flight, 80 to 1000, printed at start; beyond them 429 with Retry-After): set Cloud Run's --concurrency to the same number. GET /healthz answers 200 ({"status": "ok", ...}), and 503 once stopping; GET /metrics serves the Prometheus counters. On SIGTERM it answers new pushes and /healthz 503, answers 503 at once to the pushes whose load has not begun (they never begin it), lets the loads under way commit within --shutdown-grace (6s) and answers 503 to those that cannot, so they are redelivered; it exits within --stop-timeout (9s, inside Cloud Run's 10 s) whatever is left: nothing partial is ever committed. See docs/deploy.md.

--bucket and --prefix (repeatable) scope the worker: events of objects outside them are acknowledged, counted as out of scope (outOfScope in the summary) and not loaded, the first of each bucket logged with the reason.

--watch DIR is the embedded mode: it lists a local folder every --poll-interval and loads each file once its size and modification time have not changed for --settle (so half-written files are never read); hidden files and *.tmp / *.part names are left alone. Restarts load nothing twice (the ledger again).

SIGTERM or SIGINT stops receiving, finishes the loads in flight, deletes their messages and exits 0 (with --watch: finishes the loads running only; files still queued are loaded by the next run); a second signal, or a stop that outlasts --stop-timeout, exits at once with 143 (SIGTERM) or 130 (SIGINT): nothing partial is committed, unfinished messages are redelivered. --stop-when-idle exits once nothing arrived for that long.

A status line goes to stderr every --status-interval: messages/s, objects/s, rows/s, errors, backlog (ApproximateNumberOfMessages, in flight) and the age of the oldest message seen. With --json, stdout carries JSON lines instead: one {"type": "status", ...} per interval and a final {"type": "summary", ...}. --metrics-port serves the same counters in Prometheus text format at http://127.0.0.1:PORT/metrics.

${exitCodeHelp([
  [ExitCode.OK, 'stopped by a signal, or idle with every object loaded'],
  [ExitCode.ERROR, 'the worker could not start (queue not found, bad credentials, unreachable endpoint ...)'],
  [ExitCode.USAGE, 'bad flags (a --watch folder that does not exist, as for a backfill source)'],
  [ExitCode.PARTIAL_FAILURE, '--stop-when-idle run in which some loads failed or messages were poison (their messages stay on the queue or go to the dead-letter topic)'],
  [ExitCode.INTERRUPTED, 'SIGINT twice, or a stop that outlasted --stop-timeout (nothing partial committed; unacknowledged messages are redelivered)'],
  [ExitCode.TERMINATED, 'the same after SIGTERM'],
])}`

  static override examples = [
    {description: 'Load ALB logs as they land (the queue receives the bucket\'s ObjectCreated notifications):', command: '<%= config.bin %> <%= command.id %> --queue https://sqs.eu-west-1.amazonaws.com/123456789012/alb-logs --format alb --table alb_logs'},
    {description: 'Drain the backlog and exit once the queue has been empty for 30 seconds:', command: '<%= config.bin %> <%= command.id %> --queue https://sqs.eu-west-1.amazonaws.com/123456789012/alb-logs --format alb --stop-when-idle 30s'},
    {description: 'Load from a GCS bucket\'s Pub/Sub notifications (the subscription of its OBJECT_FINALIZE topic):', command: '<%= config.bin %> <%= command.id %> --subscription projects/my-project/subscriptions/alb-logs-finalize --format alb --table alb_logs --warehouse bigquery://my-project/logs'},
    {description: 'Push mode on Cloud Run: take the Pub/Sub push subscription\'s requests, checking their OIDC token:', command: '<%= config.bin %> <%= command.id %> --listen 0.0.0.0:8080 --push-audience https://seneka-abc123-ew.a.run.app/ --push-service-account pubsub-push@my-project.iam.gserviceaccount.com --format alb --table alb_logs --warehouse bigquery://my-project/logs'},
    {description: 'Embedded mode, no cloud: load files as they appear in a local folder:', command: '<%= config.bin %> <%= command.id %> --watch ./incoming --format jsonl --table app_logs'},
    {description: 'Emulators or S3/SQS-compatible servers, with Prometheus metrics:', command: '<%= config.bin %> <%= command.id %> --queue http://127.0.0.1:4566/000000000000/logs --sqs-endpoint http://127.0.0.1:4566 --s3-endpoint http://127.0.0.1:4566 --format jsonl --metrics-port 9464'},
  ]

  static override flags = {
    queue: Flags.string({
      summary: 'URL of the SQS queue receiving the bucket\'s S3 event notifications.',
      exactlyOne: SOURCE_FLAGS,
      parse: wrap((v) => {
        if (!/^https?:\/\/[^/]+\/.+/.test(v)) throw new UsageError(`--queue "${v}" is not a queue URL.`, 'Use the queue URL: https://sqs.REGION.amazonaws.com/ACCOUNT/NAME.')
        return v
      }),
    }),
    subscription: Flags.string({
      summary: 'Pub/Sub subscription receiving a GCS bucket\'s notifications: projects/PROJECT/subscriptions/NAME.',
      exactlyOne: SOURCE_FLAGS,
      parse: wrap((v) => {
        parseSubscriptionName(v)
        return v
      }),
    }),
    listen: Flags.string({
      summary: 'Push mode: accept Pub/Sub push requests and Eventarc CloudEvents on HOST:PORT (on Cloud Run: 0.0.0.0:$PORT).',
      exactlyOne: SOURCE_FLAGS,
      parse: wrap((v) => {
        parseListenAddress(v)
        return v
      }),
    }),
    watch: existingFolderFlag({summary: 'Embedded mode: load files as they appear under this local folder.', exactlyOne: SOURCE_FLAGS}),
    ...formatFlags,
    concurrency: concurrencyFlag,
    'stop-when-idle': durationFlag({summary: 'Exit once nothing arrived (and nothing was loading) for this long, e.g. 30s.'}),
    'visibility-timeout': durationFlag({summary: 'How long a received message stays invisible; renewed while its objects load [default: 60s].'}),
    'ack-deadline': durationFlag({summary: '--subscription: the ack deadline asked for, 10s to 600s; extended while an object loads [default: 60s].'}),
    'max-deliveries': Flags.integer({min: 1, max: 1000, summary: `Deliveries after which a failing message is poison, left to the dead-letter queue/topic [default: the queue's maxReceiveCount or the subscription's maxDeliveryAttempts, else ${DEFAULT_MAX_DELIVERIES}].`}),
    'wait-time': durationFlag({summary: 'Long-poll wait per receive, up to 20s [default: 20s].'}),
    'status-interval': durationFlag({summary: 'How often the status line (or JSON line) is written; 0s for never [default: 10s].'}),
    'metrics-port': Flags.integer({min: 0, max: 65_535, summary: 'Serve Prometheus metrics on 127.0.0.1:PORT/metrics (0 picks a free port).'}),
    'push-audience': Flags.string({summary: '--listen: require a Google-signed OIDC token for this audience on every push (the push endpoint URL, or the audience set on the subscription).'}),
    'push-service-account': Flags.string({summary: '--listen: accept only tokens of this service account (repeatable); needs --push-audience.', multiple: true}),
    'push-jwks-url': Flags.string({summary: '--listen: where the token signing keys are fetched [default: https://www.googleapis.com/oauth2/v3/certs].'}),
    ...streamWorkerFlags,
    'poll-interval': durationFlag({summary: '--watch: how often the folder is listed [default: 1s].'}),
    settle: durationFlag({summary: '--watch: a file is loaded once its size and mtime are unchanged this long [default: 2s].'}),
    's3-endpoint': Flags.string({summary: 'Custom S3 endpoint (S3-compatible servers); uses path-style addressing.', env: 'AWS_ENDPOINT_URL_S3'}),
    'sqs-endpoint': Flags.string({summary: 'Custom SQS endpoint (emulators).', env: 'AWS_ENDPOINT_URL_SQS'}),
    'pubsub-endpoint': Flags.string({summary: 'Custom Pub/Sub endpoint HOST:PORT (emulators; plaintext).', env: 'PUBSUB_EMULATOR_HOST'}),
    'gcs-endpoint': gcsEndpointFlag,
    region: Flags.string({summary: 'AWS region [default: from the queue URL or the AWS configuration chain].'}),
    'dry-run': Flags.boolean({summary: 'Say what the worker would read and write and, on BigQuery, what a day of --expected-rate objects uses through each load method (load jobs, merges, billed bytes, Write API bytes, CreateWriteStream calls against their quotas); receive nothing.'}),
    'max-latency': durationFlag({
      summary: `BigQuery with --load-method load-jobs: commit a batch at the latest this long after its first object arrived, ${formatDuration(MIN_LOAD_JOBS_MAX_LATENCY_MS)} or more; bounds the load jobs and billed statements per day [default: ${formatDuration(DEFAULT_STREAM_MAX_LATENCY_MS)}].`,
    }),
    ...trafficFlags,
    'load-method': loadMethodFlag('write-api'),
    staging: bigQueryFlags.staging,
    location: bigQueryFlags.location,
    'max-bytes-billed': bigQueryFlags['max-bytes-billed'],
  }

  /** stream --json writes JSON lines: status lines while running, then the summary as one line */
  override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json)}\n`)
  }

  /** the last JSON line: the shared envelope, marked like the status lines before it */
  override toSuccessJson(result: unknown): {type: 'summary'} & ReturnType<BaseCommand<typeof Stream, StreamResult>['toSuccessJson']> {
    return {type: 'summary', ...super.toSuccessJson(result)}
  }

  async run(): Promise<StreamResult | StreamDryRun> {
    const {flags} = this
    const {format, table} = formatAndTable(flags)
    const visibility = flags['visibility-timeout'] ?? 60_000
    if (visibility < 1000 || visibility > 43_200_000) throw new UsageError('--visibility-timeout must be between 1s and 12h.', 'For example: --visibility-timeout 5m')
    const wait = flags['wait-time'] ?? 20_000
    if (wait > 20_000) throw new UsageError('--wait-time can be at most 20s (the SQS long-poll limit).', 'Use --wait-time 20s.')
    const ackDeadline = flags['ack-deadline'] ?? 60_000
    if (ackDeadline < 10_000 || ackDeadline > 600_000) throw new UsageError('--ack-deadline must be between 10s and 600s (the Pub/Sub limits).', 'For example: --ack-deadline 60s')

    const pushOnly = (['push-audience', 'push-service-account', 'push-jwks-url', 'shutdown-grace', 'max-requests'] as const).find((f) => flags[f] !== undefined)
    if (pushOnly && !flags.listen) throw new UsageError(`--${pushOnly} applies to push mode only.`, 'Add --listen HOST:PORT, or drop the flag.')
    if ((flags['push-service-account'] || flags['push-jwks-url']) && !flags['push-audience']) throw new UsageError(`--${flags['push-service-account'] ? 'push-service-account' : 'push-jwks-url'} needs --push-audience: a token is only checked against the audience it was minted for.`, 'Add --push-audience with the push endpoint URL (or the audience set on the push subscription).')
    if (flags.watch && (flags.bucket || flags.prefix)) throw new UsageError(`--${flags.bucket ? 'bucket' : 'prefix'} applies to --queue, --subscription and --listen: --watch loads the folder it watches.`, 'Drop the flag, or watch a narrower folder.')
    const {stopTimeoutMs: stopTimeout, shutdownGraceMs: grace} = stopBudget({stopTimeoutMs: flags['stop-timeout'], shutdownGraceMs: flags['shutdown-grace'], push: Boolean(flags.listen)})
    // a stream worker on BigQuery commits each object in seconds through the Write API unless told otherwise
    const loadMethod = flags['load-method'] ?? 'write-api'
    // --max-latency paces load-jobs batches only: bounded below there, said to do nothing on the Write API
    if (flags['max-latency'] !== undefined && parseWarehouse(this.warehouseUri()).kind === 'bigquery') {
      if (loadMethod === 'load-jobs') checkMaxLatency(flags['max-latency'])
      else this.warn('--max-latency paces load-jobs batches (--load-method load-jobs) and does nothing here: the Storage Write API commits each object as it loads.')
    }
    const bigquery = {
      loadMethod,
      staging: flags.staging,
      location: flags.location,
      maxBytesBilled: flags['max-bytes-billed'],
      gcsEndpoint: flags['gcs-endpoint'],
      maxLatencyMs: flags['max-latency'] ?? DEFAULT_STREAM_MAX_LATENCY_MS,
      // every batch makes estimates: on stderr at --log-level debug only, never collected for a run without end
      onEstimate: (e: QueryEstimate) => this.trace(describeEstimate(e)),
      onWarning: (m: string) => this.warn(m),
    }
    if (flags['dry-run']) {
      const source = flags.queue ?? flags.subscription ?? (flags.listen ? `push requests on ${flags.listen}` : `the folder ${flags.watch}`)
      const dry = await streamDryRun({source, warehouse: this.warehouseUri(), table, bigquery, traffic: {objectsPerSecond: flags['expected-rate'], bytesPerObject: flags['expected-object-size']}})
      if (!this.jsonEnabled()) this.log(renderStreamDryRun(dry))
      return dry
    }
    const abort = new AbortController()
    let signals = 0
    const exitCodeOf = (sig: NodeJS.Signals): number => (sig === 'SIGTERM' ? ExitCode.TERMINATED : ExitCode.INTERRUPTED)
    const onSignal = (sig: NodeJS.Signals): void => {
      signals++
      if (signals > 1) {
        this.stderrLine(`${sig} again: exiting now (unfinished messages will be redelivered).`)
        process.exit(exitCodeOf(sig))
      }
      const budget = stopTimeout === undefined ? '' : ` within ${formatDuration(stopTimeout)} (--stop-timeout)`
      this.info(
        flags.watch
          ? `${sig}: finishing the loads running (files not started yet are left for the next run), then exiting${budget} (send it again to exit at once).`
          : flags.listen
            ? `${sig}: answering 503 to the pushes not begun, letting the loads under way commit for up to ${formatDuration(grace!)}, then exiting${budget} (send it again to exit at once).`
            : `${sig}: finishing the loads in flight, then exiting${budget} (send it again to exit at once).`,
      )
      // the stop budget: a worker still busy then exits anyway, before the platform kills it
      if (stopTimeout !== undefined) {
        setTimeout(() => {
          this.stderrLine(`${sig}: the stop budget of ${formatDuration(stopTimeout)} (--stop-timeout) is used up: exiting with loads unfinished (nothing partial is committed; what was not acknowledged is redelivered).`)
          process.exit(exitCodeOf(sig))
        }, stopTimeout).unref()
      }
      abort.abort()
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    try {
      const result = await runStream(
        {
          queue: flags.queue,
          subscription: flags.subscription,
          listen: flags.listen,
          push: {
            audience: flags['push-audience'],
            serviceAccounts: flags['push-service-account'],
            jwksUrl: flags['push-jwks-url'],
            shutdownGraceMs: grace,
            maxRequests: flags['max-requests'],
          },
          scope: flags.bucket || flags.prefix ? {buckets: flags.bucket ?? [], prefixes: flags.prefix ?? []} : undefined,
          watch: flags.watch,
          format,
          warehouse: this.warehouseUri(),
          table,
          concurrency: flags.concurrency ?? this.settings.concurrency ?? 4,
          visibilityTimeoutSeconds: Math.round(visibility / 1000),
          waitSeconds: Math.round(wait / 1000),
          stopWhenIdleMs: flags['stop-when-idle'],
          statusIntervalMs: flags['status-interval'] ?? 10_000,
          metricsPort: flags['metrics-port'],
          pollIntervalMs: flags['poll-interval'],
          settleMs: flags.settle,
          sqs: {endpoint: flags['sqs-endpoint'], region: flags.region ?? this.settings.region},
          pubsub: {endpoint: flags['pubsub-endpoint']},
          ackDeadlineSeconds: Math.round(ackDeadline / 1000),
          maxDeliveries: flags['max-deliveries'],
          storeOptions: this.storeOptions(flags),
          bigquery,
          signal: abort.signal,
        },
        {
          onReady: () => {
            if (flags.queue || flags.subscription) this.info(`Receiving from ${flags.queue ?? flags.subscription} into ${table} (Ctrl-C to stop).`)
            else if (flags.watch) this.info(`Watching ${flags.watch} for new files, loading into ${table} (Ctrl-C to stop).`)
          },
          onListening: (url, {maxRequests}) => {
            this.info(`Listening on ${url} for Pub/Sub pushes and CloudEvents, loading into ${table}${flags['push-audience'] ? ' (OIDC tokens checked)' : ''}; GET /healthz for health (Ctrl-C to stop).`)
            this.info(`Admitting ${maxRequests} push requests at once (--max-requests; beyond them 429): on Cloud Run set --concurrency ${maxRequests}.`)
            if (!flags.bucket && !flags.prefix) this.warn('this worker loads the objects of any bucket it can read that a push names; set --bucket (and --prefix) to load only the buckets it is meant for')
          },
          onStatus: (s) => (this.jsonEnabled() ? this.logJson(s) : this.info(renderStatusLine(s))),
          onMetrics: (url) => this.info(`Metrics on ${url}`),
          onInfo: (line) => this.info(line),
          onWarning: (m) => this.warn(m),
          onFailure: (f) =>
            this.warn(
              flags.watch
                ? `load failed, ${folderRetryRule(flags['max-deliveries'] ?? DEFAULT_MAX_DELIVERIES)}: ${f.uri}: ${f.error}`
                : `load failed, left for redelivery: ${f.uri}: ${f.error}`,
            ),
          onInvalid: (m) => this.warn(`unparseable message ${m.messageId} left for the dead-letter queue${m.receiveCount ? ` (received ${plural(m.receiveCount, 'time')})` : ''}: ${m.reason}`),
          onPoison: (p) => this.warn(`poison: ${p.uri ?? `message ${p.messageId}`} failed on ${plural(p.deliveries, 'delivery', 'deliveries')}, left to ${p.deadLetter ?? 'the dead-letter queue'}: ${p.reason}`),
          onStart: (uri) => this.trace(`loading ${uri}`),
          onLoaded: (o) => this.trace(`${o.outcome} ${o.uri} (${plural(o.rows, 'row')})`),
          onRetry: (u, err, n) => this.trace(`retry ${n} for ${u}: ${(err as Error).message}`),
        },
      )
      if (!this.jsonEnabled()) this.log(renderStreamSummary(result))
      if (result.stoppedBy === 'idle' && (result.objects.failed > 0 || result.poison > 0)) process.exitCode = ExitCode.PARTIAL_FAILURE
      return result
    } finally {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
    }
  }

}
