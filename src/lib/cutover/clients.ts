import {S3Client} from '@aws-sdk/client-s3'
import {SQSClient} from '@aws-sdk/client-sqs'
import {describeNetworkError, UserError} from '../errors.js'
import {explainGcpError, httpStatus} from '../gcp/errors.js'
import {isTransient, withRetry} from '../retry.js'
import {createGcsClient} from '../store/gcs.js'
import {createS3Client} from '../store/s3.js'
import type {GcpLegClient, GcsNotificationInfo} from './gcs-leg.js'
import type {TransferClient, TransferJobSpec} from './leg.js'

/** The one place cutover builds its cloud clients (tests pass their own in CutoverDeps). */

export interface AwsOptions {
  s3Endpoint?: string
  sqsEndpoint?: string
  region?: string
}

export function createClients(opts: AwsOptions): {s3: S3Client; sqs: SQSClient} {
  const s3 = createS3Client({s3Endpoint: opts.s3Endpoint, region: opts.region})
  const endpoint = opts.sqsEndpoint ?? process.env.AWS_ENDPOINT_URL_SQS ?? process.env.AWS_ENDPOINT_URL
  const sqs = new SQSClient({
    ...(endpoint ? {endpoint} : {}),
    region: opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? (endpoint ? 'us-east-1' : undefined),
    maxAttempts: 5,
  })
  return {s3, sqs}
}

/** Storage Transfer Service through @google-cloud/storage-transfer (Application Default Credentials). */
export async function createTransferClient(): Promise<TransferClient> {
  const {StorageTransferServiceClient} = await import('@google-cloud/storage-transfer')
  const client = new StorageTransferServiceClient()
  return {
    async getJob(name, projectId) {
      try {
        const [job] = await client.getTransferJob({jobName: name, projectId})
        return {name: job.name ?? name, status: String(job.status ?? '')}
      } catch (err) {
        if ((err as {code?: number}).code === 5) return undefined // NOT_FOUND
        throw err
      }
    },
    async createJob(job: TransferJobSpec) {
      const [created] = await client.createTransferJob({transferJob: job})
      return {name: created.name ?? job.name}
    },
    async setStatus(name, projectId, status) {
      await client.updateTransferJob({jobName: name, projectId, transferJob: {status}, updateTransferJobFieldMask: {paths: ['status']}})
    },
  }
}

/** gRPC status codes (google-gax errors carry them as `code`). */
const GRPC = {ALREADY_EXISTS: 6, NOT_FOUND: 5, PERMISSION_DENIED: 7, UNAUTHENTICATED: 16} as const

const grpcCode = (err: unknown): number | undefined => {
  const c = (err as {code?: unknown})?.code
  return typeof c === 'number' ? c : undefined
}

/** A Pub/Sub administration error as one sentence naming the permission; other errors unchanged. */
export function explainPubsubAdminError(err: unknown, what: string, permission: string): unknown {
  const net = describeNetworkError(err, `the Pub/Sub endpoint (${what})`)
  if (net) return net
  const message = (err as {message?: string})?.message ?? String(err)
  if (grpcCode(err) === GRPC.PERMISSION_DENIED) {
    return new UserError(`Permission ${permission} is missing to ${what}.`, {
      suggestion: `Grant the account seneka runs as a role with ${permission} (roles/pubsub.editor has it), then run the command again.`,
      cause: err,
    })
  }
  if (grpcCode(err) === GRPC.UNAUTHENTICATED || /Could not load the default credentials|invalid_grant/i.test(message)) {
    return new UserError(`No usable Google Cloud credentials were found to ${what}.`, {suggestion: 'Run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS, or run with an attached service account.', cause: err})
  }
  return err
}

/** A GCS notification error as one sentence; the service agent's missing publish permission is named as such. */
export function explainNotificationApiError(err: unknown, what: string, bucket: string, topic?: string): unknown {
  const status = httpStatus(err)
  const message = (err as {message?: string})?.message ?? ''
  if (status === 403 && /permission to publish/i.test(message)) {
    const agent = /'([^']+@gs-project-accounts\.iam\.gserviceaccount\.com)'/.exec(message)?.[1] ?? "GCS's service agent"
    return new UserError(`${agent} lacks pubsub.topics.publish on ${topic ?? 'the topic'} (or the topic does not exist), so GCS refused the notification on gs://${bucket}.`, {
      suggestion: `Grant it roles/pubsub.publisher: gcloud pubsub topics add-iam-policy-binding ${topic ?? 'TOPIC'} --member=serviceAccount:${agent.includes('@') ? agent : '$(gcloud storage service-agent --project=PROJECT)'} --role=roles/pubsub.publisher, then run apply again.`,
      cause: err,
    })
  }
  if (status === 403) {
    const permission = /Permission '?([a-z]+\.[A-Za-z.]+)'? denied/.exec(message)?.[1] ?? (what.startsWith('list') ? 'storage.buckets.get' : 'storage.buckets.update')
    return new UserError(`Permission ${permission} is missing to ${what}.`, {suggestion: `Grant the account seneka runs as a role with ${permission} on gs://${bucket} (roles/storage.admin has it), then run the command again.`, cause: err})
  }
  if (status === 404) return new UserError(`The GCS bucket gs://${bucket} does not exist (or is not visible to these credentials).`, {suggestion: 'Check leg.pubsub.gcsBucket in the cutover config.', cause: err})
  return explainGcpError(err, {what, needs: 'storage.buckets.update', service: 'storage'})
}

const asNotification = (m: Record<string, unknown>): GcsNotificationInfo => ({
  id: String(m.id),
  topic: String(m.topic ?? '').replace(/^\/\/pubsub\.[^/]+\//, ''),
  eventTypes: ((m.event_types ?? m.eventTypes ?? []) as string[]).map(String),
  payloadFormat: String(m.payload_format ?? m.payloadFormat ?? ''),
  ...((m.object_name_prefix ?? m.objectNamePrefix) ? {objectNamePrefix: String(m.object_name_prefix ?? m.objectNamePrefix)} : {}),
})

/** GCS notification calls are retried here (the storage client's own retries are off, as for the store) */
const GCS_RETRIES = 4

const sameSpec = (a: Omit<GcsNotificationInfo, 'id'>, b: Omit<GcsNotificationInfo, 'id'>): boolean =>
  a.topic === b.topic && a.payloadFormat === b.payloadFormat && [...a.eventTypes].sort().join() === [...b.eventTypes].sort().join() && (a.objectNamePrefix ?? '') === (b.objectNamePrefix ?? '')

/**
 * GCS notifications through @google-cloud/storage (bucket.createNotification = notifications.insert) and Pub/Sub
 * topics and subscriptions through @google-cloud/pubsub, with Application Default Credentials; a custom
 * endpoint (emulators, test doubles) is used without authentication.
 */
export async function createGcpLegClient(opts: {project: string; gcsEndpoint?: string; pubsubEndpoint?: string}): Promise<GcpLegClient> {
  const {PubSub} = await import('@google-cloud/pubsub')
  const host = opts.pubsubEndpoint ?? process.env.PUBSUB_EMULATOR_HOST
  const pubsub = new PubSub({projectId: opts.project, ...(host ? {apiEndpoint: host.replace(/^https?:\/\//, ''), emulatorMode: true} : {})})
  const storage = createGcsClient({gcsEndpoint: opts.gcsEndpoint})
  // 429 and 5xx from GCS (explained errors are marked retryable) are retried with backoff; Pub/Sub's admin calls
  // are retried by its own client (gax)
  const retried = <T>(fn: (attempt: number) => Promise<T>): Promise<T> => withRetry(fn, {retries: GCS_RETRIES, baseDelayMs: 250, isRetryable: isTransient})
  const listNotifications = (bucket: string): Promise<GcsNotificationInfo[]> =>
    retried(async () => {
      try {
        const [list] = await storage.bucket(bucket).getNotifications()
        return list.map((n) => asNotification(n.metadata as Record<string, unknown>))
      } catch (err) {
        throw explainNotificationApiError(err, `list the notifications of gs://${bucket}`, bucket)
      }
    })
  const gone = async (fn: () => Promise<unknown>): Promise<boolean> => {
    try {
      await fn()
      return true
    } catch (err) {
      if (grpcCode(err) === GRPC.NOT_FOUND || httpStatus(err) === 404) return false
      throw err
    }
  }
  return {
    listNotifications,
    async createNotification(bucket, n) {
      // notifications.insert is not idempotent: before trying again, look whether the attempt whose answer was
      // lost created it (apply creates one only where no such notification existed)
      return retried(async (attempt) => {
        if (attempt > 0) {
          const made = (await listNotifications(bucket)).find((x) => sameSpec(x, n))
          if (made) return made
        }
        try {
          const [created] = await storage.bucket(bucket).createNotification(n.topic, {
            eventTypes: n.eventTypes,
            payloadFormat: n.payloadFormat,
            ...(n.objectNamePrefix ? {objectNamePrefix: n.objectNamePrefix} : {}),
          })
          return asNotification(created.metadata as Record<string, unknown>)
        } catch (err) {
          throw explainNotificationApiError(err, `create a notification on gs://${bucket}`, bucket, n.topic)
        }
      })
    },
    async deleteNotification(bucket, id) {
      // a retry after a lost answer finds it gone (404): deleted either way
      return retried(async () => {
        try {
          return await gone(() => storage.bucket(bucket).notification(id).delete())
        } catch (err) {
          throw explainNotificationApiError(err, `delete notification ${id} of gs://${bucket}`, bucket)
        }
      })
    },
    async topicExists(name) {
      try {
        return (await pubsub.topic(name).exists())[0]
      } catch (err) {
        throw explainPubsubAdminError(err, `read the topic ${name}`, 'pubsub.topics.get')
      }
    },
    async createTopic(name) {
      try {
        await pubsub.createTopic(name)
        return true
      } catch (err) {
        if (grpcCode(err) === GRPC.ALREADY_EXISTS) return false
        throw explainPubsubAdminError(err, `create the topic ${name}`, 'pubsub.topics.create')
      }
    },
    async deleteTopic(name) {
      try {
        return await gone(() => pubsub.topic(name).delete())
      } catch (err) {
        throw explainPubsubAdminError(err, `delete the topic ${name}`, 'pubsub.topics.delete')
      }
    },
    async getSubscription(name) {
      try {
        const [m] = await pubsub.subscription(name).getMetadata()
        const dlp = m.deadLetterPolicy
        return {
          name: String(m.name ?? name),
          topic: String(m.topic ?? ''),
          ackDeadlineSeconds: Number(m.ackDeadlineSeconds ?? 0) || undefined,
          deadLetterPolicy: dlp?.deadLetterTopic ? {deadLetterTopic: String(dlp.deadLetterTopic), maxDeliveryAttempts: Number(dlp.maxDeliveryAttempts ?? 5)} : null,
        }
      } catch (err) {
        if (grpcCode(err) === GRPC.NOT_FOUND) return undefined
        throw explainPubsubAdminError(err, `read the subscription ${name}`, 'pubsub.subscriptions.get')
      }
    },
    async createSubscription(s) {
      try {
        await pubsub.createSubscription(s.topic, s.name, {ackDeadlineSeconds: s.ackDeadlineSeconds, ...(s.deadLetterPolicy ? {deadLetterPolicy: s.deadLetterPolicy} : {})})
        return true
      } catch (err) {
        if (grpcCode(err) === GRPC.ALREADY_EXISTS) return false
        throw explainPubsubAdminError(err, `create the subscription ${s.name} on ${s.topic}`, 'pubsub.subscriptions.create')
      }
    },
    async deleteSubscription(name) {
      try {
        return await gone(() => pubsub.subscription(name).delete())
      } catch (err) {
        throw explainPubsubAdminError(err, `delete the subscription ${name}`, 'pubsub.subscriptions.delete')
      }
    },
    async close() {
      await pubsub.close().catch(() => {})
    },
  }
}
