import { randomBytes, timingSafeEqual } from 'node:crypto';
import { unauthorized } from '@medplum/core';
import express from 'express';

/** Lifetime of an issued client_credentials token (the OAuth default clients expect). */
export const TOKEN_LIFETIME_SECONDS = 3600;
/** Upper bound on live issued tokens, so a client looping on /oauth2/token cannot exhaust memory. */
export const MAX_ISSUED_TOKENS = 10_000;
/** Random bytes per issued token (256 bits: unguessable). */
const TOKEN_BYTES = 32;

/** Static and issued bearer tokens, and the one OAuth client allowed to get the latter. */
export class TokenStore {
  private readonly issued = new Map<string, number>();

  constructor(
    private readonly staticTokens: readonly string[],
    private readonly clientId: string,
    private readonly clientSecret: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** True for a static token or an issued one that has not expired. */
  isValid(token: string): boolean {
    if (this.staticTokens.some((t) => safeEqual(t, token))) {
      return true;
    }
    const expires = this.issued.get(token);
    if (expires === undefined) {
      return false;
    }
    if (expires <= this.now()) {
      this.issued.delete(token);
      return false;
    }
    return true;
  }

  /** True when the client id and secret are the configured ones. */
  checkClient(clientId: string, clientSecret: string): boolean {
    // Evaluate both so timing does not reveal which one was wrong.
    const idOk = safeEqual(clientId, this.clientId);
    const secretOk = safeEqual(clientSecret, this.clientSecret);
    return idOk && secretOk && this.clientSecret.length > 0;
  }

  /** Issues a new random token valid for TOKEN_LIFETIME_SECONDS. */
  issue(): string {
    const now = this.now();
    for (const [token, expires] of this.issued) {
      if (expires <= now) this.issued.delete(token);
    }
    if (this.issued.size >= MAX_ISSUED_TOKENS) {
      // Map order is issue order: drop the oldest.
      const oldest = this.issued.keys().next().value;
      if (oldest !== undefined) this.issued.delete(oldest);
    }
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    this.issued.set(token, now + TOKEN_LIFETIME_SECONDS * 1000);
    return token;
  }
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** The answer of the token endpoint: status, RFC 6749 JSON body and headers. */
export interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
}

/**
 * The client_credentials grant, for both the HTTP endpoint and the in-process transport. Credentials
 * come from HTTP Basic (MedplumClient with credentialsInHeader) or the form (its default). Errors use
 * RFC 6749 JSON, which OAuth clients parse.
 */
export function answerTokenRequest(tokens: TokenStore, form: Record<string, unknown>, authorization: string | undefined | null): TokenAnswer {
  const headers = { 'Cache-Control': 'no-store' };
  if (form.grant_type !== 'client_credentials') {
    return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'Only client_credentials is supported' }, headers };
  }
  const basic = parseBasic(authorization ?? undefined);
  const clientId = basic?.id ?? (typeof form.client_id === 'string' ? form.client_id : '');
  const clientSecret = basic?.secret ?? (typeof form.client_secret === 'string' ? form.client_secret : '');
  if (!tokens.checkClient(clientId, clientSecret)) {
    return { status: 401, body: { error: 'invalid_client', error_description: 'Invalid client credentials' }, headers: { ...headers, 'WWW-Authenticate': 'Basic realm="oauth2"' } };
  }
  return { status: 200, body: { access_token: tokens.issue(), token_type: 'Bearer', expires_in: TOKEN_LIFETIME_SECONDS }, headers };
}

/** POST /token (client_credentials) over HTTP. */
export function createOAuthRouter(tokens: TokenStore): express.Router {
  const router = express.Router();
  router.post(
    '/token',
    express.urlencoded({ extended: false, limit: '16kb' }),
    express.json({ limit: '16kb' }),
    (req, res) => {
      const answer = answerTokenRequest(tokens, (req.body ?? {}) as Record<string, unknown>, req.get('authorization'));
      res.status(answer.status).set(answer.headers).json(answer.body);
    },
  );
  return router;
}

function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match?.[1]) {
    return undefined;
  }
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) {
    return undefined;
  }
  // Not URL-decoded: MedplumClient base64-encodes the raw `id:secret`.
  return { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

/** Express middleware: 401 OperationOutcome with WWW-Authenticate unless a valid bearer token is sent. */
export function requireBearer(tokens: TokenStore): express.RequestHandler {
  return (req, res, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    if (match?.[1] && tokens.isValid(match[1])) {
      next();
      return;
    }
    res
      .status(401)
      .set('WWW-Authenticate', match ? 'Bearer error="invalid_token"' : 'Bearer')
      .type('application/fhir+json')
      .end(JSON.stringify(unauthorized));
  };
}
