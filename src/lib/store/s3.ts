import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3'
import type {Readable} from 'node:stream'
import {explainAwsError} from '../aws/errors.js'
import {describeNetworkError, ObjectChangedError, UserError} from '../errors.js'
import {emptyStats, type ObjectInfo, type ObjectStore, type RequestStats, type StoreOptions} from './types.js'

/** Builds an S3 client from the standard AWS chain; a custom endpoint switches to path-style addressing. */
export function createS3Client(opts: StoreOptions = {}): S3Client {
  const endpoint = opts.s3Endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL
  return new S3Client({
    ...(endpoint ? {endpoint, forcePathStyle: true} : {}),
    // a custom endpoint rarely cares about the region; real S3 gets it from the standard chain
    region: opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? (endpoint ? 'us-east-1' : undefined),
    maxAttempts: 5,
    retryMode: 'adaptive',
  })
}

/** Turns SDK errors into one clear sentence; returns the original error when there is nothing better to say. */
export function explainS3Error(err: unknown, bucket: string, key?: string): unknown {
  const where = key === undefined ? `s3://${bucket}` : `s3://${bucket}/${key}`
  const net = describeNetworkError(err, `the S3 endpoint for ${where}`)
  if (net) return net
  const e = err as {name?: string; message?: string; $metadata?: {httpStatusCode?: number}}
  switch (e?.name) {
    case 'CredentialsProviderError':
      return new UserError('No AWS credentials were found.', {
        suggestion: 'Set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run on a machine with an instance role.',
        cause: err,
      })
    case 'NoSuchBucket':
      return new UserError(`The bucket ${bucket} does not exist (or is in another account).`, {suggestion: 'Check the bucket name in the source URI.', cause: err})
    case 'AccessDenied':
    case 'Forbidden':
      return new UserError(`Access denied to ${where}.`, {
        suggestion: `The credentials need s3:ListBucket on ${bucket} and s3:GetObject on its objects.`,
        cause: err,
      })
    default:
  }
  const aws = explainAwsError(err, {where})
  if (aws) return aws
  if (typeof e?.message === 'string' && /region is missing/i.test(e.message)) {
    return new UserError('No AWS region is configured.', {suggestion: 'Set AWS_REGION (or use a profile with a region).', cause: err})
  }
  return err
}

export class S3Store implements ObjectStore {
  readonly scheme = 's3' as const
  readonly stats: RequestStats = emptyStats()

  constructor(
    readonly bucket: string,
    private readonly client: S3Client,
  ) {}

  uri(key: string): string {
    return `s3://${this.bucket}/${key}`
  }

  private info(key: string, size: number | undefined, etag: string | undefined, lastModified: Date | undefined): ObjectInfo {
    return {uri: this.uri(key), key, size: size ?? 0, etag: (etag ?? '').replaceAll('"', ''), lastModified: lastModified ?? new Date(0)}
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    this.stats.listedPrefixes.push(prefix)
    let token: string | undefined
    do {
      this.stats.list++
      const res = await this.client
        .send(new ListObjectsV2Command({Bucket: this.bucket, Prefix: prefix, ContinuationToken: token}))
        .catch((err) => {
          throw explainS3Error(err, this.bucket, prefix)
        })
      for (const o of res.Contents ?? []) {
        if (o.Key && !o.Key.endsWith('/')) yield this.info(o.Key, o.Size, o.ETag, o.LastModified)
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined
    } while (token)
  }

  async listPrefixes(prefix: string): Promise<string[]> {
    this.stats.listedPrefixes.push(prefix)
    const out: string[] = []
    let token: string | undefined
    do {
      this.stats.list++
      const res = await this.client
        .send(new ListObjectsV2Command({Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token}))
        .catch((err) => {
          throw explainS3Error(err, this.bucket, prefix)
        })
      for (const p of res.CommonPrefixes ?? []) if (p.Prefix) out.push(p.Prefix)
      token = res.IsTruncated ? res.NextContinuationToken : undefined
    } while (token)
    return out.sort()
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    this.stats.head++
    try {
      const res = await this.client.send(new HeadObjectCommand({Bucket: this.bucket, Key: key}))
      return this.info(key, res.ContentLength, res.ETag, res.LastModified)
    } catch (err) {
      if (err instanceof S3ServiceException && (err.name === 'NotFound' || err.$metadata?.httpStatusCode === 404)) return undefined
      throw explainS3Error(err, this.bucket, key)
    }
  }

  async read(key: string, opts: {version?: string} = {}): Promise<Readable> {
    this.stats.get++
    const ifMatch = opts.version ? `"${opts.version}"` : undefined
    const res = await this.client.send(new GetObjectCommand({Bucket: this.bucket, Key: key, IfMatch: ifMatch})).catch((err) => {
      if (opts.version && (err as {$metadata?: {httpStatusCode?: number}}).$metadata?.httpStatusCode === 412) throw new ObjectChangedError(this.uri(key), opts.version)
      throw explainS3Error(err, this.bucket, key)
    })
    return res.Body as Readable
  }

  async write(key: string, body: Buffer | string): Promise<ObjectInfo> {
    this.stats.put++
    const res = await this.client.send(new PutObjectCommand({Bucket: this.bucket, Key: key, Body: body})).catch((err) => {
      throw explainS3Error(err, this.bucket, key)
    })
    return this.info(key, Buffer.byteLength(body), res.ETag, new Date())
  }

  async close(): Promise<void> {
    this.client.destroy()
  }
}
