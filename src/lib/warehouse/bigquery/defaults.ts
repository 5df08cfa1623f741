/**
 * Default --max-latency of `stream` on BigQuery: 720 batches a day at most (below 1,000 objects per 2 minutes),
 * half the per-table load-job quota, at least 35 GiB billed a day (about $0.21 on demand). Its own file, so the
 * command layer reads it without loading the BigQuery client.
 */
export const DEFAULT_STREAM_MAX_LATENCY_MS = 120_000
