import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {explainAwsError, regionHint} from '../../../src/lib/aws/errors.js'
import {describeError, UserError} from '../../../src/lib/errors.js'
import {explainKnownError} from '../../../src/lib/known-errors.js'
import {createS3Client, S3Store} from '../../../src/lib/store/s3.js'
import {runCli} from '../../helpers/cli.js'

/** The XML error bodies S3 sends, as an S3-compatible test double answers them. */
const ERRORS: Record<string, {status: number; body: string}> = {
  signature: {
    status: 403,
    body: '<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message><AWSAccessKeyId>AKIAEXAMPLEKEY123456</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\n20240501T000000Z\n20240501/us-east-1/s3/aws4_request</StringToSign><CanonicalRequest>GET /b</CanonicalRequest><RequestId>R1</RequestId></Error>',
  },
  expired: {status: 400, body: '<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message><Token-0>FwoGZXIvYXdzEXAMPLETOKEN</Token-0><RequestId>R2</RequestId></Error>'},
  redirect: {
    status: 301,
    body: '<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message><Endpoint>b.s3.eu-west-1.amazonaws.com</Endpoint><Bucket>b</Bucket><RequestId>R3</RequestId></Error>',
  },
  header: {
    status: 400,
    body: "<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'ap-southeast-2'</Message><Region>ap-southeast-2</Region><RequestId>R4</RequestId></Error>",
  },
}

let server: http.Server
let endpoint = ''

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const kind = /^\/(\w+)/.exec(req.url ?? '')?.[1] ?? ''
    const e = ERRORS[kind] ?? {status: 500, body: '<Error><Code>InternalError</Code><Message>?</Message></Error>'}
    res.writeHead(e.status, {'content-type': 'application/xml'})
    res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${e.body}`)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

/** Lists s3://<bucket>/x through the real SDK against the double (the bucket name picks the error). */
async function listError(bucket: string): Promise<unknown> {
  const store = new S3Store(bucket, createS3Client({s3Endpoint: endpoint, region: 'us-east-1'}))
  try {
    for await (const _ of store.list('x/')) {
      // nothing
    }
  } catch (err) {
    return err
  }
  throw new Error('expected the listing to fail')
}

const env = {AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEY123456', AWS_SECRET_ACCESS_KEY: 'wrong', AWS_REGION: 'us-east-1'}

describe('AWS errors through the real S3 client', () => {
  beforeAll(() => {
    Object.assign(process.env, env)
  })

  it('SignatureDoesNotMatch: one sentence, nothing of the echoed key or string to sign', async () => {
    const err = await listError('signature')
    expect(err).toBeInstanceOf(UserError)
    const d = describeError(err)
    expect(d.message).toBe('AWS rejected the request signature for s3://signature/x/ (SignatureDoesNotMatch): the secret access key does not belong to the access key ID.')
    expect(d.suggestion).toContain('AWS_SECRET_ACCESS_KEY')
    expect(JSON.stringify(d)).not.toMatch(/AKIA|AWS4-HMAC|CanonicalRequest/)
  })

  it('ExpiredToken: says to refresh the credentials', async () => {
    const d = describeError(await listError('expired'))
    expect(d.message).toBe('The AWS credentials have expired for s3://expired/x/ (ExpiredToken).')
    expect(d.suggestion).toMatch(/aws sso login/)
    expect(JSON.stringify(d)).not.toContain('FwoGZXIv')
  })

  it('PermanentRedirect and AuthorizationHeaderMalformed: names the bucket\'s region and the flag', async () => {
    const redirect = describeError(await listError('redirect'))
    expect(redirect.message).toMatch(/^The bucket of s3:\/\/redirect\/x\/ is in another region \(eu-west-1\)/)
    expect(redirect.suggestion).toBe('Run with --region eu-west-1 (or AWS_REGION=eu-west-1).')
    const header = describeError(await listError('header'))
    expect(header.message).toMatch(/is in another region \(ap-southeast-2\)/)
    expect(header.suggestion).toContain('--region ap-southeast-2')
  })

  it('under --json a spawned backfill prints only the four fields', async () => {
    const r = await runCli(['backfill', 's3://signature/AWSLogs/', '--format', 'alb', '--s3-endpoint', endpoint, '--dry-run', '--json'], {env})
    expect(r.code).toBe(1)
    const doc = JSON.parse(r.stdout)
    expect(doc).toEqual({status: 1, error: {name: 'UserError', message: expect.stringContaining('(SignatureDoesNotMatch)'), exitCode: 1, suggestion: expect.any(String)}, warnings: []})
    expect(r.stdout + r.stderr).not.toMatch(/AKIA|AWS4-HMAC|StringToSign|CanonicalRequest/)
  })
})

describe('explainAwsError', () => {
  const sdkError = (name: string, extra: object = {}) => Object.assign(new Error(`${name} message`), {name, $fault: 'client', $metadata: {httpStatusCode: 400, attempts: 5}, ...extra})

  it('leaves throttling to the retries, except as the last net', () => {
    const slow = sdkError('SlowDown', {$metadata: {httpStatusCode: 503, attempts: 5}})
    expect(explainAwsError(slow, {where: 's3://b/k'})).toBeUndefined()
    const last = explainKnownError(slow)
    expect(last?.message).toBe('AWS kept throttling the requests (SlowDown) after 5 attempts.')
    expect(last?.suggestion).toMatch(/--concurrency/)
  })

  it('is undefined for errors that are not AWS errors, or not one of these', () => {
    expect(explainAwsError(new Error('x'))).toBeUndefined()
    expect(explainAwsError(sdkError('NoSuchKey'))).toBeUndefined()
  })

  it('names InvalidAccessKeyId and a skewed clock', () => {
    expect(explainAwsError(sdkError('InvalidAccessKeyId'))?.message).toMatch(/does not know the access key ID/)
    expect(explainAwsError(sdkError('RequestTimeTooSkewed'))?.message).toMatch(/clock is off/)
  })

  it('finds the region in Region, Endpoint or the message', () => {
    expect(regionHint({Region: 'eu-central-1'})).toBe('eu-central-1')
    expect(regionHint({Endpoint: 'logs.s3.us-west-2.amazonaws.com'})).toBe('us-west-2')
    expect(regionHint({message: "the region 'us-east-1' is wrong; expecting 'sa-east-1'"})).toBe('sa-east-1')
    expect(regionHint({})).toBeUndefined()
  })
})

describe('retry ownership', () => {
  it('an AWS SDK error the SDK already retried is final for seneka; a first failure and a marked-exhausted error are told apart', async () => {
    const {isTransient, withRetry, retriesExhausted} = await import('../../../src/lib/retry.js')
    const first = Object.assign(new Error('slow'), {name: 'SlowDown', $metadata: {httpStatusCode: 503, attempts: 1}})
    const retried = Object.assign(new Error('slow'), {name: 'SlowDown', $retryable: {throttling: true}, $metadata: {httpStatusCode: 503, attempts: 5}})
    expect(isTransient(first)).toBe(true)
    expect(isTransient(retried)).toBe(false)
    // an inner layer that gives up marks the error: the outer layer does not try again
    let calls = 0
    const inner = () => withRetry(async () => {
      calls++
      throw Object.assign(new Error('reset'), {code: 'ECONNRESET'})
    }, {retries: 2, baseDelayMs: 1, isRetryable: isTransient})
    const err = await withRetry(inner, {retries: 3, baseDelayMs: 1, isRetryable: isTransient}).catch((e: unknown) => e)
    expect(calls).toBe(3)
    expect(retriesExhausted(err)).toBe(true)
  })
})
