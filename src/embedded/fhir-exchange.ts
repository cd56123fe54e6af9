import { badRequest, getStatus, normalizeOperationOutcome, OperationOutcomeError, serverError } from '@medplum/core';
import type { FhirRequest, FhirRouter, HttpMethod } from '@medplum/fhir-router';
import type { BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { storeRetryAfter } from './database.js';
import type { EmbeddedRepository } from './repository.js';
import { compartmentSearchPath } from './compartment.js';
import { withSearchLinks } from './search-links.js';
import { holdsConditionalReferences, resolveConditionalReferences } from './conditional-references.js';
import { conditionalCriteria, searchOf, type ParamProblem } from './search-params.js';

/** Media type of every answer of the embedded server. */
export const FHIR_JSON = 'application/fhir+json';
const METHODS: readonly string[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** One request to the embedded server, however it arrived (HTTP or in process). */
export interface FhirExchangeRequest {
  method: string;
  /** Path relative to the FHIR base, e.g. `Task?owner=…`. */
  path: string;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
}

/** The answer: status, FHIR body and the headers a FHIR server sends with it. */
export interface FhirExchangeAnswer {
  status: number;
  body: Resource;
  headers: Record<string, string>;
}

/** The 413 answer, the same for both ways in. */
export const tooLarge: Resource = {
  ...badRequest('Request body too large'),
  issue: [{ severity: 'error', code: 'too-long', details: { text: 'Request body too large' } }],
};

/**
 * What makes a posted Bundle unreadable before Medplum's router sees it: an entry (or an entry's request)
 * that is not a JSON object. The router assumes objects and failed with a 500 on `"entry": [null]`
 * (outside tester), as did the access check before it (http.ts calls this first); bad input is a 400.
 */
export function bundleShapeProblem(body: unknown): string | undefined {
  const bundle = body as { resourceType?: unknown; entry?: unknown } | undefined;
  if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle' || bundle.entry === undefined) return undefined;
  if (!Array.isArray(bundle.entry)) return 'Bundle.entry must be an array';
  const isObject = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  for (const [i, entry] of bundle.entry.entries()) {
    if (!isObject(entry)) return `Bundle.entry[${i}] must be an object`;
    const request = (entry as { request?: unknown }).request;
    if (request !== undefined && !isObject(request)) return `Bundle.entry[${i}].request must be an object`;
    const { method, url } = (request ?? {}) as { method?: unknown; url?: unknown };
    if (request !== undefined && (typeof method !== 'string' || typeof url !== 'string')) {
      return `Bundle.entry[${i}].request needs a method and a url, both strings`;
    }
    const resource = (entry as { resource?: unknown }).resource;
    if (resource !== undefined && !isObject(resource)) return `Bundle.entry[${i}].resource must be an object`;
    if ((method === 'POST' || method === 'PUT') && resource === undefined) return `Bundle.entry[${i}] (${method}) needs a resource`;
  }
  return undefined;
}

/** A create or update whose body is not a resource (a JSON object): Medplum read `.resourceType` of nothing. */
function bodyProblem(req: FhirExchangeRequest): string | undefined {
  const write = (req.method === 'POST' || req.method === 'PUT') && !/(^|\/)(_search|\$[^/?]+)(\?|$)/.test(req.path) && req.path !== '';
  const body = req.body;
  if (write && (!body || typeof body !== 'object' || Array.isArray(body))) return 'The body must be a FHIR resource (a JSON object).';
  return undefined;
}

/**
 * A search sent as `POST [type]/_search` (FHIR http.html#search), as the GET search it stands for: its
 * parameters from the query string and the form body together. Medplum's router read neither from a form
 * body here, and answered every resource of the type (outside tester).
 */
function searchByPost(req: FhirExchangeRequest): FhirExchangeRequest {
  const m = req.method === 'POST' ? /^([A-Z][A-Za-z]+)\/_search(?:\?(.*))?$/.exec(req.path) : null;
  if (!m) return req;
  const params = new URLSearchParams(m[2] ?? '');
  const body = req.body;
  if (typeof body === 'string') for (const [k, v] of new URLSearchParams(body)) params.append(k, v);
  else if (body && typeof body === 'object' && !Array.isArray(body) && !('resourceType' in body)) {
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
      for (const one of Array.isArray(v) ? v : [v]) if (typeof one === 'string') params.append(k, one);
    }
  }
  const query = params.toString();
  return { ...req, method: 'GET', path: query ? `${m[1]}?${query}` : (m[1] as string), body: undefined };
}

/** A path whose percent-encoding does not decode (RFC 3986): Medplum would read it as something else. */
function undecodablePath(path: string): boolean {
  try {
    decodeURIComponent(path.split('?')[0] ?? '');
    return false;
  } catch {
    return true;
  }
}

/**
 * True for a transaction or batch whose conditional entries must be resolved under the store's write lock: Medplum's
 * router resolves each conditional entry's identity (its match, or the id of the resource it will create)
 * and rewrites the references to it before the transaction starts (batch.ts preprocess). Resolved outside
 * the lock, another transaction could create or change the match in between: siblings then pointed at a
 * Patient never written, or a conditional update overwrote a change made meanwhile (outside tester;
 * medplum/medplum#10177). A batch likewise (two batches conditionally updating a new Patient: one was refused
 * 400), each entry still all or nothing on its own (repository.ts nestedTransaction). A transaction of one
 * conditional create is left to repository.ts withTransaction, which decides its search again under the lock:
 * no sibling can refer to it.
 */
function resolvesUnderLock(body: unknown): boolean {
  const bundle = body as {
    resourceType?: string;
    type?: string;
    entry?: { request?: { method?: string; url?: unknown; ifNoneExist?: unknown } }[];
  };
  if (bundle?.resourceType !== 'Bundle' || (bundle.type !== 'transaction' && bundle.type !== 'batch') || !Array.isArray(bundle.entry)) {
    return false;
  }
  const conditional = bundle.entry.filter((e) => {
    const request = e?.request;
    if (!request) return false;
    if (request.ifNoneExist) return true;
    return request.method !== 'GET' && request.method !== 'POST' && typeof request.url === 'string' && request.url.includes('?');
  });
  if (!conditional.length) return false;
  return bundle.type === 'batch' || !(bundle.entry.length === 1 && conditional[0]?.request?.method === 'POST');
}

/** A batch entry the embedded server answers itself (pagedEntries): its index in the Bundle, and why. */
interface RejectedEntry {
  index: number;
  outcome: OperationOutcome;
}

/**
 * The batch or transaction entries' GET searches and conditional criteria, checked and rewritten as top-level
 * ones are (searchOf, conditionalCriteria). A problem refuses a transaction whole (thrown); in a batch it is
 * that entry's answer alone (R4 http.html#brules: each entry on its own), the others are sent on — a batch
 * has no references between its entries — and `kept` maps the answers back to the Bundle's entries.
 */
function pagedEntries(body: unknown): { body: unknown; rejected?: RejectedEntry[]; kept?: number[]; size?: number } {
  const bundle = body as { resourceType?: string; type?: string; entry?: { request?: { method?: string; url?: unknown } }[] };
  if (bundle?.resourceType !== 'Bundle' || (bundle.type !== 'batch' && bundle.type !== 'transaction') || !bundle.entry) return { body };
  let changed = false;
  const rejected: RejectedEntry[] = [];
  const refuse = (i: number, where: string, problem: ParamProblem) => {
    if (bundle.type === 'transaction')
      throw Object.assign(new Error(`Bundle.entry[${i}].${where}: ${problem.problem}`), { param: problem.param });
    rejected.push({ index: i, outcome: badRequest(problem.problem, `Bundle.entry[${i}].${where}`) });
    return undefined;
  };
  const entry = bundle.entry.map((e, i) => {
    const request = e.request as { method?: string; url?: unknown; ifNoneExist?: unknown } | undefined;
    const criteria = conditionalCriteria(request?.method, request?.url, request?.ifNoneExist);
    if ('problem' in criteria) return refuse(i, 'request', criteria);
    if (request && (criteria.url !== request.url || criteria.ifNoneExist !== request.ifNoneExist)) {
      changed = true;
      return {
        ...e,
        request: { ...request, url: criteria.url, ...(criteria.ifNoneExist === undefined ? {} : { ifNoneExist: criteria.ifNoneExist }) },
      };
    }
    if (e.request?.method !== 'GET' || typeof e.request.url !== 'string') return e;
    const url = e.request.url.replace(/^\//, '');
    const paged = searchOf(compartmentSearchPath(url) ?? url);
    if ('problem' in paged) return refuse(i, 'request.url', paged);
    if (paged.path === e.request.url) return e;
    changed = true;
    return { ...e, request: { ...e.request, url: paged.path } };
  });
  if (!rejected.length) return { body: changed ? { ...bundle, entry } : body };
  const kept = entry.flatMap((e, i) => (e ? [i] : []));
  return { body: { ...bundle, entry: entry.filter((e) => e !== undefined) }, rejected, kept, size: entry.length };
}

/** A batch's answer with the entries the embedded server refused itself put back in their places. */
function withRejectedEntries(response: Resource, rejected: RejectedEntry[], kept: number[], size: number): Resource {
  const answered = response.resourceType === 'Bundle' ? (response.entry ?? []) : [];
  const entry: BundleEntry[] = new Array(size);
  kept.forEach((index, i) => (entry[index] = answered[i] ?? {}));
  for (const r of rejected) entry[r.index] = { response: { status: '400', outcome: r.outcome } };
  return { resourceType: 'Bundle', type: 'batch-response', entry };
}

/**
 * Runs one request through Medplum's router and shapes its answer: one place, so that the HTTP router
 * (http.ts) and the adapter's in-process transport (in-process-fetch.ts) cannot drift apart.
 */
export async function answerFhirRequest(
  router: FhirRouter,
  repo: EmbeddedRepository,
  req: FhirExchangeRequest,
  fhirBase: string,
): Promise<FhirExchangeAnswer> {
  if (!METHODS.includes(req.method)) return { status: 405, body: badRequest('Method not allowed'), headers: {} };
  if (undecodablePath(req.path)) {
    return { status: 400, body: badRequest('The request path is not valid percent-encoding (RFC 3986).'), headers: {} };
  }
  const shape = bundleShapeProblem(req.body) ?? bodyProblem(req);
  if (shape) return { status: 400, body: badRequest(shape), headers: {} };
  const conditional = holdsConditionalReferences(req.body);
  req = searchByPost(req);
  const paged = req.method === 'GET' ? searchOf(req.path) : { path: req.path };
  if ('problem' in paged) return { status: 400, body: badRequest(paged.problem, paged.param), headers: {} };
  const ifNoneExistHeader = req.headers['if-none-exist'];
  const criteria = conditionalCriteria(req.method, paged.path, Array.isArray(ifNoneExistHeader) ? ifNoneExistHeader[0] : ifNoneExistHeader);
  if ('problem' in criteria) return { status: 400, body: badRequest(criteria.problem, criteria.param), headers: {} };
  if (criteria.url !== paged.path) paged.path = criteria.url as string;
  if (typeof criteria.ifNoneExist === 'string' && criteria.ifNoneExist !== ifNoneExistHeader) {
    req = { ...req, headers: { ...req.headers, 'if-none-exist': criteria.ifNoneExist } };
  }
  let entries: ReturnType<typeof pagedEntries>;
  try {
    entries = pagedEntries(req.body);
  } catch (err) {
    return { status: 400, body: badRequest((err as Error).message, (err as { param?: string }).param), headers: {} };
  }
  const { body, rejected, kept, size } = entries;
  if (rejected && kept && size !== undefined && !kept.length) {
    return {
      status: 200,
      body: withRejectedEntries({ resourceType: 'Bundle', type: 'batch-response' }, rejected, kept, size),
      headers: {},
    };
  }
  const headers = { ...req.headers };
  const ifMatch = headers['if-match'];
  if (typeof ifMatch === 'string' && !ifMatch.includes('"')) {
    // Medplum only reads a quoted version; accept a bare one too rather than silently ignoring it.
    headers['if-match'] = `W/"${ifMatch}"`;
  }
  const fhirReq: FhirRequest = {
    method: req.method as HttpMethod,
    url: (req.method === 'GET' && compartmentSearchPath(paged.path)) || paged.path,
    pathname: '',
    body,
    params: {},
    query: {},
    headers,
    config: { transactions: true },
  };
  let outcome: OperationOutcome;
  let resource: Resource | undefined;
  try {
    [outcome, resource] = conditional
      ? await repo.exclusive(async () => router.handleRequest({ ...fhirReq, body: await resolveConditionalReferences(repo, body) }, repo))
      : resolvesUnderLock(body)
        ? await repo.exclusive(() => router.handleRequest(fhirReq, repo))
        : await router.handleRequest(fhirReq, repo);
  } catch (err) {
    // Medplum's own outcomes pass on; anything else thrown while it read the request (a TypeError on an
    // entry it did not expect) is said without the JavaScript text.
    outcome =
      err instanceof OperationOutcomeError
        ? normalizeOperationOutcome(err)
        : badRequest('The request could not be processed as sent: check it is FHIR R4 JSON of the expected shape.');
  }
  // The store could not write now (disk full, I/O error, another process's lock): nothing was written.
  const retryAfter = storeRetryAfter(outcome);
  if (retryAfter !== undefined) return { status: 503, body: outcome, headers: { 'Retry-After': String(retryAfter) } };
  const status = getStatus(outcome);
  // Never echo internals (stack traces, resource content) to the caller.
  if (status >= 500) return { status, body: serverError(new Error('Internal server error')), headers: {} };
  if (!resource || status >= 400) return { status, body: outcome, headers: {} };
  if (rejected && kept && size !== undefined) resource = withRejectedEntries(resource, rejected, kept, size);
  const extra: Record<string, string> = {};
  const versionId = resource.meta?.versionId;
  if (versionId) extra.ETag = `W/"${versionId}"`;
  if (resource.meta?.lastUpdated) extra['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  if (status === 201 && resource.id && versionId)
    extra.Location = `${fhirBase}${resource.resourceType}/${resource.id}/_history/${versionId}`;
  return { status, body: withSearchLinks(fhirReq, resource, fhirBase), headers: extra };
}
