import {S3Client} from '@aws-sdk/client-s3'
import {SQSClient} from '@aws-sdk/client-sqs'
import {NodeHttpHandler} from '@smithy/node-http-handler'
import {Readable} from 'node:stream'

/**
 * Real AWS SDK clients for cutover tests. SQS goes to fauxqs untouched. S3 requests go to fauxqs too, except
 * Get/PutBucketNotificationConfiguration, which fauxqs accepts without storing: a request handler records the
 * XML the SDK serialized and answers later GETs with it, so the SDK's own serializer and parser are exercised.
 * Every request (both clients) is recorded for "sent no mutating request" assertions.
 */

export interface Recorded {
  service: 's3' | 'sqs'
  method: string
  operation: string
  body: string
}

type Req = {method: string; path: string; query?: Record<string, unknown>; headers: Record<string, string>; body?: unknown}

async function bodyText(body: unknown): Promise<string> {
  if (body === undefined || body === null) return ''
  if (typeof body === 'string') return body
  if (body instanceof Uint8Array) return Buffer.from(body).toString('utf8')
  return ''
}

export function s3Double(endpoint: string, opts: {notifications?: Map<string, string>; failPut?: (bucket: string) => boolean} = {}) {
  const notifications = opts.notifications ?? new Map<string, string>()
  const requests: Recorded[] = []
  const inner = new NodeHttpHandler()
  const requestHandler = {
    metadata: {handlerProtocol: 'http/1.1'},
    async handle(request: Req, options?: unknown) {
      const isNotif = request.query && 'notification' in request.query
      const body = await bodyText(request.body)
      const bucket = request.path.split('/').filter(Boolean)[0] ?? ''
      requests.push({service: 's3', method: request.method, operation: isNotif ? `${request.method === 'PUT' ? 'Put' : 'Get'}BucketNotificationConfiguration` : `${request.method} ${request.path}`, body})
      if (!isNotif) return inner.handle(request as never, options as never)
      const reply = (statusCode: number, text: string) => ({
        response: {statusCode, reason: '', headers: {'content-type': 'application/xml', 'x-amz-request-id': 'double'}, body: Readable.from([Buffer.from(text)])},
      })
      if (request.method === 'PUT') {
        if (opts.failPut?.(bucket)) return reply(400, '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidArgument</Code><Message>Unable to validate the following destination configurations</Message></Error>')
        notifications.set(bucket, body)
        return reply(200, '')
      }
      const stored = notifications.get(bucket) ?? '<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></NotificationConfiguration>'
      return reply(200, `<?xml version="1.0" encoding="UTF-8"?>\n${stored}`)
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs() {
      return {}
    },
    destroy() {
      inner.destroy()
    },
  }
  const client = new S3Client({endpoint, region: 'us-east-1', forcePathStyle: true, credentials: {accessKeyId: 'test', secretAccessKey: 'test'}, requestHandler: requestHandler as never})
  return {client, requests, notifications}
}

export function sqsRecorded(endpoint: string) {
  const requests: Recorded[] = []
  const client = new SQSClient({endpoint, region: 'us-east-1', credentials: {accessKeyId: 'test', secretAccessKey: 'test'}})
  client.middlewareStack.add(
    (next, context) => async (args) => {
      requests.push({service: 'sqs', method: 'POST', operation: String(context.commandName).replace(/Command$/, ''), body: JSON.stringify(args.input)})
      return next(args)
    },
    {step: 'initialize', name: 'recordSqs'},
  )
  return {client, requests}
}

const READ_ONLY = /^(Get|List|Head|Describe)|^GET |^HEAD /
export function mutating(requests: Recorded[]): Recorded[] {
  return requests.filter((r) => !READ_ONLY.test(r.operation))
}
