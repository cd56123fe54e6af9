import {
  DelegateBackoff,
  ExponentialBackoff,
  halfJitterGenerator,
  handleWhen,
  retry,
  type IBackoff,
  type IBackoffFactory,
  type IRetryBackoffContext,
  type RetryPolicy,
} from 'cockatiel';
import { AdapterError } from '../outcomes/index.js';

/**
 * Retries and backoff towards the FHIR server, on `cockatiel` (a well-kept resilience library, Polly's
 * model) rather than loops of our own: the attempt counting, the backoff chain and the timers are its.
 * What is ours is only the policy: which failures are worth another try and how long the server asked
 * us to wait.
 */

/**
 * Attempts per FHIR read before the caller gets a 503: two retries ride out a restart or a brief
 * overload without making a caller wait for long (the caller may resend; we are idempotent).
 */
export const maxReadAttempts = 3;

/** Attempts per record write (each one re-reads, re-evaluates and sends the transaction again). */
export const maxWriteAttempts = 3;

/** First backoff step; doubled per attempt, jittered (half to all of the step) so that replicas do not retry in step. */
const baseDelayMs = 100;

/** Largest backoff step we pick ourselves. */
const maxDelayMs = 2_000;

/**
 * Longest server-requested wait (Retry-After, RateLimit reset) we sit through inside one request.
 * Beyond that, holding the caller's connection helps nobody: the caller gets 503 + that Retry-After.
 */
export const maxHonouredWaitMs = 5_000;

/**
 * A FHIR failure worth trying again: a transport error, a timeout, 429 or a 5xx. `retryAfterMs` is the
 * server's own request, when it made one. It is still an AdapterError (503): when retries run out it
 * is the caller's answer as it stands.
 */
export class TransientFhirError extends AdapterError {
  constructor(
    base: AdapterError,
    readonly retryAfterMs?: number,
  ) {
    super(base.status, base.outcome, base.retryAfter);
  }
}

/**
 * The server's requested wait in ms, from `Retry-After` (seconds or HTTP date, RFC 9110 §10.2.3) or the
 * IETF `RateLimit`/`RateLimit-Reset` headers (reset in seconds), when the quota is spent.
 */
export function requestedWaitMs(headers: Headers, now = Date.now()): number | undefined {
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const at = Date.parse(retryAfter);
    if (Number.isFinite(at)) return Math.max(0, at - now);
  }
  const rateLimit = headers.get('ratelimit');
  const remaining = rateLimit ? /(?:^|[,;\s])r=(\d+)|remaining=(\d+)/.exec(rateLimit) : null;
  const reset = rateLimit ? /(?:^|[,;\s])t=(\d+)|reset=(\d+)/.exec(rateLimit) : null;
  if (reset && (!remaining || Number(remaining[1] ?? remaining[2]) === 0)) return Number(reset[1] ?? reset[2]) * 1000;
  const legacyReset = headers.get('ratelimit-reset');
  if (legacyReset && headers.get('ratelimit-remaining') === '0' && Number.isFinite(Number(legacyReset))) return Number(legacyReset) * 1000;
  return undefined;
}

/** The transient failure behind an error, when there is one (a TransientFhirError itself, or one it carries as `failure`). */
function transientOf(err: unknown): TransientFhirError | undefined {
  if (err instanceof TransientFhirError) return err;
  const failure = (err as { failure?: unknown } | null)?.failure;
  return failure instanceof TransientFhirError ? failure : undefined;
}

/** True when another try is worth it: a transient failure whose requested wait (if any) we sit through. */
export function worthRetrying(err: unknown): boolean {
  const t = transientOf(err);
  return t !== undefined && (t.retryAfterMs ?? 0) <= maxHonouredWaitMs;
}

const exponential = new ExponentialBackoff({ generator: halfJitterGenerator, initialDelay: baseDelayMs, maxDelay: maxDelayMs });

/**
 * The waits between attempts: the server's wish when the failure carried one (Retry-After), else
 * exponential backoff, 100 ms doubling to at most 2 s, each wait between half and all of its step.
 */
export const fhirBackoff: IBackoffFactory<IRetryBackoffContext<unknown>> = new DelegateBackoff<
  IRetryBackoffContext<unknown>,
  IBackoff<unknown> | undefined
>((ctx, previous) => {
  const step = previous ? previous.next(ctx) : exponential.next();
  const requested = 'error' in ctx.result ? transientOf(ctx.result.error)?.retryAfterMs : undefined;
  return { delay: requested ?? step.duration, state: step };
});

/**
 * The retry policy for `attempts` tries of something safe to resend: a read, or a write that is
 * conditional (If-Match, ifNoneExist) so that a second landing is refused. It retries transient
 * failures only, and gives up at once when the server asks for a longer wait than we hold a caller for.
 */
export function transientRetry(attempts: number): RetryPolicy {
  return retry(handleWhen(worthRetrying), { maxAttempts: attempts - 1, backoff: fhirBackoff });
}

const policies = new Map<number, RetryPolicy>();

/**
 * Runs `fn` until it succeeds, fails for a reason other than a TransientFhirError, runs out of attempts,
 * or the server asks for a longer wait than we hold a caller for.
 */
export function withRetries<T>(attempts: number, fn: () => Promise<T>): Promise<T> {
  let policy = policies.get(attempts);
  if (!policy) policies.set(attempts, (policy = transientRetry(attempts)));
  return policy.execute(() => fn());
}
