import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignJWT } from 'jose';
import { fhirUnavailable } from '../outcomes/index.js';

/** Lifetime of a client assertion: SMART Backend Services allows at most five minutes. */
export const assertionLifetimeSeconds = 300;
/** A token is renewed this long before it expires, so that no request leaves with one about to lapse. */
export const refreshMarginSeconds = 60;
/** Assumed lifetime when the token endpoint gives no `expires_in` (SMART's recommended maximum). */
const defaultTokenLifetimeSeconds = 300;
/** Seconds a caller is told to wait when no token could be had. */
const tokenRetryAfterSeconds = 5;
/** Algorithms SMART Backend Services names (RS384, ES384), and their usual siblings. */
const signingAlgorithms = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512']);
const jwtBearer = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** The fetch MedplumClient is given. */
type FetchLike = (url: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Hands out a bearer token for the FHIR server, cached; `invalidate` after the server refused it. */
export interface AccessTokenProvider {
  token(): Promise<string>;
  invalidate(): void;
}

/** SMART Backend Services client configuration (env FHIR_TOKEN_URL, FHIR_CLIENT_ID, FHIR_PRIVATE_KEY…). */
export interface SmartBackendOptions {
  tokenUrl: string;
  clientId: string;
  /** PEM (PKCS#8, PKCS#1 or SEC1), a private JWK as JSON, or a path to a file holding either. */
  privateKey: string;
  keyId: string;
  alg: string;
  scope: string;
  timeoutMs: number;
  now?: () => number;
}

/** Reads the private key once; a key that cannot be read stops start-up rather than the first write. */
function loadPrivateKey(value: string): KeyObject {
  const text = value.startsWith('-----BEGIN') || value.startsWith('{') ? value : readFileSync(value, 'utf8');
  return text.trim().startsWith('{')
    ? createPrivateKey({ key: JSON.parse(text) as import('node:crypto').JsonWebKey, format: 'jwk' })
    : createPrivateKey(text);
}

/**
 * SMART Backend Services (client_credentials with a private_key_jwt assertion,
 * https://hl7.org/fhir/smart-app-launch/backend-services.html): iss = sub = client id, aud = the token
 * URL, exp within five minutes, a fresh jti each time. The token is cached until shortly before it
 * expires; concurrent callers share one request. Neither the token nor the assertion is ever logged.
 */
export class SmartBackendAuth implements AccessTokenProvider {
  private readonly key: KeyObject;
  private readonly now: () => number;
  private cached?: { token: string; renewAt: number };
  private pending?: Promise<string>;

  constructor(private readonly opts: SmartBackendOptions) {
    if (!signingAlgorithms.has(opts.alg)) throw new Error(`FHIR_KEY_ALG ${opts.alg} is not one of ${[...signingAlgorithms].join(', ')}`);
    this.key = loadPrivateKey(opts.privateKey);
    this.now = opts.now ?? Date.now;
  }

  /** A valid access token: the cached one, or a new one from the token endpoint. */
  token(): Promise<string> {
    if (this.cached && this.now() < this.cached.renewAt) return Promise.resolve(this.cached.token);
    this.pending ??= this.request().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Forgets the cached token (the FHIR server answered 401 to it). */
  invalidate(): void {
    this.cached = undefined;
  }

  /** A signed client assertion for one token request. */
  async clientAssertion(): Promise<string> {
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: this.opts.alg, kid: this.opts.keyId, typ: 'JWT' })
      .setIssuer(this.opts.clientId)
      .setSubject(this.opts.clientId)
      .setAudience(this.opts.tokenUrl)
      .setIssuedAt(iat)
      .setExpirationTime(iat + assertionLifetimeSeconds)
      .setJti(randomUUID())
      .sign(this.key);
  }

  private async request(): Promise<string> {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      scope: this.opts.scope,
      client_assertion_type: jwtBearer,
      client_assertion: await this.clientAssertion(),
    });
    const res = await globalThis.fetch(this.opts.tokenUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: form,
      signal: AbortSignal.timeout(this.opts.timeoutMs),
    }).catch(() => {
      throw fhirUnavailable('its token endpoint could not be reached', tokenRetryAfterSeconds);
    });
    const body = (await res.json().catch(() => ({}))) as { access_token?: unknown; expires_in?: unknown; error?: unknown };
    if (!res.ok || typeof body.access_token !== 'string') {
      // The OAuth error code (RFC 6749 §5.2) says what to fix; nothing else of the answer is repeated.
      const code = typeof body.error === 'string' && /^[a-z_]{1,40}$/.test(body.error) ? `: ${body.error}` : '';
      throw fhirUnavailable(`its token endpoint refused the adapter's client assertion (${res.status}${code})`, tokenRetryAfterSeconds);
    }
    const lifetime = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : defaultTokenLifetimeSeconds;
    // A short-lived token is renewed at half its life rather than never cached.
    const margin = Math.min(refreshMarginSeconds, lifetime / 2);
    this.cached = { token: body.access_token, renewAt: this.now() + (lifetime - margin) * 1000 };
    return body.access_token;
  }
}

/**
 * fetch for MedplumClient that sends the provider's token, and after a 401 gets a fresh one and sends
 * the request once more (a 401 means the server did not act on it, so resending is safe).
 */
export function withAccessToken(provider: AccessTokenProvider, inner: FetchLike): FetchLike {
  const send = async (url: string | URL | Request, init: RequestInit | undefined) => {
    const headers = new Headers(init?.headers);
    headers.set('Authorization', `Bearer ${await provider.token()}`);
    return inner(url, { ...init, headers });
  };
  return async (url, init) => {
    const res = await send(url, init);
    if (res.status !== 401) return res;
    await res.body?.cancel();
    provider.invalidate();
    return send(url, init);
  };
}
