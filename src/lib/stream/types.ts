import type {BigQuerySettings} from '../warehouse/index.js'
import type {SQSClient} from '@aws-sdk/client-sqs'
import type {LogFormat} from '../formats/types.js'
import type {StoreFactories, StoreOptions} from '../store/index.js'
import type {LoadedObject, LoadFailure} from './object-loader.js'
import type {ObjectScope} from './scope.js'
import type {LatencySummary, StreamCounters, StreamStatus} from './stats.js'

/** Where the worker's events come from. */
export type StreamMode = 'sqs' | 'pubsub' | 'push' | 'watch'

export type StopReason = 'signal' | 'idle'

export interface StreamOptions {
  /** SQS queue URL (exactly one of queue / subscription / listen / watch) */
  queue?: string
  /** Pub/Sub subscription receiving a GCS bucket's notifications: projects/P/subscriptions/S */
  subscription?: string
  /** push mode: HOST:PORT to accept Pub/Sub push requests and Eventarc CloudEvents on */
  listen?: string
  /** push mode: OIDC token checks and shutdown */
  push?: PushSettings
  /** local folder to watch (embedded mode) */
  watch?: string
  format: LogFormat
  warehouse: string
  table: string
  concurrency: number
  /** visibility timeout asked for on receive, and renewed while loading (seconds) */
  visibilityTimeoutSeconds?: number
  /** long-poll wait (seconds, 0-20) */
  waitSeconds?: number
  /** exit once nothing arrived and nothing was in flight this long (ms) */
  stopWhenIdleMs?: number
  /** status every this many ms (0: none) */
  statusIntervalMs?: number
  /** serve Prometheus metrics on 127.0.0.1:port */
  metricsPort?: number
  /** --watch: how often the folder is listed (ms) */
  pollIntervalMs?: number
  /** --watch: a file is loaded once its size and mtime have not changed for this long (ms) */
  settleMs?: number
  sqs?: {endpoint?: string; region?: string}
  /** custom Pub/Sub endpoint HOST:PORT (emulators, test doubles; plaintext); default PUBSUB_EMULATOR_HOST, then Google */
  pubsub?: {endpoint?: string}
  /** --subscription: ack deadline asked for and renewed while loading (seconds, 10-600) [default: 60] */
  ackDeadlineSeconds?: number
  /** --subscription: how often the deadline of a message being loaded is extended (ms) [default: a third of the deadline] */
  ackExtendIntervalMs?: number
  /**
   * after this many deliveries of a message whose load fails, it is recorded as poison and left to the
   * dead-letter queue / topic; default: the queue's maxReceiveCount / the subscription's maxDeliveryAttempts, else 5
   */
  maxDeliveries?: number
  /** replace the SQS client (tests) */
  sqsClient?: SQSClient
  storeOptions?: StoreOptions
  /** BigQuery settings (location, staging, byte cap, --max-latency) */
  bigquery?: BigQuerySettings
  storeFactories?: StoreFactories
  retries?: number
  loadId?: string
  /** the buckets and key prefixes loaded (--bucket, --prefix); events of other objects are acknowledged, counted, not loaded */
  scope?: ObjectScope
  /** aborting it stops the worker gracefully: no more receives, in-flight loads finish */
  signal?: AbortSignal
}

export interface PushSettings {
  /** verify each request's OIDC token for this audience (none: tokens are not checked) */
  audience?: string
  /** accept only tokens of these service accounts (the email claim, verified) */
  serviceAccounts?: string[]
  /** where the token signing keys come from [default: Google's JWKS] */
  jwksUrl?: string
  /** clock difference accepted on exp / iat (seconds) [default: 30] */
  clockToleranceSeconds?: number
  /** on stop, how long the loads under way may take to commit before their requests are answered 503 (ms) [default: 6000] */
  shutdownGraceMs?: number
  /** a request's body must be complete this long after its headers, else 408 (ms) [default: 5000] */
  bodyTimeoutMs?: number
  /** push requests admitted at once (beyond: 429) [default: defaultMaxRequests of the loader's in-flight objects] */
  maxRequests?: number
}

export interface StreamHooks {
  onStatus?: (s: StreamStatus) => void
  onLoaded?: (o: LoadedObject) => void
  onFailure?: (f: LoadFailure) => void
  onInvalid?: (m: InvalidMessage) => void
  /** a message that failed maxDeliveries times, left to the dead-letter queue / topic */
  onPoison?: (p: PoisonObject) => void
  onWarning?: (message: string) => void
  onStart?: (uri: string) => void
  onRetry?: (uri: string, err: unknown, attempt: number) => void
  onMetrics?: (url: string) => void
  /** push mode: the URL the server listens on, and the requests it admits at once */
  onListening?: (url: string, limits: {maxRequests: number}) => void
  /** once the worker is receiving (or watching) */
  onReady?: () => void
  /** what the warehouse says about running for long (BigQuery: load jobs and least cost per day) */
  onInfo?: (line: string) => void
}

export interface InvalidMessage {
  messageId: string
  reason: string
  receiveCount: number | null
}

/** An object (or unparseable message) that failed on every delivery up to the limit. */
export interface PoisonObject {
  /** the object, or null for a message that could not be parsed */
  uri: string | null
  messageId: string
  deliveries: number
  reason: string
  /** where the message goes now */
  deadLetter: string | null
}

export interface StreamResult extends StreamCounters {
  type: 'summary'
  loadId: string
  mode: StreamMode
  source: string
  warehouse: string
  table: string
  format: string
  stoppedBy: StopReason
  durationMs: number
  /** event time (file mtime for --watch) to commit */
  latency: LatencySummary
  failures: LoadFailure[]
  invalidMessages: InvalidMessage[]
  /** the first poison objects (the count is in `poison`) */
  poisonObjects: PoisonObject[]
}
