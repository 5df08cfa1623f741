import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {exportJWK, generateKeyPair, type JWTPayload, SignJWT} from 'jose'

/**
 * A stand-in for Google's token signing: an RSA key published as a JWKS on 127.0.0.1 (what
 * https://www.googleapis.com/oauth2/v3/certs serves), and ID tokens as Pub/Sub push and Eventarc send them.
 * `forge` signs with a key that is not published, under the published key id.
 */
export interface OidcDouble {
  jwksUrl: string
  /** JWKS fetches served */
  fetches: number
  token(claims?: Partial<JWTPayload> & {email?: string; email_verified?: boolean}, opts?: {forge?: boolean; alg?: 'RS256' | 'RS384'; kid?: string}): Promise<string>
  close(): Promise<void>
}

export const PUSH_SERVICE_ACCOUNT = 'push-invoker@seneka-test.iam.gserviceaccount.com'

export async function startOidcDouble(): Promise<OidcDouble> {
  const kid = 'seneka-test-key-1'
  const real = await generateKeyPair('RS256', {extractable: true})
  const other = await generateKeyPair('RS256', {extractable: true})
  const other384 = await generateKeyPair('RS384', {extractable: true})
  const jwk = {...(await exportJWK(real.publicKey)), kid, alg: 'RS256', use: 'sig'}
  const double: OidcDouble = {
    jwksUrl: '',
    fetches: 0,
    async token(claims = {}, opts = {}) {
      const now = Math.floor(Date.now() / 1000)
      const alg = opts.alg ?? 'RS256'
      const key = alg === 'RS384' ? other384.privateKey : opts.forge ? other.privateKey : real.privateKey
      const payload: JWTPayload = {
        iss: 'https://accounts.google.com',
        aud: 'https://seneka-push.example.run.app/push',
        azp: '112233445566778899000',
        sub: '112233445566778899000',
        email: PUSH_SERVICE_ACCOUNT,
        email_verified: true,
        iat: now,
        exp: now + 3600,
        ...claims,
      }
      return new SignJWT(payload).setProtectedHeader({alg, kid: opts.kid ?? kid, typ: 'JWT'}).sign(key)
    },
    close: async () => {},
  }
  const server = http.createServer((req, res) => {
    double.fetches++
    res.writeHead(200, {'content-type': 'application/json', 'cache-control': 'public, max-age=3600'})
    res.end(JSON.stringify({keys: [jwk]}))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  double.jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/v3/certs`
  double.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections()
      server.close(() => r())
    })
  return double
}

/** The JSON body Pub/Sub POSTs to a push endpoint for one GCS notification message. */
export function pushBody(
  m: {data: string; attributes: Record<string, string>},
  opts: {messageId: string; subscription?: string; deliveryAttempt?: number; publishTime?: Date},
): string {
  const publishTime = (opts.publishTime ?? new Date()).toISOString()
  return JSON.stringify({
    message: {
      attributes: m.attributes,
      data: Buffer.from(m.data).toString('base64'),
      messageId: opts.messageId,
      message_id: opts.messageId,
      publishTime,
      publish_time: publishTime,
    },
    subscription: opts.subscription ?? 'projects/seneka-test/subscriptions/gcs-push',
    ...(opts.deliveryAttempt === undefined ? {} : {deliveryAttempt: opts.deliveryAttempt}),
  })
}

/** An Eventarc Cloud Storage CloudEvent in binary mode: the ce-* headers and the StorageObjectData body. */
export function storageCloudEvent(o: {bucket: string; name: string; generation: string; size?: number; id: string; type?: string}): {headers: Record<string, string>; body: string} {
  const time = new Date().toISOString()
  return {
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'ce-id': o.id,
      'ce-specversion': '1.0',
      'ce-type': o.type ?? 'google.cloud.storage.object.v1.finalized',
      'ce-source': `//storage.googleapis.com/projects/_/buckets/${o.bucket}`,
      'ce-subject': `objects/${o.name}`,
      'ce-time': time,
      'ce-bucket': o.bucket,
    },
    body: JSON.stringify({
      kind: 'storage#object',
      id: `${o.bucket}/${o.name}/${o.generation}`,
      name: o.name,
      bucket: o.bucket,
      generation: o.generation,
      metageneration: '1',
      contentType: 'application/octet-stream',
      timeCreated: time,
      updated: time,
      size: String(o.size ?? 0),
    }),
  }
}

/** POSTs to the push server and returns the status and parsed body. */
export async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<{status: number; body: any; headers: Headers}> {
  const res = await fetch(url, {method: 'POST', body, headers: {'content-type': 'application/json', ...headers}})
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {}
  return {status: res.status, body: parsed, headers: res.headers}
}
