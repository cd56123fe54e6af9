import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';

/**
 * Asymmetric algorithms only: an HS* token would be checked with a key the IdP shares with every
 * client, and `none` is never a signature.
 */
export const acceptedAlgorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
/** How long a JWKS download may take before the token is answered as not verifiable (503). */
const jwksTimeoutMs = 5_000;
/** How long fetched keys are trusted before the JWKS is read again (key rotation). */
const jwksCacheMaxAgeMs = 10 * 60_000;

/** How the IdP's tokens are checked (env AUTH_*). */
export interface JwtOptions {
  issuer: string;
  audience: string;
  jwksUrl?: string;
  /** A JWKS as a file (tests, air-gapped sites). */
  jwksFile?: string;
  clockSkewSeconds: number;
}

/** Why a bearer JWT was refused; the text is for the caller and holds nothing of the token. */
export type JwtFailure = 'expired' | 'wrong-issuer-or-audience' | 'invalid' | 'keys-unavailable';

/** Outcome of checking a bearer JWT. */
export type JwtResult = { ok: true; claims: JWTPayload } | { ok: false; reason: JwtFailure };

/** Checks bearer JWTs: signature against the issuer's JWKS, issuer, audience, expiry with clock skew. */
export type JwtVerifier = (token: string) => Promise<JwtResult>;

/** Builds the verifier once at start-up (a JWKS file that cannot be read stops start-up). */
export function createJwtVerifier(opts: JwtOptions): JwtVerifier {
  const keys = opts.jwksFile
    ? createLocalJWKSet(JSON.parse(readFileSync(opts.jwksFile, 'utf8')) as JSONWebKeySet)
    : createRemoteJWKSet(new URL(required(opts.jwksUrl)), { timeoutDuration: jwksTimeoutMs, cacheMaxAge: jwksCacheMaxAgeMs });
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: opts.issuer,
        audience: opts.audience,
        clockTolerance: opts.clockSkewSeconds,
        algorithms: acceptedAlgorithms,
        requiredClaims: ['exp'],
      });
      return { ok: true, claims: payload };
    } catch (err) {
      return { ok: false, reason: failureOf(err) };
    }
  };
}

function failureOf(err: unknown): JwtFailure {
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWTClaimValidationFailed && (err.claim === 'iss' || err.claim === 'aud')) return 'wrong-issuer-or-audience';
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) return 'keys-unavailable';
  // jose reports a JWKS answer that is not 200 JSON with its generic error, and a JWKS fetch that
  // fails at the network level surfaces as fetch's TypeError: either way the IdP's keys are unknown.
  if ((err instanceof errors.JOSEError && err.code === 'ERR_JOSE_GENERIC') || err instanceof TypeError) return 'keys-unavailable';
  return 'invalid';
}

function required(url: string | undefined): string {
  if (!url) throw new Error('AUTH_JWKS_URL or AUTH_JWKS_FILE is required with AUTH_ISSUER');
  return url;
}

/** True for a string shaped like a compact JWS (three base64url parts): only those go to the verifier. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}
