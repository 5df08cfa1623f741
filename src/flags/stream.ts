import {Flags} from '@oclif/core'
import {DEFAULT_SHUTDOWN_GRACE_MS, DEFAULT_STOP_TIMEOUT_MS} from '../lib/stream/sources/push.js'
import {formatDuration} from '../lib/time.js'
import {durationFlag} from './index.js'

/** What a stream worker loads, and how it is stopped and admits pushes (seneka stream). */
export const streamWorkerFlags = {
  bucket: Flags.string({
    summary: 'Load only objects of this bucket (repeatable); events of other buckets are acknowledged, counted as out of scope and not loaded [default: any bucket the worker can read].',
    multiple: true,
  }),
  prefix: Flags.string({
    summary: 'Load only keys under this prefix (repeatable); events of other keys are acknowledged, counted as out of scope and not loaded.',
    multiple: true,
  }),
  'stop-timeout': durationFlag({
    summary: `The stop budget: after SIGTERM or SIGINT the worker exits within this long, whatever is still loading (nothing partial is committed; what was not acknowledged is redelivered) [default: ${formatDuration(DEFAULT_STOP_TIMEOUT_MS)} with --listen, none otherwise].`,
  }),
  'shutdown-grace': durationFlag({
    summary: `--listen: on SIGTERM, how long the loads under way may take to commit before their requests are answered 503; requests whose load has not begun are answered 503 at once [default: ${formatDuration(DEFAULT_SHUTDOWN_GRACE_MS)}].`,
  }),
  'max-requests': Flags.integer({
    min: 1,
    max: 100_000,
    summary: '--listen: push requests admitted at once (beyond: 429 with Retry-After); set Cloud Run\'s --concurrency to the same number [default: 5 x the objects the loader takes in flight, 80 to 1000; printed at start].',
  }),
}
