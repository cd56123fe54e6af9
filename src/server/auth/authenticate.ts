import { timingSafeEqual } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { JWTPayload } from 'jose';
import type { ClientRegistry } from '../../config/clients-schema.js';
import { AdapterError, issue, outcome } from '../../outcomes/index.js';
import { setCaller, staticTokenClientId, type Caller } from './caller.js';
import { looksLikeJwt, type JwtFailure, type JwtVerifier } from './jwt.js';
import { knownScopes, scopesOfClaims } from '../../contract/scopes.js';

/** How callers prove who they are: the static API_TOKEN, OAuth JWTs from the IdP, or both. */
export interface AuthConfig {
  /** Holds every scope and every source system (local and embedded use). */
  staticToken?: string;
  jwt?: JwtVerifier;
  /** Registered OAuth clients (mappings/clients.json). */
  clients: ClientRegistry;
}

/** Seconds a caller is told to wait when the IdP's keys cannot be fetched. */
const keysUnavailableRetryAfter = 10;

const failureText: Record<Exclude<JwtFailure, 'keys-unavailable'>, string> = {
  expired: 'The bearer token has expired: get a new one from the identity provider.',
  'wrong-issuer-or-audience':
    "The bearer token was not issued for this adapter (issuer or audience): request a token for this adapter's audience.",
  invalid: 'The bearer token is not valid for this adapter.',
};

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function unauthorized(res: Response, text: string, invalidToken: boolean): AdapterError {
  // RFC 6750 §3: a request without credentials gets a bare challenge; a bad token says so.
  res.set('WWW-Authenticate', invalidToken ? 'Bearer error="invalid_token"' : 'Bearer');
  return new AdapterError(401, outcome([issue('unauthorized', 'login', text)]));
}

/** The registered client a token speaks for: `client_id` (RFC 9068), else `azp`, else `sub`. */
export function clientIdOf(claims: JWTPayload): string | undefined {
  for (const claim of [claims.client_id, claims.azp, claims.sub]) {
    if (typeof claim === 'string' && claim) return claim;
  }
  return undefined;
}

function callerOfClaims(clients: ClientRegistry, claims: JWTPayload): Caller | AdapterError {
  const clientId = clientIdOf(claims);
  const registration = clients.clients.find((c) => c.clientId === clientId);
  if (!clientId || !registration) {
    return new AdapterError(
      403,
      outcome([
        issue('forbidden', 'forbidden', 'The token is valid but its client is not registered with this adapter (mappings/clients.json).'),
      ]),
    );
  }
  // A scope counts only when the IdP granted it and the registration allows it.
  const granted = new Set(scopesOfClaims(claims));
  return {
    clientId,
    scopes: new Set(registration.scopes.filter((s) => granted.has(s))),
    sourceSystems: new Set(registration.sourceSystems),
  };
}

/**
 * Authenticates every request it guards, or answers 401 (spec §7). Never open by default: with no
 * static token and no IdP configured, nothing gets through.
 */
export function authenticate(config: AuthConfig): RequestHandler {
  return async (req, res, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    const token = match?.[1];
    if (!token) {
      next(unauthorized(res, 'Send "Authorization: Bearer <token>": an OAuth access token for this adapter, or its API_TOKEN.', false));
      return;
    }
    if (config.staticToken && sameToken(token, config.staticToken)) {
      setCaller(res, { clientId: staticTokenClientId, scopes: new Set(knownScopes), sourceSystems: 'any' });
      next();
      return;
    }
    if (!config.jwt || !looksLikeJwt(token)) {
      next(unauthorized(res, failureText.invalid, true));
      return;
    }
    const result = await config.jwt(token);
    if (!result.ok) {
      next(
        result.reason === 'keys-unavailable'
          ? new AdapterError(
              503,
              outcome([
                issue(
                  'auth-unavailable',
                  'transient',
                  "The identity provider's signing keys cannot be fetched, so the token cannot be checked; send the request again later.",
                ),
              ]),
              keysUnavailableRetryAfter,
            )
          : unauthorized(res, failureText[result.reason], true),
      );
      return;
    }
    const caller = callerOfClaims(config.clients, result.claims);
    if (caller instanceof AdapterError) {
      res.set('WWW-Authenticate', 'Bearer error="insufficient_scope"');
      next(caller);
      return;
    }
    setCaller(res, caller);
    next();
  };
}
