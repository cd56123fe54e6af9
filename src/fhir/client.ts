import { MedplumClient, OperationOutcomeError, getStatus } from '@medplum/core';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { AdapterError, fhirUnavailable, issue, outcome } from '../outcomes/index.js';
import { BreakerOpenError, CircuitBreaker, type BreakerState } from './circuit-breaker.js';
import { maxReadAttempts, requestedWaitMs, TransientFhirError, withRetries } from './retry.js';
import { RollbackCheck, type RollbackVerdict } from './rollback-probe.js';
import { ClientSecretAuth, discoverTokenEndpoint, withAccessToken, type AccessTokenProvider } from './smart-backend-auth.js';
import { transactionLimitProblems } from './write/transaction-limits.js';

/** How the adapter reaches its FHIR server. */
export interface FhirConnection {
  /**
   * The FHIR base, the address `metadata` hangs under, as every FHIR tool takes it:
   * `https://api.medplum.com/fhir/R4`, `https://hapi.example.org/fhir`, `http://127.0.0.1:8080/fhir/R4`.
   * Nothing is appended to it; a trailing slash makes no difference.
   */
  baseUrl: string;
  /** Client credentials (client_secret_post) for the token endpoint below. */
  clientId?: string;
  clientSecret?: string;
  /** The token endpoint; unset: `token_endpoint` of `[baseUrl]/.well-known/smart-configuration`. */
  tokenUrl?: string;
  accessToken?: string;
  timeoutMs: number;
  /** How long the circuit breaker stays open before a probe (default in circuit-breaker.ts). */
  breakerCooldownMs?: number;
  /** SMART Backend Services (smart-backend-auth.ts): every request carries its token; one refresh on a 401. */
  tokenProvider?: AccessTokenProvider;
  /** The transport under the status and token handling: real HTTP by default; the embedded server answers in process. */
  transport?: typeof fetch;
  /** How a caller reading many whole results pages through them (WholeResultReads); unset, the defaults there. */
  wholeResultReads?: WholeResultReads;
  /** A server that keeps a value derived from each resource beside it (DerivedReads): the embedded one. */
  derivedReads?: DerivedReads;
}

/**
 * A FHIR server that keeps, beside each resource, a value made from it when it was written — the embedded
 * server keeps each resource's governance facts (src/governance/stored-facts.ts) — and reads a search's
 * matches as those values: a report over tens of thousands of resources then parses a few hundred bytes
 * of each, not the whole resource (README "Performance"). No REST server offers this; a caller that
 * finds it unset searches as usual.
 */
export interface DerivedReads {
  /** The key the values were made under (embedded/repository.ts Derivation.key): a caller uses them only when it is its own. */
  key: string;
  /**
   * Every match of `type?query` (FHIR search parameters; no paging or `_include`), in the server's order,
   * each as the value kept beside it, or as the resource when none was kept under `key`.
   */
  visitAll(
    type: string,
    query: Record<string, string | readonly string[]>,
    visit: (match: { derived: unknown } | { resource: Resource }) => void,
  ): Promise<void>;
}

/**
 * How a caller that reads many search results whole (a governance report: governance/fetch.ts) reads them.
 * Against a remote server: every search at once (their round trips overlap), in pages of 1,000 (the largest
 * a Medplum server serves: fewer pages, fewer re-runs of the search there). The embedded server answers in
 * process, on this one thread, from a cached list of the matches: searches side by side gain nothing there
 * and hold more parsed pages at once, and a smaller page's resources die young (one search at a time in
 * pages of 250: a report 1.55 -> 1.33 s, README "Performance").
 */
export interface WholeResultReads {
  /** Searches run at once (each with all its pages). */
  concurrentSearches: number;
  /** `_count` of each page. */
  pageSize: number;
}

/** WholeResultReads against a remote server. */
export const remoteWholeResultReads: WholeResultReads = { concurrentSearches: Number.POSITIVE_INFINITY, pageSize: 1_000 };

/** Seconds a caller is told to wait before resending, when the FHIR server is down. */
export const retryAfterSeconds = 5;

/**
 * How long a directory lookup (PractitionerRole, Practitioner, CareTeam, Organization: read or
 * identifier search) is reused. Every record resolves the same few actors; a role change on the
 * server is seen within this time. Patients and the adapter's own resources are always read fresh.
 */
const directoryCacheTtlMs = 30_000;

/** Directory lookups kept at most (a site has a bounded directory; this bounds memory whatever happens). */
const directoryCacheMaxEntries = 2_000;

const directoryRequest = /^(PractitionerRole|Practitioner|CareTeam|Organization)[/?]/;

/** Raised for a 409/412 on a write: someone changed a resource between our read and our write. */
export class WriteConflictError extends Error {}

/** HTTP statuses whose meaning MedplumClient would lose (it keeps only the OperationOutcome body). */
const statusesWeAct = new Set([409, 412, 429, 500, 502, 503, 504]);

/** A FHIR answer whose HTTP status decides what the adapter does (retryable or conflict). */
class FhirStatusError extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs?: number,
  ) {
    super(`FHIR server answered ${status}`);
  }
}

/** fetch for MedplumClient that surfaces the statuses we act on before MedplumClient normalises them. */
function statusAware(transport?: typeof fetch) {
  return async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    // Look fetch up on each call so that test interceptors installed later still see it.
    const res = await (transport ?? globalThis.fetch)(url, init);
    if (statusesWeAct.has(res.status) || res.status >= 500) {
      const wait = requestedWaitMs(res.headers);
      await res.body?.cancel();
      throw new FhirStatusError(res.status, wait);
    }
    return res;
  };
}

/** True for a failure that says the server is down or broken (it trips the breaker); 429 and 4xx do not. */
function serverFault(err: unknown): boolean {
  if (err instanceof FhirStatusError) return err.status >= 500;
  if (err instanceof OperationOutcomeError) return getStatus(err.outcome) >= 500;
  return !(err instanceof AdapterError);
}

/**
 * The adapter's only door to the FHIR server. MedplumClient's own retries are off: it retries POSTs
 * blindly, and a transaction whose answer was lost would be sent twice (fhir-servers.md). Reads are
 * retried here, in place (retry.ts, on cockatiel); a transaction is never resent here: processRecord re-reads what is on the
 * server and re-evaluates the record first. Every call passes the circuit breaker, and no transaction
 * is sent to a server that has not shown it rolls a failed one back.
 */
export class FhirClient {
  private readonly medplum: MedplumClient;
  private readonly breaker: CircuitBreaker;
  private readonly rollback: RollbackCheck;
  private readonly directory = new Map<string, { at: number; entry: BundleEntry }>();

  /** FhirConnection.wholeResultReads, remoteWholeResultReads when unset. */
  readonly wholeResultReads: WholeResultReads;
  /** FhirConnection.derivedReads. */
  readonly derivedReads: DerivedReads | undefined;

  constructor(private readonly conn: FhirConnection) {
    this.wholeResultReads = conn.wholeResultReads ?? remoteWholeResultReads;
    const derived = conn.derivedReads;
    // Not retried (a visit is not undone) nor timed: it runs in this process. Its errors read as a search's.
    this.derivedReads = derived && {
      key: derived.key,
      visitAll: async (type, query, visit) => {
        try {
          await derived.visitAll(type, query, visit);
        } catch (err) {
          throw translate(err, `search ${type}`);
        }
      },
    };
    // MedplumClient joins a server root and a FHIR path; any FHIR base splits into the two exactly.
    const base = new URL(conn.baseUrl.replace(/\/*$/, '/'));
    const tokens =
      conn.tokenProvider ??
      (conn.clientId && conn.clientSecret
        ? new ClientSecretAuth({
            clientId: conn.clientId,
            clientSecret: conn.clientSecret,
            timeoutMs: conn.timeoutMs,
            fetch: conn.transport,
            tokenUrl: conn.tokenUrl ?? discoverTokenEndpoint(base.href, conn.timeoutMs, conn.transport),
          })
        : undefined);
    this.medplum = new MedplumClient({
      baseUrl: base.origin + '/',
      fhirUrlPath: base.pathname.slice(1),
      accessToken: tokens ? undefined : conn.accessToken,
      maxRetries: 0,
      cacheTime: 0,
      fetch: tokens ? withAccessToken(tokens, statusAware(conn.transport)) : statusAware(conn.transport),
    });
    // The half-open probe is a bare metadata read, never a caller's write: the breaker runs it as its half-open call.
    this.breaker = new CircuitBreaker(
      () => this.send('metadata', (signal) => this.getMetadata(signal)),
      serverFault,
      conn.breakerCooldownMs,
    );
    this.rollback = new RollbackCheck({
      transaction: (bundle) => this.once('transaction', (signal) => this.medplum.executeBatch(bundle, { signal, maxRetries: 0 })),
      search: (type, query) =>
        this.once('search', (signal) => this.medplum.get<Bundle>(this.searchUrl(type, query), { signal, maxRetries: 0 })),
      delete: async (type, id) => {
        await this.once('delete', (signal) => this.medplum.delete(this.medplum.fhirUrl(type, id), { signal, maxRetries: 0 }));
      },
    });
  }

  /** One attempt with a timeout, without the breaker; errors translated. */
  private async send<T>(what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await fn(AbortSignal.timeout(this.conn.timeoutMs));
    } catch (err) {
      throw translate(err, what);
    }
  }

  /** One attempt through the breaker: while it is open, a 503 at once. */
  private async once<T>(what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await this.breaker.run(() => fn(AbortSignal.timeout(this.conn.timeoutMs)));
    } catch (err) {
      throw translate(err, what);
    }
  }

  /** A read: retried in place with backoff (reads change nothing, so resending is always safe). */
  private read<T>(what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return withRetries(maxReadAttempts, () => this.once(what, fn));
  }

  private searchUrl(type: string, query: Record<string, string> | URLSearchParams): URL {
    const url = this.medplum.fhirUrl(type);
    url.search = new URLSearchParams(query).toString();
    return url;
  }

  private getMetadata(signal: AbortSignal): Promise<Resource> {
    return this.medplum.get(this.medplum.fhirUrl('metadata'), { signal, maxRetries: 0 });
  }

  /** Sends a batch Bundle of reads (only GET entries: it is retried); recent directory lookups are answered from the cache. */
  async batch(bundle: Bundle): Promise<Bundle> {
    const entries = bundle.entry ?? [];
    if (entries.some((e) => e.request?.method !== 'GET')) throw new Error('FhirClient.batch sends reads only');
    const now = Date.now();
    const answers = entries.map((e) => {
      const hit = this.directory.get(e.request?.url ?? '');
      return hit && now - hit.at < directoryCacheTtlMs ? hit.entry : undefined;
    });
    const missing = entries.filter((_, i) => !answers[i]);
    if (missing.length) {
      const response = await this.read('batch', (signal) =>
        this.medplum.executeBatch({ ...bundle, entry: missing }, { signal, maxRetries: 0 }),
      );
      let j = 0;
      answers.forEach((a, i) => {
        if (a) return;
        const entry = response.entry?.[j++] ?? {};
        answers[i] = entry;
        const url = entries[i]?.request?.url ?? '';
        if (directoryRequest.test(url) && entry.response?.status?.startsWith('2')) this.remember(url, entry, now);
      });
    }
    return { resourceType: 'Bundle', type: 'batch-response', entry: answers as BundleEntry[] };
  }

  private remember(url: string, entry: BundleEntry, now: number): void {
    if (this.directory.size >= directoryCacheMaxEntries) this.directory.clear();
    this.directory.set(url, { at: now, entry });
  }

  /**
   * Sends a transaction Bundle: all of it is written, or none of it. Sent once: a lost answer is
   * resolved by the caller re-reading the server, never by resending blindly.
   */
  async transaction(bundle: Bundle): Promise<Bundle> {
    const problems = transactionLimitProblems(bundle);
    if (problems.length) {
      // Refused before sending: the server would refuse it whole anyway; it is our bug, not the caller's.
      throw new AdapterError(
        500,
        outcome([
          issue(
            'internal',
            'too-costly',
            `The adapter built a transaction beyond the FHIR server's limits (${problems.join('; ')}); nothing was written. Report this.`,
          ),
        ]),
      );
    }
    await this.rollback.require();
    return this.once('transaction', (signal) => this.medplum.executeBatch(bundle, { signal, maxRetries: 0 }));
  }

  /** Searches one resource type, returning the matching resources. */
  search(type: string, query: Record<string, string> | URLSearchParams): Promise<Bundle> {
    return this.read('search', (signal) => this.medplum.get<Bundle>(this.searchUrl(type, query), { signal, maxRetries: 0 }));
  }

  /** Follows an absolute `next` link of a searchset. */
  page(url: string): Promise<Bundle> {
    return this.read('search', (signal) => this.medplum.get<Bundle>(url, { signal, maxRetries: 0 }));
  }

  /** Reads the server's CapabilityStatement once, through the breaker (the readiness probe). */
  metadata(): Promise<Resource> {
    return this.once('metadata', (signal) => this.getMetadata(signal));
  }

  /** The circuit breaker's state (for /ready). */
  get breakerState(): BreakerState {
    return this.breaker.state;
  }

  /** Whether the server rolls back a failed transaction: cached, probed when stale (start-up, /ready, writes). */
  rollbackVerdict(): Promise<RollbackVerdict> {
    return this.rollback.verdict();
  }
}

function translate(err: unknown, what: string): Error {
  if (err instanceof AdapterError || err instanceof WriteConflictError) return err;
  if (err instanceof BreakerOpenError) {
    return fhirUnavailable(
      `it failed repeatedly; calls are paused for a few seconds (circuit breaker open) before ${what}`,
      Math.max(1, Math.ceil(err.retryAfterMs / 1000)),
    );
  }
  if (err instanceof FhirStatusError) {
    if (err.status === 409 || err.status === 412) return new WriteConflictError(`${what}: ${err.status}`);
    return transient(`${what} answered ${err.status}`, err.retryAfterMs);
  }
  if (err instanceof OperationOutcomeError) {
    const status = getStatus(err.outcome);
    if (status === 409 || status === 412) return new WriteConflictError(`${what}: ${status}`);
    if (status === 401 || status === 403)
      return fhirUnavailable(`the FHIR server refused the adapter's credentials on ${what}`, retryAfterSeconds);
    if (status === 429 || status >= 500) return transient(`${what} answered ${status}`);
    return rejected(err.outcome, status, what);
  }
  const name = (err as Error)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return transient(`${what} timed out`);
  return transient(`${what} could not reach it`);
}

/** A retryable 503; the server's requested wait, when it gave one, becomes the caller's Retry-After. */
function transient(reason: string, retryAfterMs?: number): TransientFhirError {
  const seconds = retryAfterMs !== undefined ? Math.max(1, Math.ceil(retryAfterMs / 1000)) : retryAfterSeconds;
  return new TransientFhirError(fhirUnavailable(reason, seconds), retryAfterMs);
}

/** The FHIR server refused what we sent (a 4xx other than conflicts): a mapping or server-config fault. */
function rejected(oo: OperationOutcome, status: number, what: string): AdapterError {
  const reasons = (oo.issue ?? [])
    .map((i) => i.details?.text)
    .filter(Boolean)
    .slice(0, 5);
  return new AdapterError(
    502,
    outcome([
      issue(
        'fhir-rejected',
        'exception',
        `The FHIR server refused the ${what} (${status})${reasons.length ? `: ${reasons.join('; ')}` : ''}. Nothing was written.`,
      ),
    ]),
  );
}
