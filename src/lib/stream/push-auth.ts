import {createRemoteJWKSet, errors, jwtVerify, type JWTPayload} from 'jose'

/** Where Google publishes the keys that sign its ID tokens (the ones Pub/Sub push and Eventarc send). */
export const GOOGLE_JWKS_URL = 'https://www.googleapis.com/oauth2/v3/certs'
/** The issuers of Google ID tokens. */
export const GOOGLE_ISSUERS = ['https://accounts.google.com', 'accounts.google.com']

export interface PushAuthOptions {
  /** the `aud` the tokens must carry (the push endpoint URL unless the subscription sets another) */
  audience: string
  /** service accounts whose tokens are accepted (the `email` claim); empty: any, as long as the audience matches */
  serviceAccounts?: string[]
  /** where the signing keys are fetched from [default: Google's JWKS] */
  jwksUrl?: string
  /** accepted clock difference for exp / iat / nbf, in seconds [default: 30] */
  clockToleranceSeconds?: number
}

export type PushAuthResult =
  | {ok: true; email: string | null}
  /** 401: no or bad token; 403: a valid token of someone not allowed; 503: the keys could not be fetched (our problem, retried) */
  | {ok: false; status: 401 | 403 | 503; reason: string}

/**
 * Verifies the OIDC token of a push request (Authorization: Bearer JWT): RS256 signature by one of the
 * keys in the JWKS, issuer accounts.google.com, audience, exp / iat within a small clock skew, and the
 * email claim (verified) of an allowed service account. Keys are cached and refetched when a token names
 * an unknown key id (at most every 30 s).
 */
export class PushAuth {
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>
  private readonly allowed: Set<string>

  constructor(private readonly opts: PushAuthOptions) {
    this.jwks = createRemoteJWKSet(new URL(opts.jwksUrl ?? GOOGLE_JWKS_URL), {timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 3_600_000})
    this.allowed = new Set((opts.serviceAccounts ?? []).map((s) => s.toLowerCase()))
  }

  get audience(): string {
    return this.opts.audience
  }

  async check(authorization: string | undefined): Promise<PushAuthResult> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')
    if (!m) return {ok: false, status: 401, reason: authorization ? 'the Authorization header is not "Bearer <token>"' : 'no Authorization: Bearer token'}
    let payload: JWTPayload
    try {
      ;({payload} = await jwtVerify(m[1], this.jwks, {
        issuer: GOOGLE_ISSUERS,
        audience: this.opts.audience,
        algorithms: ['RS256'],
        clockTolerance: this.opts.clockToleranceSeconds ?? 30,
        requiredClaims: ['exp', 'iat'],
        // Google's ID tokens live an hour; an age bound also refuses an iat in the future (beyond the skew)
        maxTokenAge: 7200,
      }))
    } catch (err) {
      return explainJoseError(err)
    }
    const email = typeof payload.email === 'string' ? payload.email : null
    if (this.allowed.size > 0) {
      if (!email) return {ok: false, status: 403, reason: 'the token has no email claim (expected one of the allowed service accounts)'}
      if (payload.email_verified !== true && payload.email_verified !== 'true') return {ok: false, status: 403, reason: `the token's email ${email} is not verified`}
      if (!this.allowed.has(email.toLowerCase())) return {ok: false, status: 403, reason: `the token is of ${email}, not an allowed service account`}
    }
    return {ok: true, email}
  }
}

function explainJoseError(err: unknown): PushAuthResult {
  if (err instanceof errors.JWTExpired) return {ok: false, status: 401, reason: 'the token has expired'}
  if (err instanceof errors.JWTClaimValidationFailed) {
    const why: Record<string, string> = {
      aud: 'the token is for another audience',
      iss: 'the token was not issued by accounts.google.com',
      iat: 'the token was issued in the future',
      nbf: 'the token is not valid yet',
      exp: 'the token has no valid expiry',
    }
    return {ok: false, status: 401, reason: why[err.claim] ?? `the token's ${err.claim} claim is not valid`}
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return {ok: false, status: 401, reason: 'the token signature does not verify'}
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return {ok: false, status: 401, reason: 'the token is signed with a key Google does not publish'}
  if (err instanceof errors.JOSEAlgNotAllowed) return {ok: false, status: 401, reason: 'the token is not signed with RS256'}
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSENotSupported) return {ok: false, status: 401, reason: 'the token is not a valid JWT'}
  // the key set could not be fetched or read: not the caller's fault, let the push be retried
  const message = err instanceof Error ? err.message : String(err)
  return {ok: false, status: 503, reason: `the signing keys could not be fetched (${message})`}
}
