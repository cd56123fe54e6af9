/**
 * The breaker opens when, within `windowMs`, at least `minimumCalls` calls were made and at least
 * `failureRatio` of them failed (transport errors, timeouts, 5xx). A rate, not a run of consecutive
 * failures: under concurrency a burst of lost answers on a healthy server (whose reads still succeed)
 * must not trip it, while a server that is down fails nearly every call and trips it within a few records.
 */
export const windowMs = 10_000;
export const minimumCalls = 10;
export const failureRatio = 0.5;

/** Default time the breaker stays open before one probe may test the server again. */
export const defaultCooldownMs = 5_000;

/** The breaker's state, as /ready reports it. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Raised, without calling the server, while the breaker is open. */
export class BreakerOpenError extends Error {
  constructor(readonly retryAfterMs: number) {
    super('circuit open');
  }
}

/**
 * A circuit breaker in front of the FHIR server. While it is open, calls fail at once (the caller gets
 * 503 + Retry-After instead of waiting for a timeout); after the cool-down a single probe (a cheap
 * read chosen by the owner) decides whether it closes again or stays open for another cool-down.
 */
export class CircuitBreaker {
  private outcomes: { at: number; failed: boolean }[] = [];
  private openedAt?: number;
  private probing?: Promise<boolean>;

  constructor(
    private readonly probe: () => Promise<unknown>,
    private readonly cooldownMs = defaultCooldownMs,
    private readonly now: () => number = Date.now,
  ) {}

  /** closed: calls pass; open: calls fail fast; half-open: the cool-down is over, the next call probes. */
  get state(): BreakerState {
    if (this.openedAt === undefined) return 'closed';
    return this.now() - this.openedAt < this.cooldownMs ? 'open' : 'half-open';
  }

  /** Runs `fn` if the breaker lets it through; `isFailure` says which errors count against the server. */
  async run<T>(fn: () => Promise<T>, isFailure: (err: unknown) => boolean): Promise<T> {
    await this.admit();
    try {
      const result = await fn();
      this.succeeded();
      return result;
    } catch (err) {
      if (isFailure(err)) this.failed();
      else this.succeeded();
      throw err;
    }
  }

  /** Waits for the half-open probe if one is due; throws BreakerOpenError while open. */
  private async admit(): Promise<void> {
    const state = this.state;
    if (state === 'closed') return;
    if (state === 'open') throw new BreakerOpenError(this.remainingMs());
    // One probe at a time; everyone arriving meanwhile shares its verdict.
    this.probing ??= this.probe().then(() => true, () => false).finally(() => { this.probing = undefined; });
    if (await this.probing) {
      this.succeeded();
      return;
    }
    this.openedAt = this.now();
    throw new BreakerOpenError(this.cooldownMs);
  }

  private remainingMs(): number {
    return Math.max(0, this.cooldownMs - (this.now() - (this.openedAt ?? 0)));
  }

  private succeeded(): void {
    if (this.openedAt !== undefined) this.outcomes = [];
    this.openedAt = undefined;
    this.record(false);
  }

  private failed(): void {
    this.record(true);
    const failures = this.outcomes.filter((o) => o.failed).length;
    if (this.outcomes.length >= minimumCalls && failures / this.outcomes.length >= failureRatio) {
      this.openedAt = this.now();
      this.outcomes = [];
    }
  }

  private record(failed: boolean): void {
    const now = this.now();
    this.outcomes.push({ at: now, failed });
    while (this.outcomes.length && (this.outcomes[0]!.at < now - windowMs)) this.outcomes.shift();
  }
}
