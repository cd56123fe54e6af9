import { badRequest, unauthorized } from '@medplum/core';
import { FhirRouter } from '@medplum/fhir-router';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { answerTokenRequest, authorizeFhirRequest, type TokenStore } from './auth.js';
import { answerFhirRequest, FHIR_JSON, tooLarge } from './fhir-exchange.js';
import type { EmbeddedRepository } from './repository.js';

/**
 * Largest request body handled in process: the same 5 MB as the HTTP router (http.ts MAX_BODY_SIZE),
 * so that the adapter meets the same limits whichever way it reaches the embedded server.
 */
const maxBodyBytes = 5 * 1024 * 1024;

/** What the in-process transport needs: the embedded server's repository, the tokens it accepts, and where it is mounted. */
export interface InProcessFetchOptions {
  repo: EmbeddedRepository;
  /** Accepts the adapter's own client credentials (POST oauth2/token) and the tokens issued for them. */
  tokens: TokenStore;
  /** The service root the FhirClient is given (`http://127.0.0.1:<port>/`): FHIR at fhir/R4/, tokens at oauth2/token. */
  baseUrl: string;
}

/**
 * A `fetch` that answers the embedded FHIR server's requests in this process: the same FhirRouter over the
 * same repository (same validation, same atomic transactions), the same bearer check and the same status,
 * headers and bodies as over HTTP (src/embedded/http.ts), without the loopback socket, HTTP parsing and
 * Express routing. Anything else (GET metadata, other hosts) goes to the real fetch.
 */
export function createInProcessFetch(opts: InProcessFetchOptions): typeof fetch {
  const fhirRouter = new FhirRouter();
  const fhirBase = new URL('fhir/R4/', opts.baseUrl).href;
  const tokenUrl = new URL('oauth2/token', opts.baseUrl).href;
  return async (input, init) => {
    const request = new Request(input, init);
    const url = request.url.split('#')[0]!;
    if (url === tokenUrl && request.method === 'POST') return token(opts.tokens, request);
    if (!url.startsWith(fhirBase) || url.slice(fhirBase.length).startsWith('metadata')) return globalThis.fetch(request);
    const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.get('authorization') ?? '');
    const grant = bearer?.[1] ? await opts.tokens.grantFor(bearer[1]) : undefined;
    if (!grant) {
      return fhirResponse(401, unauthorized, { 'WWW-Authenticate': bearer ? 'Bearer error="invalid_token"' : 'Bearer' });
    }
    const body = await readJson(request);
    if (body instanceof Response) return body;
    // The same scope and append-only checks as over HTTP (auth.ts).
    const refused = authorizeFhirRequest(
      grant,
      { method: request.method, path: url.slice(fhirBase.length), body },
      new URL(fhirBase).pathname,
    );
    if (refused) return fhirResponse(403, refused);
    const headers: Record<string, string> = {};
    request.headers.forEach((value, key) => {
      headers[key] = value;
    });
    const answer = answerFhirRequest(
      fhirRouter,
      opts.repo,
      { method: request.method, path: url.slice(fhirBase.length), body, headers },
      fhirBase,
    ).then((a) =>
      request.method === 'GET' && isSearchset(a.body)
        ? searchsetResponse(a.status, a.body, a.headers)
        : fhirResponse(a.status, a.body, a.headers),
    );
    return abortable(answer, request.signal);
  };
}

/**
 * Rejects as fetch does when the caller's signal fires (the FhirClient's timeout). As over HTTP, the
 * request itself may still complete on the server: the caller re-reads before deciding anything.
 */
function abortable(answer: Promise<Response>, signal: AbortSignal): Promise<Response> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    answer.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The request body as JSON (undefined when empty), or the 413/400 answer the HTTP router would give. */
async function readJson(request: Request): Promise<unknown> {
  const text = await request.text();
  if (!text) return undefined;
  if (Buffer.byteLength(text) > maxBodyBytes) {
    return fhirResponse(413, tooLarge);
  }
  try {
    return JSON.parse(text);
  } catch {
    return fhirResponse(400, badRequest('Invalid JSON body'));
  }
}

/** POST oauth2/token (client_credentials), answered as the HTTP endpoint answers it. */
async function token(tokens: TokenStore, request: Request): Promise<Response> {
  const form = Object.fromEntries(new URLSearchParams(await request.text()));
  const answer = answerTokenRequest(tokens, form, request.headers.get('authorization'));
  return new Response(JSON.stringify(answer.body), {
    status: answer.status,
    headers: { 'Content-Type': 'application/json', ...answer.headers },
  });
}

function fhirResponse(status: number, body: Resource, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': FHIR_JSON, ...headers } });
}

function isSearchset(body: Resource): body is Bundle {
  return body.resourceType === 'Bundle' && body.type === 'searchset';
}

/**
 * A searchset answered in process, handed over as the JSON value its body holds: `json()` gives it
 * without writing the text and parsing it back, which for a governance report was a third of its time
 * (tens of thousands of resources: measured). The value is what the HTTP body parses to — every resource
 * in it was parsed from its stored JSON text for this request alone (repository.ts), and the Bundle and
 * its entries are copied without the keys left undefined (JSON drops those) — and the body (text(),
 * the stream) is still that JSON, written only if something reads it.
 */
function searchsetResponse(status: number, bundle: Bundle, headers: Record<string, string>): Response {
  const value = withoutUndefined({ ...bundle, entry: bundle.entry?.map((e) => withoutUndefined({ ...e })) as BundleEntry[] | undefined });
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        controller.enqueue(new TextEncoder().encode(JSON.stringify(value)));
        controller.close();
      },
    },
    // Nothing is written until the body is read.
    { highWaterMark: 0 },
  );
  return new SearchsetResponse(value, body, { status, headers: { 'Content-Type': FHIR_JSON, ...headers } });
}

/** A Response whose `json()` is its value: the body is the same value as JSON. */
class SearchsetResponse extends Response {
  constructor(
    private readonly value: Bundle,
    body: ReadableStream<Uint8Array>,
    init: ResponseInit,
  ) {
    super(body, init);
  }

  override json(): Promise<Bundle> {
    return Promise.resolve(this.value);
  }
}

function withoutUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}
