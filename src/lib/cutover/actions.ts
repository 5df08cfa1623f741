/** One change a cutover plan makes (or found already made), by resource. */
export type Change = 'add' | 'change' | 'remove' | 'none'
export type Resource =
  | 's3-notification'
  | 'queue-policy'
  | 'stream'
  | 'transfer-job'
  | 'pubsub-topic'
  | 'pubsub-subscription'
  | 'gcs-notification'
  /** state documents written before the leg was created through the API */
  | 'pubsub-notification'
  | 'state'

export interface PlanAction {
  resource: Resource
  change: Change
  /** what is changed, e.g. s3://bucket, a queue URL, a transfer job name */
  target: string
  summary: string
  before?: unknown
  after?: unknown
}
