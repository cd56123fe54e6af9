import { createHmac } from 'node:crypto';
import { ExponentialBackoff, handleWhen, noJitterGenerator, retry } from 'cockatiel';

/** Attempts per delivery: the first and three retries, with doubling waits between them. */
export const maxAttempts = 4;
/** A receiver that does not answer within this is treated as failed for this attempt. */
export const attemptTimeoutMs = 10_000;

/** Header names of a delivery. The signature covers `<timestamp>.<body>`, as Stripe-style receivers expect. */
export const webhookHeaders = {
  signature: 'x-peer-pathways-signature',
  timestamp: 'x-peer-pathways-timestamp',
  event: 'x-peer-pathways-event',
} as const;

/** Where and how to deliver to one source. */
export interface WebhookTarget {
  url: string;
  secret: string;
}

/** The HMAC-SHA256 signature header value of a body sent at a timestamp (Unix seconds). */
export function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** 408, 429 and 5xx are worth retrying; any other 4xx will fail the same way again. */
function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** A failed attempt worth another: a network error or timeout (status 0), or a retryable status. */
class AttemptFailed extends Error {
  constructor(readonly status: number) {
    super(`webhook delivery answered ${status}`);
  }
}

/**
 * POSTs one event, signed, retrying with exponential backoff (retryBaseMs, ×2 each time; cockatiel's
 * retry policy) on network errors, timeouts and retryable statuses. Answers whether the receiver took
 * it (2xx). The event id is stable across retries, so a receiver can drop a duplicate.
 */
export async function deliver(
  target: WebhookTarget,
  eventId: string,
  payload: unknown,
  opts: { retryBaseMs: number; now: () => Date },
): Promise<boolean> {
  const body = JSON.stringify(payload);
  const policy = retry(
    handleWhen((err) => err instanceof AttemptFailed && (err.status === 0 || retryable(err.status))),
    {
      maxAttempts: maxAttempts - 1,
      backoff: new ExponentialBackoff({
        generator: noJitterGenerator,
        initialDelay: opts.retryBaseMs,
        maxDelay: opts.retryBaseMs * 2 ** (maxAttempts - 2),
      }),
    },
  );
  try {
    await policy.execute(async () => {
      const status = await attempt(target, eventId, body, opts.now);
      if (status < 200 || status >= 300) throw new AttemptFailed(status);
    });
    return true;
  } catch (err) {
    if (err instanceof AttemptFailed) return false;
    throw err;
  }
}

/** One signed POST; its status, or 0 when there was no answer (network error or timeout). */
async function attempt(target: WebhookTarget, eventId: string, body: string, now: () => Date): Promise<number> {
  const timestamp = String(Math.floor(now().getTime() / 1000));
  try {
    const res = await fetch(target.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [webhookHeaders.signature]: signature(target.secret, timestamp, body),
        [webhookHeaders.timestamp]: timestamp,
        [webhookHeaders.event]: eventId,
      },
      body,
      signal: AbortSignal.timeout(attemptTimeoutMs),
    });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}
