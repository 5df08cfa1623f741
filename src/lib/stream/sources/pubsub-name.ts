import {UsageError} from '../../errors.js'

const SUBSCRIPTION = /^projects\/([a-z][a-z0-9-]{4,28}[a-z0-9])\/subscriptions\/([A-Za-z][\w.~+%-]{2,254})$/

/** The project and id of a full subscription name, or a usage error. */
export function parseSubscriptionName(name: string): {project: string; id: string} {
  const m = SUBSCRIPTION.exec(name)
  if (!m) throw new UsageError(`--subscription "${name}" is not a full subscription name.`, 'Use projects/PROJECT/subscriptions/NAME (as shown by `gcloud pubsub subscriptions describe NAME --format="value(name)"`).')
  return {project: m[1], id: m[2]}
}
