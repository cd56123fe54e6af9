import { badRequest, DEFAULT_MAX_SEARCH_COUNT, getStatus, normalizeOperationOutcome, serverError } from '@medplum/core';
import type { FhirRequest, FhirRouter, HttpMethod } from '@medplum/fhir-router';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { storeRetryAfter } from './database.js';
import type { EmbeddedRepository } from './repository.js';
import { compartmentSearchPath } from './compartment.js';
import { withSearchLinks } from './search-links.js';

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
  }
  return undefined;
}

/** The most resources one search page holds: a Medplum server's own cap (DEFAULT_MAX_SEARCH_COUNT, @medplum/core). */
export const maxPageSize = DEFAULT_MAX_SEARCH_COUNT;

/**
 * A search's `_count` as a Medplum server takes it: a whole number, at most maxPageSize (a larger one is
 * served as maxPageSize, with `next` links for the rest). Without the cap one `_count=100000` read, and
 * answered, every resource of a type in one page (a 100,000-resource store's peak memory came from one
 * such read); a negative `_count` returned every match.
 */
function pageSizeOf(path: string): { path: string } | { problem: string } {
  const q = path.indexOf('?');
  if (q < 0 || !path.slice(q).includes('_count')) return { path };
  const params = new URLSearchParams(path.slice(q + 1));
  const counts = params.getAll('_count');
  if (!counts.length) return { path };
  const count = counts.at(-1) as string;
  if (!/^\d{1,9}$/.test(count)) return { problem: `_count must be a whole number from 0 to ${maxPageSize}, not "${count.slice(0, 20)}"` };
  if (counts.length === 1 && Number(count) <= maxPageSize) return { path };
  params.set('_count', String(Math.min(Number(count), maxPageSize)));
  return { path: `${path.slice(0, q)}?${params.toString()}` };
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
  const shape = bundleShapeProblem(req.body);
  if (shape) return { status: 400, body: badRequest(shape), headers: {} };
  const paged = req.method === 'GET' ? pageSizeOf(req.path) : { path: req.path };
  if ('problem' in paged) return { status: 400, body: badRequest(paged.problem, '_count'), headers: {} };
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
    body: req.body,
    params: {},
    query: {},
    headers,
    config: { transactions: true },
  };
  let outcome: OperationOutcome;
  let resource: Resource | undefined;
  try {
    [outcome, resource] = await router.handleRequest(fhirReq, repo);
  } catch (err) {
    outcome = normalizeOperationOutcome(err);
  }
  // The store could not write now (disk full, I/O error, another process's lock): nothing was written.
  const retryAfter = storeRetryAfter(outcome);
  if (retryAfter !== undefined) return { status: 503, body: outcome, headers: { 'Retry-After': String(retryAfter) } };
  const status = getStatus(outcome);
  // Never echo internals (stack traces, resource content) to the caller.
  if (status >= 500) return { status, body: serverError(new Error('Internal server error')), headers: {} };
  if (!resource || status >= 400) return { status, body: outcome, headers: {} };
  const extra: Record<string, string> = {};
  const versionId = resource.meta?.versionId;
  if (versionId) extra.ETag = `W/"${versionId}"`;
  if (resource.meta?.lastUpdated) extra['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  if (status === 201 && resource.id && versionId)
    extra.Location = `${fhirBase}${resource.resourceType}/${resource.id}/_history/${versionId}`;
  return { status, body: withSearchLinks(fhirReq, resource, fhirBase), headers: extra };
}
