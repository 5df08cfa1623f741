import {estimateUsd, MIN_BILLED_BYTES, ON_DEMAND_USD_PER_TIB} from '../../../cost/bigquery.js'
import {formatBytes, formatCount} from '../../../output/units.js'
import {formatDuration} from '../../../time.js'
import {LANE_STREAMS} from '../../../cost/quotas.js'
import {type GroupPolicy, STREAM_GROUPS} from './groups.js'

/**
 * What a stream worker on the Write API uses at most (printed when `stream` starts): no load jobs and no merges;
 * ledger look-ups at most one per interval per table, each billed at least 10 MB. Its own module, so the warehouse
 * prints it without loading the Write API client.
 */
export function writeApiStreamingDay(policy: GroupPolicy = STREAM_GROUPS): string[] {
  const perHour = Math.floor(3_600_000 / Math.max(1, policy.lookupIntervalMs))
  const bytes = perHour * 24 * MIN_BILLED_BYTES
  const pending = `PENDING streams shared by up to ${formatCount(policy.maxObjects)} objects, at most ${formatCount(policy.streamsPerHour)} CreateWriteStream calls an hour per worker against the project's 10,000: SENEKA_WRITE_STREAMS_PER_HOUR`
  const streams = policy.committedLane ? `small groups through ${LANE_STREAMS} committed-type streams kept per table, visible in one append; other groups in ${pending}` : pending
  return [
    `BigQuery: objects commit in groups through the Storage Write API (${streams}): no load jobs, no merges, no DML for new objects.`,
    `BigQuery: at most ${formatCount(perHour)} ledger look-ups an hour per table (one per ${formatDuration(policy.lookupIntervalMs)}, each for every object waiting: SENEKA_WRITE_LOOKUP_INTERVAL_MS trades latency for fewer), each billed at least 10 MB: at most ${formatBytes(bytes)} a day (about $${estimateUsd(bytes).toFixed(2)} at $${ON_DEMAND_USD_PER_TIB}/TiB on demand; no bytes billed under slot reservations), plus 2 DELETEs per replaced object. Write API bytes: free up to 2 TiB a month.`,
  ]
}
