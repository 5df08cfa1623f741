import {GetBucketNotificationConfigurationCommand, type NotificationConfiguration, PutBucketNotificationConfigurationCommand, type S3Client} from '@aws-sdk/client-s3'
import {GetQueueAttributesCommand, SetQueueAttributesCommand, type SQSClient} from '@aws-sdk/client-sqs'
import {UserError} from '../errors.js'
import {explainS3Error} from '../store/s3.js'
import {explainSqsError} from '../stream/sqs.js'
import {normalizeNotification} from './notification.js'

/** The few S3 and SQS calls cutover makes, with errors turned into clear sentences. */

export async function getNotification(s3: S3Client, bucket: string): Promise<NotificationConfiguration> {
  try {
    const res = await s3.send(new GetBucketNotificationConfigurationCommand({Bucket: bucket}))
    return normalizeNotification(res)
  } catch (err) {
    throw explainNotificationError(err, bucket)
  }
}

export async function putNotification(s3: S3Client, bucket: string, cfg: NotificationConfiguration): Promise<void> {
  try {
    await s3.send(new PutBucketNotificationConfigurationCommand({Bucket: bucket, NotificationConfiguration: cfg}))
  } catch (err) {
    throw explainNotificationError(err, bucket)
  }
}

function explainNotificationError(err: unknown, bucket: string): unknown {
  const e = err as {name?: string; message?: string}
  if (e?.name === 'AccessDenied') {
    return new UserError(`Access denied to the notification configuration of s3://${bucket}.`, {
      suggestion: 'The credentials need s3:GetBucketNotification and s3:PutBucketNotification on the bucket.',
      cause: err,
    })
  }
  if (e?.name === 'InvalidArgument') {
    return new UserError(`S3 refused the notification configuration of s3://${bucket}: ${e.message}.`, {
      suggestion: 'Usually the queue policy does not let this bucket send messages yet, or filters overlap; run `seneka cutover plan` again.',
      cause: err,
    })
  }
  return explainS3Error(err, bucket)
}

export interface QueueInfo {
  url: string
  arn: string
  fifo: boolean
  policy: string | undefined
}

/** Cutover's own suggestions for a missing queue or a denied call; everything else as stream explains it. */
function explainQueueError(err: unknown, url: string): unknown {
  const e = err as {name?: string}
  if (e?.name === 'QueueDoesNotExist' || e?.name === 'AWS.SimpleQueueService.NonExistentQueue') {
    return new UserError(`The queue ${url} does not exist.`, {suggestion: 'Create it (a standard queue, not FIFO) or fix the queue in the cutover config.', cause: err})
  }
  if (e?.name === 'AccessDenied' || e?.name === 'AccessDeniedException') {
    return new UserError(`Access denied to the queue ${url}.`, {suggestion: 'The credentials need sqs:GetQueueAttributes and sqs:SetQueueAttributes on it.', cause: err})
  }
  return explainSqsError(err, url)
}

export async function getQueue(sqs: SQSClient, url: string): Promise<QueueInfo> {
  try {
    const res = await sqs.send(new GetQueueAttributesCommand({QueueUrl: url, AttributeNames: ['QueueArn', 'FifoQueue', 'Policy']}))
    const a = res.Attributes ?? {}
    return {url, arn: a.QueueArn ?? '', fifo: a.FifoQueue === 'true' || url.endsWith('.fifo'), policy: a.Policy || undefined}
  } catch (err) {
    throw explainQueueError(err, url)
  }
}

/** Sets the queue policy; an empty string removes it. */
export async function setQueuePolicy(sqs: SQSClient, url: string, policy: string): Promise<void> {
  try {
    await sqs.send(new SetQueueAttributesCommand({QueueUrl: url, Attributes: {Policy: policy}}))
  } catch (err) {
    throw explainQueueError(err, url)
  }
}
