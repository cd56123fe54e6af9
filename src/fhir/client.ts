import { MedplumClient, OperationOutcomeError, getStatus } from '@medplum/core';
import type { Bundle, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { AdapterError, fhirUnavailable, issue, outcome } from '../outcomes/index.js';

/** How the adapter reaches its FHIR server. */
export interface FhirConnection {
  /** The server root: FHIR is at `${baseUrl}fhir/R4/` unless fhirUrlPath says otherwise. */
  baseUrl: string;
  fhirUrlPath?: string;
  clientId?: string;
  clientSecret?: string;
  accessToken?: string;
  timeoutMs: number;
}

/** Seconds a caller is told to wait before resending, when the FHIR server is down. */
export const retryAfterSeconds = 5;

/** Raised for a 409/412 on a write: someone changed a resource between our read and our write. */
export class WriteConflictError extends Error {}

/** HTTP statuses whose meaning MedplumClient would lose (it keeps only the OperationOutcome body). */
const statusesWeAct = new Set([409, 412, 429, 500, 502, 503, 504]);

/** A FHIR answer whose HTTP status decides what the adapter does (retryable or conflict). */
class FhirStatusError extends Error {
  constructor(readonly status: number, readonly retryAfter?: number) {
    super(`FHIR server answered ${status}`);
  }
}

/** fetch for MedplumClient that surfaces the statuses we act on before MedplumClient normalises them. */
async function statusAwareFetch(url: string | URL | Request, init?: RequestInit): Promise<Response> {
  // Look fetch up on each call so that test interceptors installed later still see it.
  const res = await globalThis.fetch(url, init);
  if (statusesWeAct.has(res.status) || res.status >= 500) {
    const retryAfter = Number(res.headers.get('retry-after'));
    await res.body?.cancel();
    throw new FhirStatusError(res.status, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
  }
  return res;
}

/**
 * The adapter's only door to the FHIR server. MedplumClient's own retries are off: it retries POSTs
 * blindly, and a transaction whose answer was lost would be sent twice (fhir-servers.md). Our retry
 * happens one level up, after re-reading what is already on the server.
 */
export class FhirClient {
  private readonly medplum: MedplumClient;
  private login?: Promise<unknown>;

  constructor(private readonly conn: FhirConnection) {
    this.medplum = new MedplumClient({
      baseUrl: conn.baseUrl,
      fhirUrlPath: conn.fhirUrlPath ?? 'fhir/R4/',
      clientId: conn.clientId,
      clientSecret: conn.clientSecret,
      accessToken: conn.accessToken,
      maxRetries: 0,
      cacheTime: 0,
      fetch: statusAwareFetch,
    });
  }

  private async ensureLogin(): Promise<void> {
    const { clientId, clientSecret, accessToken } = this.conn;
    if (accessToken || !clientId || !clientSecret || this.medplum.getAccessToken()) return;
    this.login ??= this.medplum.startClientLogin(clientId, clientSecret).finally(() => { this.login = undefined; });
    await this.login;
  }

  /** Runs one call with a timeout, turning transport failures into a retryable 503. */
  private async call<T>(what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      await this.ensureLogin();
      return await fn(AbortSignal.timeout(this.conn.timeoutMs));
    } catch (err) {
      throw translate(err, what);
    }
  }

  /** Sends a batch Bundle (reads only, in our use). */
  batch(bundle: Bundle): Promise<Bundle> {
    return this.call('batch', (signal) => this.medplum.executeBatch(bundle, { signal, maxRetries: 0 }));
  }

  /** Sends a transaction Bundle: all of it is written, or none of it. */
  transaction(bundle: Bundle): Promise<Bundle> {
    return this.call('transaction', (signal) => this.medplum.executeBatch(bundle, { signal, maxRetries: 0 }));
  }

  /** Creates one resource (audit records written outside a transaction). */
  create<T extends Resource>(resource: T): Promise<T> {
    return this.call('create', (signal) => this.medplum.createResource(resource, { signal, maxRetries: 0 }));
  }

  /** Searches one resource type, returning the matching resources. */
  search(type: string, query: Record<string, string> | URLSearchParams): Promise<Bundle> {
    const url = this.medplum.fhirUrl(type);
    url.search = new URLSearchParams(query).toString();
    return this.call('search', (signal) => this.medplum.get<Bundle>(url, { signal, maxRetries: 0 }));
  }

  /** Follows an absolute `next` link of a searchset. */
  page(url: string): Promise<Bundle> {
    return this.call('search', (signal) => this.medplum.get<Bundle>(url, { signal, maxRetries: 0 }));
  }

  /** Reads the server's CapabilityStatement: the readiness probe. */
  metadata(): Promise<Resource> {
    return this.call('metadata', (signal) => this.medplum.get(this.medplum.fhirUrl('metadata'), { signal, maxRetries: 0 }));
  }
}

function translate(err: unknown, what: string): Error {
  if (err instanceof AdapterError) return err;
  if (err instanceof FhirStatusError) {
    if (err.status === 409 || err.status === 412) return new WriteConflictError(`${what}: ${err.status}`);
    return fhirUnavailable(`${what} answered ${err.status}`, err.retryAfter ?? retryAfterSeconds);
  }
  if (err instanceof OperationOutcomeError) {
    const status = getStatus(err.outcome);
    if (status === 409 || status === 412) return new WriteConflictError(`${what}: ${status}`);
    if (status === 401 || status === 403) return fhirUnavailable(`the FHIR server refused the adapter's credentials on ${what}`, retryAfterSeconds);
    if (status === 429 || status >= 500) return fhirUnavailable(`${what} answered ${status}`, retryAfterSeconds);
    return rejected(err.outcome, status, what);
  }
  const name = (err as Error)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return fhirUnavailable(`${what} timed out`, retryAfterSeconds);
  return fhirUnavailable(`${what} could not reach it`, retryAfterSeconds);
}

/** The FHIR server refused what we sent (a 4xx other than conflicts): a mapping or server-config fault. */
function rejected(oo: OperationOutcome, status: number, what: string): AdapterError {
  const reasons = (oo.issue ?? []).map((i) => i.details?.text).filter(Boolean).slice(0, 5);
  return new AdapterError(502, outcome([issue('fhir-rejected', 'exception',
    `The FHIR server refused the ${what} (${status})${reasons.length ? `: ${reasons.join('; ')}` : ''}. Nothing was written.`)]));
}
