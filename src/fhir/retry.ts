import { AdapterError } from '../outcomes/index.js';

/**
 * Attempts per FHIR read before the caller gets a 503: two retries ride out a restart or a brief
 * overload without making a caller wait for long (the caller may resend; we are idempotent).
 */
export const maxReadAttempts = 3;

/** Attempts per record write (each one re-reads, re-evaluates and sends the transaction again). */
export const maxWriteAttempts = 3;

/** First backoff step; doubled per attempt, with full jitter so that many replicas do not retry in step. */
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
  constructor(base: AdapterError, readonly retryAfterMs?: number) {
    super(base.status, base.outcome, base.retryAfter);
  }
}

/**
 * The server's requested wait in ms, from `Retry-After` (seconds or HTTP date) or the IETF
 * `RateLimit`/`RateLimit-Reset` headers (reset in seconds), when the quota is spent.
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

/** The wait before attempt `attempt + 1` (attempt counts from 1): the server's wish, else jittered backoff. */
export function backoffMs(attempt: number, requested?: number): number {
  if (requested !== undefined) return requested;
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/** Sleeps for `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `fn` until it succeeds, fails for a reason other than a TransientFhirError, runs out of attempts,
 * or the server asks for a longer wait than we hold a caller for.
 */
export async function withRetries<T>(attempts: number, fn: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!(err instanceof TransientFhirError) || attempt >= attempts) throw err;
      const wait = backoffMs(attempt, err.retryAfterMs);
      if (wait > maxHonouredWaitMs) throw err;
      await sleep(wait);
    }
  }
}
