import type { OperationOutcome } from '@medplum/fhirtypes';

/** Tries per record: the first send and up to four more for 503/429 and lost connections. */
export const maxSendAttempts = 5;
/** A Retry-After longer than this is not waited for: the record is reported failed, to resend later. */
export const maxRetryAfterMs = 120_000;
/** Backoff when the adapter gives no Retry-After (doubles each try). */
const baseBackoffMs = 1_000;
/** One request must not hang a worker forever; the adapter answers well within this or fails itself. */
const requestTimeoutMs = 60_000;

/** What the adapter answered for one record (status 0: no answer at all). */
export interface SendResult {
  status: number;
  body?: { outcome?: string; resourceType?: string } & Partial<OperationOutcome>;
  attempts: number;
  /** Why there was no usable answer, when there was none. */
  error?: string;
}

/** How the importer reaches the adapter. */
export interface SendOptions {
  url: string;
  token: string;
  sourceMapping?: string;
  /** Injected by tests, so that honouring Retry-After is checked without waiting. */
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function retryAfterMs(header: string | null, attempt: number): number {
  const seconds = header === null ? Number.NaN : Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = header ? Date.parse(header) : Number.NaN;
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : baseBackoffMs * 2 ** (attempt - 1);
}

async function post(opts: SendOptions, body: string): Promise<Response> {
  return fetch(`${opts.url.replace(/\/$/, '')}/pathway-records`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${opts.token}`,
      'Content-Type': 'application/json',
      ...(opts.sourceMapping ? { 'X-Source-Mapping': opts.sourceMapping } : {}),
    },
    body,
    signal: AbortSignal.timeout(requestTimeoutMs),
  });
}

function parseBody(text: string): SendResult['body'] {
  try {
    return text ? (JSON.parse(text) as SendResult['body']) : undefined;
  } catch {
    // Not the adapter's answer (a proxy's error page): the status alone says what happened.
    return undefined;
  }
}

/**
 * POSTs one record, retrying 503/429 (honouring Retry-After) and lost connections. A resend is safe:
 * the same recordId updates the same resources, never doubles them (spec §4).
 */
export async function sendRecord(record: unknown, opts: SendOptions, text?: string): Promise<SendResult> {
  const sleep = opts.sleep ?? realSleep;
  // The line's own text when given (the adapter judges it: input rules, safety first), else the record.
  const body = text ?? JSON.stringify(record);
  for (let attempt = 1; ; attempt++) {
    let res: Response;
    try {
      res = await post(opts, body);
    } catch (err) {
      if (attempt >= maxSendAttempts) return { status: 0, attempts: attempt, error: `no answer from the adapter (${(err as Error).name})` };
      await sleep(baseBackoffMs * 2 ** (attempt - 1));
      continue;
    }
    const text = await res.text();
    const parsed = parseBody(text);
    if ((res.status === 503 || res.status === 429) && attempt < maxSendAttempts) {
      const wait = retryAfterMs(res.headers.get('retry-after'), attempt);
      if (wait <= maxRetryAfterMs) {
        await sleep(wait);
        continue;
      }
    }
    return { status: res.status, body: parsed, attempts: attempt };
  }
}
