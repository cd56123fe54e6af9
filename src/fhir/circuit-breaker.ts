import { BrokenCircuitError, circuitBreaker, CircuitState, handleAll, SamplingBreaker, type CircuitBreakerPolicy } from 'cockatiel';

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

/** An error the server is not to blame for, carried through the breaker as a value so that it counts as a success. */
class NotAFailure {
  constructor(readonly error: unknown) {}
}

/**
 * A circuit breaker in front of the FHIR server, on `cockatiel`'s CircuitBreakerPolicy and
 * SamplingBreaker (the library keeps the window, the states and the half-open gate). While it is open,
 * calls fail at once (the caller gets 503 + Retry-After instead of waiting for a timeout); after the
 * cool-down a single probe (a cheap read chosen by the owner, not a caller's write) is the half-open
 * call: everyone arriving meanwhile shares its verdict, and it closes the breaker or opens it for
 * another cool-down.
 */
export class CircuitBreaker {
  private readonly policy: CircuitBreakerPolicy;
  private openedAt = 0;
  private probing?: Promise<boolean>;

  /**
   * @param probe the half-open test call; any error it throws counts as the server still failing.
   * @param isFailure which errors of a call count against the server (others count as answers).
   */
  constructor(
    private readonly probe: () => Promise<unknown>,
    private readonly isFailure: (err: unknown) => boolean,
    private readonly cooldownMs = defaultCooldownMs,
  ) {
    this.policy = circuitBreaker(handleAll, {
      halfOpenAfter: cooldownMs,
      // SamplingBreaker opens on *more than* `threshold` failed; a hair under a half makes it "at least
      // half" (exact below 5×10⁸ calls a window). Its minimum rate over the window is `minimumCalls`.
      breaker: new SamplingBreaker({ threshold: failureRatio - 1e-9, duration: windowMs, minimumRps: minimumCalls / (windowMs / 1000) }),
    });
    this.policy.onBreak(() => {
      this.openedAt = Date.now();
    });
  }

  /** closed: calls pass; open: calls fail fast; half-open: the cool-down is over, the next call probes. */
  get state(): BreakerState {
    switch (this.policy.state) {
      case CircuitState.Closed:
        return 'closed';
      case CircuitState.HalfOpen:
        return 'half-open';
      default:
        return Date.now() - this.openedAt < this.cooldownMs ? 'open' : 'half-open';
    }
  }

  /** Runs `fn` if the breaker lets it through; throws BreakerOpenError while it is open. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const state = this.state;
    // Decided here, not by the policy: its own clock check could make a caller's call the half-open one.
    if (state === 'open') throw new BreakerOpenError(this.remainingMs());
    if (state === 'half-open' && !(await this.probed())) throw new BreakerOpenError(this.cooldownMs);
    let answer: T | NotAFailure;
    try {
      answer = await this.policy.execute(async () => {
        try {
          return await fn();
        } catch (err) {
          if (this.isFailure(err)) throw err;
          return new NotAFailure(err);
        }
      });
    } catch (err) {
      if (err instanceof BrokenCircuitError) throw new BreakerOpenError(this.remainingMs());
      throw err;
    }
    if (answer instanceof NotAFailure) throw answer.error;
    return answer;
  }

  private remainingMs(): number {
    return Math.max(0, this.cooldownMs - (Date.now() - this.openedAt));
  }

  /** The half-open probe, one at a time: true when the server answered and the breaker closed. */
  private probed(): Promise<boolean> {
    this.probing ??= this.policy
      .execute(() => this.probe())
      .then(
        () => true,
        () => false,
      )
      .finally(() => {
        this.probing = undefined;
      });
    return this.probing;
  }
}
