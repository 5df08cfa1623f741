import {UsageError} from '../errors.js'
import {formatDuration} from '../time.js'

/**
 * BigQuery quotas and prices the load methods are planned against. Sources: Google's "Quotas and limits" page
 * (docs.cloud.google.com/bigquery/quotas, 2026-08), the Storage Write API introduction (the free tier) and the
 * per-GiB price as quoted in docs/bigquery.md ("Cost of the two load methods"). Where figures conflict, the
 * stricter one.
 */

export const DAY_MS = 86_400_000
export const HOUR_MS = 3_600_000

/** Load jobs per table per day, failed ones included ("Load jobs per table per day"; cannot be raised). */
export const LOAD_JOBS_PER_TABLE_PER_DAY = 1500
/** Load jobs per project per day, failed ones included ("Load jobs per day"). */
export const LOAD_JOBS_PER_PROJECT_PER_DAY = 100_000
/** Mutating DML statements (MERGE, UPDATE, DELETE) that run at once on one table; 20 more queue, then they fail. */
export const MUTATING_DML_RUNNING_PER_TABLE = 2
/** Storage Write API: CreateWriteStream calls per hour per project per region. */
export const CREATE_WRITE_STREAM_PER_HOUR = 10_000
/** Storage Write API: bytes ingested free each month (2 TiB). */
export const WRITE_API_FREE_BYTES_PER_MONTH = 2 * 1024 ** 4
/**
 * Storage Write API: USD per GiB ingested beyond the free tier. Unconfirmed: quoted by a third-party pricing
 * page, not found on a Google page; check cloud.google.com/bigquery/pricing ("Data ingestion pricing").
 */
export const WRITE_API_USD_PER_GIB = 0.025

/** Times one load-jobs batch takes on BigQuery, as measured on realistic doubles (issue figures): load 3 s, merge 6 s. */
export const TYPICAL_LOAD_JOB_MS = 3000
export const TYPICAL_MERGE_MS = 6000

/**
 * The shortest --max-latency the load-jobs path keeps up with: one batch per table per interval stays within
 * the per-table load-job quota (86,400 s / 1,500 = 57.6 s, rounded up to the second) without counting on the
 * loader's staging-table rotation (the margin for retries, batches full by size and restarts), and is longer
 * than one batch's load job and merge, which run one after another (3 s + 6 s). Below it the project's load-job
 * quota runs out (0s planned 86,400,000 load jobs a day), batches queue behind the merge chain without end,
 * and a handful of workers fill the dataset's one ledger with merges.
 */
export const MIN_LOAD_JOBS_MAX_LATENCY_MS = Math.max(Math.ceil(DAY_MS / LOAD_JOBS_PER_TABLE_PER_DAY / 1000) * 1000, TYPICAL_LOAD_JOB_MS + TYPICAL_MERGE_MS)

/** Rejects a --max-latency below MIN_LOAD_JOBS_MAX_LATENCY_MS with one sentence that says the bound and the way out. */
export function checkMaxLatency(ms: number, flag = '--max-latency'): number {
  if (ms < MIN_LOAD_JOBS_MAX_LATENCY_MS) {
    const min = formatDuration(MIN_LOAD_JOBS_MAX_LATENCY_MS)
    throw new UsageError(
      `${flag} ${formatDuration(ms)} is below ${min}, the shortest interval BigQuery load jobs keep up with (${LOAD_JOBS_PER_TABLE_PER_DAY.toLocaleString('en-US')} load jobs per table per day, one load and one merge per batch).`,
      `Use ${flag} ${min} or more; to commit within seconds, load with the Storage Write API (--load-method write-api).`,
    )
  }
  return ms
}

/**
 * How the Storage Write API loader groups objects into pending streams (write-api/groups.ts): a group closes when
 * full or after its linger, and a worker creates at most `streamsPerHour` streams (its share of the project's
 * CreateWriteStream quota).
 */
export interface GroupPolicy {
  /** objects per group at most */
  maxObjects: number
  /** bytes of encoded rows per group at most (the rows wait in memory until their group is written) */
  maxBytes: number
  /** how long a group's first object waits for others while other objects are still being parsed */
  lingerMs: number
  /** CreateWriteStream calls an hour this worker may make (rows and rejects streams) */
  streamsPerHour: number
  /**
   * Ledger look-up statements of a table start at least this far apart (each covers every object waiting; each is
   * billed at least 10 MB on demand): the bound on a worker's billed statements, and the wait before a group's
   * commit (its race check is a look-up after its intents).
   */
  lookupIntervalMs: number
  /**
   * Groups small enough for one append request, without rejected lines, go to a COMMITTED-type stream the worker
   * keeps (one request: visible at once, all of it or nothing) instead of a PENDING stream of their own: no
   * CreateWriteStream per group, no wait for one (docs/bigquery.md, "The committed lane").
   */
  committedLane: boolean
}

/** COMMITTED-type streams a worker keeps per table for the committed lane (GroupPolicy.committedLane). */
export const LANE_STREAMS = 8

/** Bytes of rows in one append request at most (the service refuses 10 MB): a committed-lane group fits in one. */
export const LANE_REQUEST_BYTES = 9 * 1024 * 1024

/**
 * Look-up rounds of a committed-lane group of new objects: the look-up after its intents (which is its race check
 * too), and the check after its append.
 */
export const LANE_LOOKUPS_PER_GROUP = 2

/** Look-up rounds an object group waits for: its objects' look-up, the race check before its commit, the check after. */
export const LOOKUPS_PER_GROUP = 3

/** A stream worker: commits within about a second. */
export const STREAM_GROUPS: GroupPolicy = {maxObjects: 100, maxBytes: 32 * 1024 * 1024, lingerMs: 250, streamsPerHour: 3000, lookupIntervalMs: 250, committedLane: true}
/** A backfill: larger groups, a longer linger. */
export const BULK_GROUPS: GroupPolicy = {maxObjects: 250, maxBytes: 128 * 1024 * 1024, lingerMs: 2000, streamsPerHour: 3000, lookupIntervalMs: 200, committedLane: false}
