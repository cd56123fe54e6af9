import { createHmac } from 'node:crypto';

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

/**
 * POSTs one event, signed, retrying with exponential backoff (retryBaseMs, ×2 each time) on network
 * errors, timeouts and retryable statuses. Answers whether the receiver took it (2xx). The event id
 * is stable across retries, so a receiver can drop a duplicate.
 */
export async function deliver(
  target: WebhookTarget,
  eventId: string,
  payload: unknown,
  opts: { retryBaseMs: number; now: () => Date; sleep?: (ms: number) => Promise<void> },
): Promise<boolean> {
  const body = JSON.stringify(payload);
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const timestamp = String(Math.floor(opts.now().getTime() / 1000));
    let status: number;
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
      status = res.status;
      await res.body?.cancel();
    } catch {
      status = 0; // network error or timeout: retryable
    }
    if (status >= 200 && status < 300) return true;
    if (status !== 0 && !retryable(status)) return false;
    if (attempt < maxAttempts) await sleep(opts.retryBaseMs * 2 ** (attempt - 1));
  }
  return false;
}
