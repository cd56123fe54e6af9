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

/** Where the token endpoint is: a URL, or a lookup (the server's SMART configuration) made when first needed. */
export type TokenEndpoint = string | (() => Promise<string>);

/** What every OAuth client_credentials provider needs. */
interface ClientCredentialsOptions {
  tokenUrl: TokenEndpoint;
  clientId: string;
  /** The scopes asked for; none: the server's default for the client. */
  scope?: string;
  timeoutMs: number;
  now?: () => number;
  /** The transport of token requests (the embedded server answers them in process); default fetch. */
  fetch?: FetchLike;
}

/** SMART Backend Services client configuration (env FHIR_TOKEN_URL, FHIR_CLIENT_ID, FHIR_PRIVATE_KEY…). */
export interface SmartBackendOptions extends ClientCredentialsOptions {
  /** PEM (PKCS#8, PKCS#1 or SEC1), a private JWK as JSON, or a path to a file holding either. */
  privateKey: string;
  keyId: string;
  alg: string;
  scope: string;
}

/** Reads the private key once; a key that cannot be read stops start-up rather than the first write. */
function loadPrivateKey(value: string): KeyObject {
  const text = value.startsWith('-----BEGIN') || value.startsWith('{') ? value : readFileSync(value, 'utf8');
  return text.trim().startsWith('{')
    ? createPrivateKey({ key: JSON.parse(text) as import('node:crypto').JsonWebKey, format: 'jwk' })
    : createPrivateKey(text);
}

/**
 * The OAuth 2.0 client_credentials grant (RFC 6749 §4.4) with a cached token: renewed shortly before it
 * expires, one request shared by concurrent callers, forgotten on `invalidate`. Subclasses say how the
 * client authenticates. Neither the token nor the client's credentials are ever logged.
 */
abstract class ClientCredentialsAuth implements AccessTokenProvider {
  protected readonly now: () => number;
  private cached?: { token: string; renewAt: number };
  private pending?: Promise<string>;
  private resolvedTokenUrl?: string;

  constructor(protected readonly base: ClientCredentialsOptions) {
    this.now = base.now ?? Date.now;
  }

  /** The client's authentication fields of the token request (RFC 6749 §2.3). */
  protected abstract credentials(tokenUrl: string): Promise<Record<string, string>>;

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

  /** The token endpoint, looked up once when it comes from the server's SMART configuration. */
  protected async tokenUrl(): Promise<string> {
    if (typeof this.base.tokenUrl === 'string') return this.base.tokenUrl;
    this.resolvedTokenUrl ??= await this.base.tokenUrl();
    return this.resolvedTokenUrl;
  }

  private async request(): Promise<string> {
    const tokenUrl = await this.tokenUrl();
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      ...(this.base.scope ? { scope: this.base.scope } : {}),
      ...(await this.credentials(tokenUrl)),
    });
    const res = await (this.base.fetch ?? globalThis.fetch)(tokenUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: form,
      signal: AbortSignal.timeout(this.base.timeoutMs),
    }).catch(() => {
      throw fhirUnavailable(`its token endpoint ${tokenUrl} could not be reached`, tokenRetryAfterSeconds);
    });
    const body = (await res.json().catch(() => ({}))) as { access_token?: unknown; expires_in?: unknown; error?: unknown };
    if (!res.ok || typeof body.access_token !== 'string') {
      // The OAuth error code (RFC 6749 §5.2) says what to fix; nothing else of the answer is repeated.
      const code = typeof body.error === 'string' && /^[a-z_]{1,40}$/.test(body.error) ? `: ${body.error}` : '';
      throw fhirUnavailable(`its token endpoint refused the adapter's client credentials (${res.status}${code})`, tokenRetryAfterSeconds);
    }
    const lifetime = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : defaultTokenLifetimeSeconds;
    // A short-lived token is renewed at half its life rather than never cached.
    const margin = Math.min(refreshMarginSeconds, lifetime / 2);
    this.cached = { token: body.access_token, renewAt: this.now() + (lifetime - margin) * 1000 };
    return body.access_token;
  }
}

/**
 * SMART Backend Services (client_credentials with a private_key_jwt assertion,
 * https://hl7.org/fhir/smart-app-launch/backend-services.html): iss = sub = client id, aud = the token
 * URL, exp within five minutes, a fresh jti each time.
 */
export class SmartBackendAuth extends ClientCredentialsAuth {
  private readonly key: KeyObject;

  constructor(private readonly opts: SmartBackendOptions) {
    super(opts);
    if (!signingAlgorithms.has(opts.alg)) throw new Error(`FHIR_KEY_ALG ${opts.alg} is not one of ${[...signingAlgorithms].join(', ')}`);
    this.key = loadPrivateKey(opts.privateKey);
  }

  /** A signed client assertion for one token request. */
  async clientAssertion(): Promise<string> {
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: this.opts.alg, kid: this.opts.keyId, typ: 'JWT' })
      .setIssuer(this.opts.clientId)
      .setSubject(this.opts.clientId)
      .setAudience(await this.tokenUrl())
      .setIssuedAt(iat)
      .setExpirationTime(iat + assertionLifetimeSeconds)
      .setJti(randomUUID())
      .sign(this.key);
  }

  protected async credentials(): Promise<Record<string, string>> {
    return { client_assertion_type: jwtBearer, client_assertion: await this.clientAssertion() };
  }
}

/**
 * A confidential client with a shared secret (RFC 6749 §2.3.1, `client_secret_post`), as Medplum's
 * ClientApplications and the embedded server's own client use: the secret goes in the form body.
 */
export class ClientSecretAuth extends ClientCredentialsAuth {
  constructor(private readonly opts: ClientCredentialsOptions & { clientSecret: string }) {
    super(opts);
  }

  protected async credentials(): Promise<Record<string, string>> {
    return { client_id: this.opts.clientId, client_secret: this.opts.clientSecret };
  }
}

/**
 * The token endpoint a FHIR server publishes in `[base]/.well-known/smart-configuration`
 * (https://hl7.org/fhir/smart-app-launch/conformance.html): `token_endpoint`, an absolute http(s) URL.
 * A server without one is a 503 telling the operator to set FHIR_TOKEN_URL; the next request asks again.
 */
export function discoverTokenEndpoint(fhirBase: string, timeoutMs: number, fetchImpl?: FetchLike): () => Promise<string> {
  const where = `${fhirBase.replace(/\/+$/, '')}/.well-known/smart-configuration`;
  return async () => {
    const res = await (fetchImpl ?? globalThis.fetch)(where, {
      headers: { Accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    }).catch(() => {
      throw fhirUnavailable(`its SMART configuration (${where}) could not be read to find the token endpoint`, tokenRetryAfterSeconds);
    });
    const body = (await res.json().catch(() => ({}))) as { token_endpoint?: unknown };
    const endpoint =
      typeof body.token_endpoint === 'string' && /^https?:\/\/\S+$/.test(body.token_endpoint) ? body.token_endpoint : undefined;
    if (!res.ok || !endpoint) {
      throw fhirUnavailable(
        `${where} answered ${res.status} without a token_endpoint: set FHIR_TOKEN_URL to the server's token endpoint`,
        tokenRetryAfterSeconds,
      );
    }
    return endpoint;
  };
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
