import {CreateBucketCommand, PutObjectCommand, type S3Client} from '@aws-sdk/client-s3'
import {CreateQueueCommand, GetQueueAttributesCommand, SendMessageBatchCommand, SendMessageCommand, type SQSClient} from '@aws-sdk/client-sqs'

/** Encodes a key the way S3 does in event notifications: URL-encoded, space as "+". */
export function encodeS3Key(key: string): string {
  return encodeURIComponent(key).replaceAll('%20', '+').replaceAll('%2F', '/')
}

export interface EventSpec {
  bucket: string
  key: string
  etag: string
  size: number
  sequencer: string
  eventName?: string
  eventTime?: Date
}

/** One record as S3 writes it (eventVersion 2.1). */
export function s3Record(e: EventSpec): Record<string, unknown> {
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: (e.eventTime ?? new Date()).toISOString(),
    eventName: e.eventName ?? 'ObjectCreated:Put',
    userIdentity: {principalId: 'AWS:AIDAEXAMPLE'},
    requestParameters: {sourceIPAddress: '127.0.0.1'},
    responseElements: {'x-amz-request-id': 'C3D13FE58DE4C810', 'x-amz-id-2': 'FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD'},
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'seneka',
      bucket: {name: e.bucket, ownerIdentity: {principalId: 'A3NL1KOZZKExample'}, arn: `arn:aws:s3:::${e.bucket}`},
      object: {key: encodeS3Key(e.key), size: e.size, eTag: e.etag, sequencer: e.sequencer},
    },
  }
}

export function notification(...records: EventSpec[]): string {
  return JSON.stringify({Records: records.map(s3Record)})
}

export function snsEnvelope(message: string): string {
  return JSON.stringify({
    Type: 'Notification',
    MessageId: '22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324',
    TopicArn: 'arn:aws:sns:us-east-1:123456789012:s3-events',
    Subject: 'Amazon S3 Notification',
    Message: message,
    Timestamp: new Date().toISOString(),
    SignatureVersion: '1',
  })
}

export const TEST_EVENT = JSON.stringify({Service: 'Amazon S3', Event: 's3:TestEvent', Time: '2024-05-01T00:00:00.000Z', Bucket: 'logs', RequestId: '5582815E1AEA5ADF', HostId: '8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE'})

let seq = 0x1000
/** Increasing S3-like sequencers (hex, uppercase). */
export function nextSequencer(): string {
  seq += 1
  return `0055AED6DCD9028${seq.toString(16).toUpperCase()}`
}

export async function createBucket(s3: S3Client, bucket: string): Promise<void> {
  await s3.send(new CreateBucketCommand({Bucket: bucket}))
}

/** Puts an object and returns the event S3 would send for it. */
export async function putObject(s3: S3Client, bucket: string, key: string, body: string): Promise<EventSpec> {
  const res = await s3.send(new PutObjectCommand({Bucket: bucket, Key: key, Body: body}))
  return {bucket, key, etag: (res.ETag ?? '').replaceAll('"', ''), size: Buffer.byteLength(body), sequencer: nextSequencer()}
}

export async function createQueue(sqs: SQSClient, name: string, attributes: Record<string, string> = {}): Promise<string> {
  const res = await sqs.send(new CreateQueueCommand({QueueName: name, Attributes: attributes}))
  return res.QueueUrl!
}

export async function send(sqs: SQSClient, queueUrl: string, ...bodies: string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    const chunk = bodies.slice(i, i + 10)
    if (chunk.length === 1) await sqs.send(new SendMessageCommand({QueueUrl: queueUrl, MessageBody: chunk[0]}))
    else await sqs.send(new SendMessageBatchCommand({QueueUrl: queueUrl, Entries: chunk.map((b, j) => ({Id: String(j), MessageBody: b}))}))
  }
}

export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<{visible: number; inFlight: number}> {
  const res = await sqs.send(
    new GetQueueAttributesCommand({QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible']}),
  )
  return {visible: Number(res.Attributes?.ApproximateNumberOfMessages), inFlight: Number(res.Attributes?.ApproximateNumberOfMessagesNotVisible)}
}

/** n JSON lines with event times. */
export function jsonl(n: number, tag: string): string {
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(JSON.stringify({time: new Date(Date.UTC(2024, 4, 1, 0, 0, i % 60)).toISOString(), msg: `${tag}-${i}`}))
  return `${out.join('\n')}\n`
}
