import { randomBytes, timingSafeEqual } from 'node:crypto';
import { getSearchParameter, unauthorized } from '@medplum/core';
import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import express from 'express';
import { grantOf, type SmartGrant, type SmartPermission } from '../contract/smart-scopes.js';

/** Lifetime of an issued client_credentials token (the OAuth default clients expect). */
export const TOKEN_LIFETIME_SECONDS = 3600;
/** Upper bound on live issued tokens, so a client looping on /oauth2/token cannot exhaust memory. */
export const MAX_ISSUED_TOKENS = 10_000;
/** Random bytes per issued token (256 bits: unguessable). */
const TOKEN_BYTES = 32;

/** The client id the static tokens (API_TOKEN) are logged under. */
export const staticTokenClientId = 'api-token';
/**
 * What the static API_TOKEN and the adapter's own client may do: everything SMART can say. The audit
 * trail stays append-only even for them (authorizeFhirRequest).
 */
export const fullScopes = ['system/*.cruds'];

/** Checks a token this store did not issue (an OAuth JWT from the site's IdP): its grant, or undefined. */
export type ExternalTokenVerifier = (token: string) => Promise<SmartGrant | undefined>;

/** Static and issued bearer tokens, and the one OAuth client allowed to get the latter. */
export class TokenStore {
  private readonly issued = new Map<string, number>();
  private external?: ExternalTokenVerifier;

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

  /** Also accepts tokens `verify` vouches for, with the grant it gives (the IdP's JWTs with SMART system scopes). */
  acceptExternal(verify: ExternalTokenVerifier): this {
    this.external = verify;
    return this;
  }

  /** What a bearer token may do: full scopes for a static or issued token, an external token's own grant, else undefined. */
  async grantFor(token: string): Promise<SmartGrant | undefined> {
    if (this.staticTokens.some((t) => safeEqual(t, token))) return this.staticGrant;
    if (this.isValid(token)) return this.clientGrant;
    return this.external?.(token);
  }

  private readonly staticGrant = grantOf(staticTokenClientId, fullScopes);
  private get clientGrant(): SmartGrant {
    this.ownGrant ??= grantOf(this.clientId, fullScopes);
    return this.ownGrant;
  }
  private ownGrant?: SmartGrant;

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
export function answerTokenRequest(
  tokens: TokenStore,
  form: Record<string, unknown>,
  authorization: string | undefined | null,
): TokenAnswer {
  const headers = { 'Cache-Control': 'no-store' };
  if (form.grant_type !== 'client_credentials') {
    return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'Only client_credentials is supported' }, headers };
  }
  const basic = parseBasic(authorization ?? undefined);
  const clientId = basic?.id ?? (typeof form.client_id === 'string' ? form.client_id : '');
  const clientSecret = basic?.secret ?? (typeof form.client_secret === 'string' ? form.client_secret : '');
  if (!tokens.checkClient(clientId, clientSecret)) {
    return {
      status: 401,
      body: { error: 'invalid_client', error_description: 'Invalid client credentials' },
      headers: { ...headers, 'WWW-Authenticate': 'Basic realm="oauth2"' },
    };
  }
  return { status: 200, body: { access_token: tokens.issue(), token_type: 'Bearer', expires_in: TOKEN_LIFETIME_SECONDS }, headers };
}

/** POST /token (client_credentials) over HTTP. */
export function createOAuthRouter(tokens: TokenStore): express.Router {
  const router = express.Router();
  router.post('/token', express.urlencoded({ extended: false, limit: '16kb' }), express.json({ limit: '16kb' }), (req, res) => {
    const answer = answerTokenRequest(tokens, (req.body ?? {}) as Record<string, unknown>, req.get('authorization'));
    res.status(answer.status).set(answer.headers).json(answer.body);
  });
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

/** Where the grant of the request's token is kept (res.locals), for the authorization and the access log. */
export const grantLocal = 'fhirGrant';

/**
 * Express middleware: 401 OperationOutcome with WWW-Authenticate unless a valid bearer token is sent;
 * the token's grant and client id go to res.locals (`fhirGrant`, `clientId`) for the checks and the log.
 */
export function requireBearer(tokens: TokenStore): express.RequestHandler {
  return (req, res, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    const refuse = () => {
      res
        .status(401)
        .set('WWW-Authenticate', match ? 'Bearer error="invalid_token"' : 'Bearer')
        .type('application/fhir+json')
        .end(JSON.stringify(unauthorized));
    };
    if (!match?.[1]) {
      refuse();
      return;
    }
    tokens.grantFor(match[1]).then((grant) => {
      if (!grant) {
        refuse();
        return;
      }
      res.locals[grantLocal] = grant;
      res.locals.clientId = grant.clientId;
      next();
    }, next);
  };
}

/** Resource types whose instances are never changed or removed through the FHIR API, by anyone. */
export const appendOnlyTypes: ReadonlySet<string> = new Set(['AuditEvent', 'Provenance']);

/** Types whose operations ($expand, $lookup, $translate, $validate-code) read nothing but terminology. */
const terminologyTypes: ReadonlySet<string> = new Set(['ValueSet', 'CodeSystem', 'ConceptMap']);

const permissionNames: Record<SmartPermission, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

/** The interaction one request asks for: the resource type (`*` system-wide) and the SMART permissions it needs. */
interface Interaction {
  resourceType: string;
  needs: SmartPermission[];
  /** PUT, PATCH or DELETE of an instance or by condition. */
  changes: boolean;
}

/**
 * The interaction of `method path` (path relative to the FHIR base, query included), by the FHIR REST
 * API (https://hl7.org/fhir/R4/http.html): read/vread/history of an instance need `r`, a type or
 * system search `s`, create `c`, update and patch `u`, delete `d` (conditional forms also `s`); an
 * operation (`$name`) `r` on ValueSet, CodeSystem or ConceptMap for terminology, else `r` and `s` on
 * every type (`system/*.rs`), since it may read across types.
 */
function interactionOf(method: string, path: string): Interaction {
  const [where = '', query] = path.split('?', 2) as [string, string | undefined];
  const parts = where.split('/').filter(Boolean);
  const type = parts[0] && /^[A-Z][A-Za-z]+$/.test(parts[0]) ? parts[0] : '*';
  const conditional = query !== undefined;
  const change = (p: SmartPermission): Interaction => ({
    resourceType: type,
    needs: conditional && parts.length === 1 ? [p, 's'] : [p],
    changes: true,
  });
  if (parts.some((p) => p.startsWith('$'))) {
    // Terminology operations read only their own resources; any other ($evaluate-measure, $everything…)
    // may read across types, so it needs read and search on every type.
    return terminologyTypes.has(type)
      ? { resourceType: type, needs: ['r'], changes: false }
      : { resourceType: '*', needs: ['r', 's'], changes: false };
  }
  if (method === 'PUT' || method === 'PATCH') return change('u');
  if (method === 'DELETE') return change('d');
  if (method === 'POST') {
    if (parts[1] === '_search' || parts.length === 0) return { resourceType: type, needs: ['s'], changes: false };
    return { resourceType: type, needs: ['c'], changes: false };
  }
  // GET / HEAD. A compartment search (`Patient/{id}/{type}`, FHIR R4 §3.1.1.3) searches the compartment's type.
  if (parts.length === 3 && /^[A-Z][A-Za-z]+$/.test(parts[2] as string))
    return { resourceType: parts[2] as string, needs: ['s'], changes: false };
  if (parts.length <= 1 || (parts.length === 2 && parts[1] === '_history')) return { resourceType: type, needs: ['s'], changes: false };
  return { resourceType: type, needs: ['r'], changes: false };
}

function forbidden(text: string, expression?: string): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'forbidden', details: { text }, ...(expression ? { expression: [expression] } : {}) }],
  };
}

/** The target types of a search parameter (`*` when it may point anywhere or is unknown: then every type). */
function targetTypes(type: string, code: string): string[] {
  const target = type === '*' ? undefined : getSearchParameter(type, code)?.target;
  return target?.length ? target : ['*'];
}

/**
 * The other resource types a search reads besides its own (FHIR R4 search §3.1.1.5–6), each needing `s`:
 * what `_include` brings back (its `:target` type, else
 * every target of the parameter) and what `_revinclude` brings back (its source type); the type a chained
 * parameter (`subject:Patient.name`, `subject.name`) or a reverse chain (`_has:Type:param:…`) filters
 * on, since a match reveals facts about it. Without this, a token limited to Task could read
 * Communications through `Patient/{id}/Communication` or `_revinclude`.
 */
function typesReadAlongside(path: string): string[] {
  const [where = '', query = ''] = path.split('?', 2) as [string, string | undefined];
  const parts = where.split('/').filter(Boolean);
  const type = parts[0] && /^[A-Z][A-Za-z]+$/.test(parts[0]) ? parts[0] : '*';
  const read: string[] = [];
  for (const [key, value] of new URLSearchParams(query)) {
    const name = key.split(':', 1)[0] as string;
    if (name === '_include' || name === '_revinclude') {
      const [source = '*', param = '*', target] = value.split(':');
      if (name === '_revinclude') read.push(source);
      else read.push(...(target ? [target] : param === '*' ? ['*'] : targetTypes(source, param)));
    } else if (name === '_has') {
      read.push(key.split(':')[1] ?? '*');
    } else if (key.includes('.')) {
      const [head = ''] = key.split('.', 1);
      const [param = '', modifierType] = head.split(':');
      read.push(...(modifierType && /^[A-Z]/.test(modifierType) ? [modifierType] : targetTypes(type, param)));
    }
  }
  return [...new Set(read)];
}

/** The refusal of one interaction, or undefined when the grant allows it. */
function check(grant: SmartGrant, method: string, path: string, where?: string): OperationOutcome | undefined {
  const i = interactionOf(method, path);
  if (i.changes && appendOnlyTypes.has(i.resourceType)) {
    return forbidden(
      `${i.resourceType} is part of the audit trail, which is append-only: it cannot be changed or deleted through the FHIR API (${method}).`,
      where,
    );
  }
  const needed: { resourceType: string; permission: SmartPermission }[] = [
    ...i.needs.map((permission) => ({ resourceType: i.resourceType, permission })),
    ...typesReadAlongside(path).map((resourceType) => ({ resourceType, permission: 's' as const })),
  ];
  const missing = needed.find((n) => !grant.allows(n.resourceType, n.permission));
  if (!missing) return undefined;
  const { resourceType, permission } = missing;
  return forbidden(
    `Client "${grant.clientId}" may not ${permissionNames[permission]} ${resourceType === '*' ? 'across all resource types' : resourceType}: it needs the SMART scope system/${resourceType}.${permission}${resourceType === '*' ? '' : ` (or system/*.${permission})`}.`,
    where,
  );
}

/** A Bundle entry's request URL relative to the FHIR base (absolute URLs on this server are cut to their path below it). */
function entryPath(url: string, basePath: string): string {
  const path = url.replace(/^https?:\/\/[^/]+/, '');
  return path.startsWith(basePath) ? path.slice(basePath.length) : path.replace(/^\//, '');
}

/**
 * Whether `grant` may make this request of the embedded FHIR server: the SMART system scopes the
 * interaction needs, checked for the request and, for a transaction or batch, for every entry in it;
 * and whatever the scopes, no update, patch or delete of AuditEvent or Provenance (the audit trail is
 * append-only). Returns the 403 OperationOutcome, or undefined when allowed.
 */
export function authorizeFhirRequest(
  grant: SmartGrant,
  req: { method: string; path: string; body: unknown },
  basePath: string,
): OperationOutcome | undefined {
  const [where = ''] = req.path.split('?', 1);
  const bundle = req.body as Bundle | undefined;
  if (req.method === 'POST' && where.replace(/\/+$/, '') === '' && bundle?.resourceType === 'Bundle') {
    const entries = bundle.entry ?? [];
    for (const [n, entry] of entries.entries()) {
      const request = entry.request;
      if (!request?.method || typeof request.url !== 'string') continue;
      const path = entryPath(request.url, basePath);
      if (request.method === 'POST' && path.split('?')[0]?.replace(/\/+$/, '') === '') {
        return forbidden('A Bundle inside a transaction or batch is not accepted.', `Bundle.entry[${n}].request`);
      }
      const refused = check(grant, request.method, path, `Bundle.entry[${n}]`);
      if (refused) return refused;
    }
    return undefined;
  }
  return check(grant, req.method, req.path);
}
