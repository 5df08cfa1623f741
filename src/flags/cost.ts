import {Flags} from '@oclif/core'
import {gcsEndpointFlag, wrap} from './index.js'
import {parseByteSize, parseBytes} from '../lib/cost/bigquery.js'
import {parseRate} from '../lib/cost/load-methods.js'
import {LOAD_METHODS, type LoadMethod} from '../lib/warehouse/types.js'

/** --max-bytes-billed: a byte size (200GB, 1TiB ...) validated at parse time. */
export const bytesFlag = Flags.custom<number>({
  parse: (input, _ctx, opts) => wrap((v) => parseBytes(v, `--${opts.name}`))(input),
})

/** stream --dry-run on BigQuery: the traffic the two load methods are compared for. */
export const trafficFlags = {
  'expected-rate': Flags.custom<number>({parse: (input, _ctx, opts) => wrap((v) => parseRate(v, `--${opts.name}`))(input)})({
    dependsOn: ['dry-run'],
    summary: 'BigQuery --dry-run: objects expected per second (5/s, 300/m, 1000/h) to price both load methods for [default: 1/s].',
  }),
  'expected-object-size': Flags.custom<number>({parse: (input, _ctx, opts) => wrap((v) => parseByteSize(v, `--${opts.name}`))(input)})({
    dependsOn: ['dry-run'],
    summary: 'BigQuery --dry-run: uncompressed size of one object (the bytes the Write API ingests), e.g. 2MiB [default: 1MiB].',
  }),
}

/** The BigQuery / GCS flags a command that touches BigQuery offers. */
export const bigQueryFlags = {
  staging: Flags.string({summary: 'BigQuery: gs://bucket/prefix where load files are staged (same location as the dataset).', env: 'SENEKA_STAGING'}),
  location: Flags.string({summary: 'BigQuery: dataset location, e.g. US, EU, europe-west1.', env: 'SENEKA_BQ_LOCATION'}),
  'max-bytes-billed': bytesFlag({summary: 'BigQuery: refuse (and cap) any query above this many bytes [default: 100GiB].', env: 'SENEKA_MAX_BYTES_BILLED'}),
  'gcs-endpoint': gcsEndpointFlag,
}

/** --dry-run of the commands that only read (reconcile, latency-report, dedupe): BigQuery estimates, nothing run. */
export const queryDryRunFlag = Flags.boolean({
  summary: 'BigQuery: dry-run every statement, print each one\'s bytes and estimated cost and the total, and run nothing billable.',
})

/**
 * --load-method of the loading commands (backfill, stream): how BigQuery loads objects. `write-api`: Storage Write
 * API pending streams (seconds, no staging bucket, no DML per object); `load-jobs`: gzip files under --staging,
 * load jobs and one merge per batch (minutes, free loads, billed merges). Each command states its default.
 */
export function loadMethodFlag(defaultText: string) {
  return Flags.option({
    options: LOAD_METHODS as LoadMethod[],
    summary: `BigQuery: load with the Storage Write API (write-api) or through --staging files and load jobs (load-jobs) [default: ${defaultText}].`,
    env: 'SENEKA_LOAD_METHOD',
  })()
}
