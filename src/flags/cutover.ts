import {Flags} from '@oclif/core'

/** Flags every cutover command shares. */
export const cutoverFlags = {
  state: Flags.string({summary: 'State document: a local path or s3://bucket/key [default: cutover.state in the config, else ./seneka-cutover-state.json].', env: 'SENEKA_CUTOVER_STATE'}),
  actor: Flags.string({summary: 'Who is acting, recorded in the state [default: SENEKA_ACTOR, else user@host].'}),
  's3-endpoint': Flags.string({summary: 'Custom S3 endpoint (S3-compatible servers).', env: 'AWS_ENDPOINT_URL_S3'}),
  region: Flags.string({summary: 'AWS region [default: from the AWS configuration chain].'}),
  'gcs-endpoint': Flags.string({summary: 'Custom GCS endpoint for the GCS notification (emulators).', env: 'SENEKA_GCS_ENDPOINT'}),
  'pubsub-endpoint': Flags.string({summary: 'Custom Pub/Sub endpoint HOST:PORT for topics and subscriptions (emulators; plaintext).', env: 'PUBSUB_EMULATOR_HOST'}),
}

export const selectionFlags = {
  wave: Flags.integer({min: 0, summary: 'Only the buckets of this wave.', exclusive: ['bucket']}),
  bucket: Flags.string({summary: 'Only this bucket.', exclusive: ['wave']}),
}
