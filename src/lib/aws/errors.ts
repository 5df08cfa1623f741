import {UserError} from '../errors.js'

/**
 * AWS SDK v3 service errors as they are raised: the error code as `name`, the HTTP status and attempts in
 * `$metadata`, and every element of the XML error body copied onto the error (for SignatureDoesNotMatch that
 * includes the echoed AWSAccessKeyId and StringToSign). Only `name`, `message` and these few fields are read
 * here; nothing else is ever copied into what seneka prints.
 */
interface AwsError {
  name?: string
  message?: string
  Region?: string
  Endpoint?: string
  $fault?: string
  $metadata?: {httpStatusCode?: number; attempts?: number}
}

const SIGNATURE = new Set(['SignatureDoesNotMatch', 'InvalidSignatureException', 'IncompleteSignature', 'IncompleteSignatureException'])
const UNKNOWN_KEY = new Set(['InvalidAccessKeyId', 'UnrecognizedClientException', 'InvalidClientTokenId', 'InvalidClientTokenIdException'])
const EXPIRED = new Set(['ExpiredToken', 'ExpiredTokenException', 'TokenRefreshRequired', 'RequestExpired'])
const BAD_TOKEN = new Set(['InvalidToken', 'InvalidTokenException'])
const WRONG_REGION = new Set(['PermanentRedirect', 'AuthorizationHeaderMalformed', 'IllegalLocationConstraintException'])
const THROTTLED = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestThrottled', 'RequestThrottledException'])

/** Whether err looks like an AWS SDK v3 error (service exceptions carry `$metadata` or `$fault`). */
export function isAwsError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && ('$metadata' in err || '$fault' in err)
}

/** The region an S3 error points to: its Region element, an endpoint such as bucket.s3.eu-west-1.amazonaws.com, or "expecting 'eu-west-1'". */
export function regionHint(err: unknown): string | undefined {
  const e = err as AwsError
  if (typeof e?.Region === 'string' && e.Region) return e.Region
  const fromEndpoint = /s3[.-]([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com/.exec(e?.Endpoint ?? '')
  if (fromEndpoint) return fromEndpoint[1]
  return /expecting '([a-z0-9-]+)'/.exec(e?.message ?? '')?.[1]
}

export interface AwsExplainOptions {
  /** what seneka was doing, e.g. "s3://bucket/prefix" */
  where?: string
  /** the region the client used, when known */
  region?: string
  /**
   * Also explain throttling (SlowDown ...). Only where no retry follows: a throttled call inside a retry loop must
   * stay retryable. The last net in BaseCommand sets this; call sites in the stores do not.
   */
  final?: boolean
}

/**
 * Turns the AWS errors an on-call engineer meets most (bad or expired credentials, the wrong region, throttling
 * that outlived every retry) into one sentence and what to do. Returns undefined for anything else.
 */
export function explainAwsError(err: unknown, opts: AwsExplainOptions = {}): UserError | undefined {
  if (!isAwsError(err)) return undefined
  const explained = explain(err, opts)
  if (explained) Object.defineProperty(explained, 'cause', {value: err, enumerable: false, writable: true, configurable: true})
  return explained
}

function explain(err: unknown, opts: AwsExplainOptions): UserError | undefined {
  const e = err as AwsError
  const name = e.name ?? ''
  const at = opts.where ? ` for ${opts.where}` : ''
  if (SIGNATURE.has(name)) {
    return new UserError(`AWS rejected the request signature${at} (${name}): the secret access key does not belong to the access key ID.`, {
      suggestion: 'Check AWS_SECRET_ACCESS_KEY (or the profile\'s aws_secret_access_key) against AWS_ACCESS_KEY_ID, and that AWS_PROFILE names the profile you mean.',
    })
  }
  if (UNKNOWN_KEY.has(name)) {
    return new UserError(`AWS does not know the access key ID in use${at} (${name}).`, {
      suggestion: 'Check AWS_ACCESS_KEY_ID or AWS_PROFILE; a deleted or rotated key must be replaced.',
    })
  }
  if (EXPIRED.has(name)) {
    return new UserError(`The AWS credentials have expired${at} (${name}).`, {
      suggestion: 'Refresh them (for example `aws sso login`, or a new AWS_SESSION_TOKEN) and run the command again; work already committed is not redone.',
    })
  }
  if (BAD_TOKEN.has(name)) {
    return new UserError(`AWS rejected the session token${at} (${name}).`, {
      suggestion: 'Check AWS_SESSION_TOKEN: it must come with the same temporary credentials as AWS_ACCESS_KEY_ID.',
    })
  }
  if (name === 'RequestTimeTooSkewed') {
    return new UserError(`AWS refused the request${at}: this machine's clock is off by more than 15 minutes (RequestTimeTooSkewed).`, {
      suggestion: 'Synchronise the clock (NTP) and run the command again.',
    })
  }
  if (WRONG_REGION.has(name) || e.$metadata?.httpStatusCode === 301) {
    const region = regionHint(err)
    const used = opts.region ? ` than the one seneka used (${opts.region})` : ''
    return new UserError(`The bucket${opts.where ? ` of ${opts.where}` : ''} is in another region${region ? ` (${region})` : ''}${used} (${name || 'HTTP 301'}).`, {
      suggestion: region ? `Run with --region ${region} (or AWS_REGION=${region}).` : 'Run with --region set to the bucket\'s region (aws s3api get-bucket-location --bucket NAME).',
    })
  }
  if (opts.final && THROTTLED.has(name)) {
    const attempts = e.$metadata?.attempts
    return new UserError(`AWS kept throttling the requests${at} (${name})${attempts ? ` after ${attempts} attempts` : ''}.`, {
      suggestion: 'Lower --concurrency, or run again later; work already committed is not redone.',
    })
  }
  return undefined
}
