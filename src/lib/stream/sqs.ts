import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs'
import {describeNetworkError, errorMessage, UserError} from '../errors.js'

export interface SqsOptions {
  /** custom SQS endpoint (emulators); default: AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, then AWS */
  endpoint?: string
  region?: string
}

/** The region in a standard queue URL (https://sqs.eu-west-1.amazonaws.com/123456789012/name). */
export function regionFromQueueUrl(url: string): string | undefined {
  return /^https?:\/\/sqs[.-]([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\//.exec(url)?.[1]
}

export function createSqsClient(queueUrl: string, opts: SqsOptions = {}): SQSClient {
  const endpoint = opts.endpoint ?? process.env.AWS_ENDPOINT_URL_SQS ?? process.env.AWS_ENDPOINT_URL
  return new SQSClient({
    ...(endpoint ? {endpoint} : {}),
    region: opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? regionFromQueueUrl(queueUrl) ?? (endpoint ? 'us-east-1' : undefined),
    maxAttempts: 3,
  })
}

/** Turns SDK errors into one clear sentence; returns the original error when there is nothing better to say. */
export function explainSqsError(err: unknown, queueUrl: string): unknown {
  const net = describeNetworkError(err, `the SQS endpoint for ${queueUrl}`)
  if (net) return net
  const e = err as {name?: string; Code?: string; message?: string}
  const name = e?.name ?? ''
  if (name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue' || /NonExistentQueue|does not exist/i.test(e?.message ?? '')) {
    return new UserError(`The queue ${queueUrl} does not exist.`, {suggestion: 'Check --queue (the queue URL, as shown by `aws sqs get-queue-url`).', cause: err})
  }
  if (name === 'CredentialsProviderError') {
    return new UserError('No AWS credentials were found.', {
      suggestion: 'Set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run on a machine with an instance role.',
      cause: err,
    })
  }
  if (name === 'AccessDenied' || name === 'AccessDeniedException') {
    return new UserError(`Access denied to the queue ${queueUrl}.`, {
      suggestion: 'The credentials need sqs:ReceiveMessage, sqs:DeleteMessage, sqs:ChangeMessageVisibility and sqs:GetQueueAttributes on it.',
      cause: err,
    })
  }
  if (/region is missing/i.test(e?.message ?? '')) {
    return new UserError('No AWS region is configured.', {suggestion: 'Set AWS_REGION (or use a profile with a region).', cause: err})
  }
  return err
}

export interface QueueAttributes {
  visibilityTimeoutSeconds: number | null
  messages: number | null
  inFlight: number | null
  hasRedrivePolicy: boolean
  /** the redrive policy's maxReceiveCount */
  maxReceiveCount: number | null
  /** the redrive policy's dead-letter queue ARN */
  deadLetterTargetArn: string | null
}

function redrive(v: string | undefined): {maxReceiveCount: number | null; deadLetterTargetArn: string | null} {
  try {
    const p = JSON.parse(v ?? '') as {maxReceiveCount?: unknown; deadLetterTargetArn?: unknown}
    return {maxReceiveCount: intAttr(String(p.maxReceiveCount ?? '')), deadLetterTargetArn: typeof p.deadLetterTargetArn === 'string' ? p.deadLetterTargetArn : null}
  } catch {
    return {maxReceiveCount: null, deadLetterTargetArn: null}
  }
}

function intAttr(v: string | undefined): number | null {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : null
}

/** The queue operations the worker uses. */
export class SqsQueue {
  constructor(
    readonly client: SQSClient,
    readonly url: string,
  ) {}

  async attributes(): Promise<QueueAttributes> {
    const res = await this.client
      .send(
        new GetQueueAttributesCommand({
          QueueUrl: this.url,
          AttributeNames: ['VisibilityTimeout', 'ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'RedrivePolicy'],
        }),
      )
      .catch((err) => {
        throw explainSqsError(err, this.url)
      })
    const a = res.Attributes ?? {}
    return {
      visibilityTimeoutSeconds: intAttr(a.VisibilityTimeout),
      messages: intAttr(a.ApproximateNumberOfMessages),
      inFlight: intAttr(a.ApproximateNumberOfMessagesNotVisible),
      hasRedrivePolicy: Boolean(a.RedrivePolicy),
      ...redrive(a.RedrivePolicy),
    }
  }

  async receive(max: number, waitSeconds: number, visibilityTimeoutSeconds: number, signal?: AbortSignal): Promise<Message[]> {
    const res = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.url,
        MaxNumberOfMessages: Math.min(10, Math.max(1, max)),
        WaitTimeSeconds: waitSeconds,
        VisibilityTimeout: visibilityTimeoutSeconds,
        MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateReceiveCount'],
      }),
      {abortSignal: signal},
    )
    return res.Messages ?? []
  }

  async extend(receiptHandle: string, seconds: number): Promise<void> {
    await this.client.send(new ChangeMessageVisibilityCommand({QueueUrl: this.url, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds}))
  }

  /** Deletes up to 10 messages; returns the ids that failed with why. */
  async deleteBatch(entries: Array<{id: string; receiptHandle: string}>): Promise<Array<{id: string; error: string}>> {
    try {
      const res = await this.client.send(
        new DeleteMessageBatchCommand({QueueUrl: this.url, Entries: entries.map((e) => ({Id: e.id, ReceiptHandle: e.receiptHandle}))}),
      )
      return (res.Failed ?? []).map((f) => ({id: f.Id ?? '?', error: f.Message ?? f.Code ?? 'failed'}))
    } catch (err) {
      return entries.map((e) => ({id: e.id, error: errorMessage(err)}))
    }
  }

  close(): void {
    this.client.destroy()
  }
}

/** Collects deletes for up to `delayMs` and sends them 10 at a time (DeleteMessageBatch). */
export class DeleteBatcher {
  private pending: Array<{receiptHandle: string; done: (error: string | null) => void}> = []
  private timer: NodeJS.Timeout | undefined
  private flushing: Promise<void> = Promise.resolve()

  constructor(
    private readonly queue: SqsQueue,
    private readonly delayMs = 20,
  ) {}

  /** Resolves with null once deleted, or with the error (the message will then be redelivered). */
  delete(receiptHandle: string): Promise<string | null> {
    return new Promise((resolve) => {
      this.pending.push({receiptHandle, done: resolve})
      if (this.pending.length >= 10) this.flush()
      else this.timer ??= setTimeout(() => this.flush(), this.delayMs)
    })
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, 10).map((p, i) => ({...p, id: String(i)}))
      this.flushing = this.flushing.then(async () => {
        const failed = new Map((await this.queue.deleteBatch(batch)).map((f) => [f.id, f.error]))
        for (const p of batch) p.done(failed.get(p.id) ?? null)
      })
    }
  }

  async close(): Promise<void> {
    this.flush()
    await this.flushing
  }
}
