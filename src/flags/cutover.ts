import {Flags} from '@oclif/core'
import {gcsEndpointFlag} from './index.js'

/** Flags every cutover command shares. */
export const cutoverFlags = {
  state: Flags.string({summary: 'State document: a local path or s3://bucket/key [default: cutover.state in the config, else ./seneka-cutover-state.json].', env: 'SENEKA_CUTOVER_STATE'}),
  actor: Flags.string({summary: 'Who is acting, recorded in the state [default: SENEKA_ACTOR, else user@host].'}),
  's3-endpoint': Flags.string({summary: 'Custom S3 endpoint (S3-compatible servers).', env: 'AWS_ENDPOINT_URL_S3'}),
  region: Flags.string({summary: 'AWS region [default: from the AWS configuration chain].'}),
  'gcs-endpoint': gcsEndpointFlag,
  'pubsub-endpoint': Flags.string({summary: 'Custom Pub/Sub endpoint HOST:PORT for topics and subscriptions (emulators; plaintext).', env: 'PUBSUB_EMULATOR_HOST'}),
}

/** The options of openCutover from the shared flags, and the config file (named in its errors). */
export function cutoverOptions(flags: {state?: string; actor?: string; 's3-endpoint'?: string; region?: string; 'gcs-endpoint'?: string; 'pubsub-endpoint'?: string; config?: string}) {
  return {configFile: flags.config, state: flags.state, actor: flags.actor, s3Endpoint: flags['s3-endpoint'], region: flags.region, gcsEndpoint: flags['gcs-endpoint'], pubsubEndpoint: flags['pubsub-endpoint']}
}

export const selectionFlags = {
  wave: Flags.integer({min: 0, summary: 'Only the buckets of this wave.', exclusive: ['bucket']}),
  bucket: Flags.string({summary: 'Only this bucket.', exclusive: ['wave']}),
}
