import type { Basic, Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CircuitBreaker, BreakerOpenError, minimumCalls } from '../../src/fhir/circuit-breaker.js';
import { fhirBackoff, requestedWaitMs, TransientFhirError } from '../../src/fhir/retry.js';
import { fhirUnavailable } from '../../src/outcomes/index.js';
import { isRollbackProbe, probeSystem } from '../../src/fhir/rollback-probe.js';
import { startFaultProxy, type FaultAction } from '../fhir/fault-proxy.js';
import { fixture, startTestService, testToken, type TestService } from '../harness.js';

/** Failing well: a breaker that answers fast while the FHIR server is down, a /ready that tells the truth, no writes to a server that does not roll back. */
let real: TestService;

beforeAll(async () => {
  real = await startTestService({ RATE_LIMIT_PER_MINUTE: '0' });
});
afterAll(async () => {
  await real.close();
});

/** An adapter writing to `real` through a fault proxy whose behaviour the test sets per request. */
async function adapterVia(decide: (body: any, method: string) => FaultAction, env: Record<string, string> = {}) {
  const proxy = await startFaultProxy(real.url, (body, req) => decide(body, req.method ?? 'GET'));
  const svc = await startTestService({
    FHIR_BASE_URL: `${proxy.url}/fhir/R4`,
    FHIR_ACCESS_TOKEN: testToken,
    RATE_LIMIT_PER_MINUTE: '0',
    ...env,
  });
  return {
    svc,
    close: async () => {
      await svc.close();
      await proxy.close();
    },
  };
}

async function probesLeft(): Promise<Basic[]> {
  return (await real.fhir<Basic>('Basic?_count=1000')).filter((b) => b.identifier?.some((i) => i.system === probeSystem));
}

const issueCodes = (body: any) => (body?.issue ?? []).flatMap((i: any) => i.details?.coding ?? []).map((c: any) => c.code);

describe('circuit breaker', () => {
  it('opens when most calls fail, fails fast while open, and lets one probe through after the cool-down', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: 0 });
    try {
      let probes = 0;
      let serverUp = false;
      const breaker = new CircuitBreaker(
        async () => {
          probes++;
          if (!serverUp) throw new Error('down');
        },
        () => true,
        1_000,
      );
      const failing = () => breaker.run(() => Promise.reject(new Error('reset')));
      for (let i = 0; i < minimumCalls; i++) await expect(failing()).rejects.toThrow('reset');
      expect(breaker.state).toBe('open');
      await expect(breaker.run(async () => 'never called')).rejects.toBeInstanceOf(BreakerOpenError);
      vi.advanceTimersByTime(1_000);
      expect(breaker.state).toBe('half-open');
      // Concurrent callers share one probe; it fails, so the breaker opens for another cool-down.
      const both = await Promise.allSettled([breaker.run(async () => 1), breaker.run(async () => 2)]);
      expect(both.map((r) => r.status)).toEqual(['rejected', 'rejected']);
      expect(probes).toBe(1);
      expect(breaker.state).toBe('open');
      vi.advanceTimersByTime(1_000);
      serverUp = true;
      expect(await breaker.run(async () => 'written')).toBe('written');
      expect(breaker.state).toBe('closed');
    } finally {
      vi.useRealTimers();
    }
  });

  it('does not open for a minority of failures (lost answers on a server that still answers reads)', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: 0 });
    try {
      const breaker = new CircuitBreaker(
        async () => undefined,
        () => true,
        1_000,
      );
      for (let i = 0; i < 50; i++) {
        await breaker.run(async () => 'ok');
        if (i % 3 === 0) await breaker.run(() => Promise.reject(new Error('reset'))).catch(() => undefined);
      }
      expect(breaker.state).toBe('closed');
    } finally {
      vi.useRealTimers();
    }
  });

  it('counts an error the server is not to blame for (a 4xx) as an answer, and passes it on unchanged', async () => {
    const breaker = new CircuitBreaker(
      async () => undefined,
      (err) => (err as Error).message !== 'refused',
      1_000,
    );
    for (let i = 0; i < 2 * minimumCalls; i++)
      await expect(breaker.run(() => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    expect(breaker.state).toBe('closed');
  });

  it('When the FHIR server is down, callers soon get a fast 503 with Retry-After; when it is back, the breaker closes', async () => {
    let down = true;
    let reached = 0;
    const { svc, close } = await adapterVia(
      () => {
        reached++;
        return down ? 'reset-before' : 'forward';
      },
      { FHIR_BREAKER_COOLDOWN_MS: '400' },
    );
    try {
      let last: Awaited<ReturnType<TestService['post']>> | undefined;
      for (let i = 0; i < 10 && !JSON.stringify(last?.body ?? '').includes('circuit breaker'); i++) {
        last = await svc.post(fixture('crisis-transition', `cb-${i}`));
        expect(last.status).toBe(503);
      }
      expect(JSON.stringify(last?.body)).toContain('circuit breaker open');
      // While open, a record never reaches the server.
      const before = reached;
      const fast = await svc.post(fixture('crisis-transition', 'cb-open'));
      expect(fast.status).toBe(503);
      expect(Number(fast.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(reached).toBe(before);
      const notReady = await fetch(`${svc.url}/ready`);
      expect(notReady.status).toBe(503);
      expect(JSON.stringify(await notReady.json())).toMatch(/circuit breaker .* (open|half-open)/);

      down = false;
      // After the cool-down the next call probes (metadata), the breaker closes and the record is written.
      let written: Awaited<ReturnType<TestService['post']>> | undefined;
      for (let i = 0; i < 50 && written?.status !== 201; i++) {
        await new Promise((r) => setTimeout(r, 100));
        written = await svc.post(fixture('crisis-transition', 'cb-back'));
      }
      expect(written?.status).toBe(201);
      const ready = await fetch(`${svc.url}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', fhir: 'reachable', breaker: 'closed', transactionRollback: 'verified' });
    } finally {
      await close();
    }
  });
});

describe('transaction rollback check', () => {
  it('When the server rolls back a failed transaction, /ready says so, the probe leaves nothing behind, and it runs once, not per record', async () => {
    let probes = 0;
    const { svc, close } = await adapterVia((body) => {
      if (body?.type === 'transaction' && isRollbackProbe(body)) probes++;
      return 'forward';
    });
    try {
      const ready = await fetch(`${svc.url}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ transactionRollback: 'verified' });
      for (let i = 0; i < 5; i++) expect((await svc.post(fixture('step-down', `rb-ok-${i}`))).status).toBe(201);
      expect(probes).toBe(1);
      expect(await probesLeft()).toEqual([]);
    } finally {
      await close();
    }
  });

  it('When the server runs transactions as batches (Medplum without "transaction-bundles"), writes are refused with 503 and /ready says why', async () => {
    let probes = 0;
    // The proxy turns the probe into a batch: exactly what such a server does with a transaction.
    const { svc, close } = await adapterVia((body: Bundle) => {
      if (body?.type === 'transaction' && isRollbackProbe(body)) {
        probes++;
        return { body: { ...body, type: 'batch' } };
      }
      return 'forward';
    });
    try {
      const res = await svc.post(fixture('crisis-transition', 'rb-batch'));
      expect(res.status).toBe(503);
      expect(issueCodes(res.body)).toContain('fhir-not-atomic');
      expect(JSON.stringify(res.body)).toContain('transaction-bundles');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await real.fhir(`CarePlan?identifier=${encodeURIComponent('urn:example:peer-platform|rb-batch/careplan')}`)).toEqual([]);
      const ready = await fetch(`${svc.url}/ready`);
      expect(ready.status).toBe(503);
      expect(issueCodes(await ready.json())).toContain('fhir-not-atomic');
      // Cached: a second record does not probe again; the probe's first entry was cleaned up.
      expect((await svc.post(fixture('crisis-transition', 'rb-batch-2'))).status).toBe(503);
      expect(probes).toBe(1);
      expect(await probesLeft()).toEqual([]);
    } finally {
      await close();
    }
  });
});

describe("honouring the server's wishes", () => {
  it('reads Retry-After in seconds and as a date, and RateLimit headers when the quota is spent', () => {
    const now = Date.parse('2026-11-20T15:00:00Z');
    expect(requestedWaitMs(new Headers({ 'Retry-After': '3' }), now)).toBe(3_000);
    expect(requestedWaitMs(new Headers({ 'Retry-After': 'Fri, 20 Nov 2026 15:00:07 GMT' }), now)).toBe(7_000);
    expect(requestedWaitMs(new Headers({ RateLimit: 'limit=100, remaining=0, reset=4' }), now)).toBe(4_000);
    expect(requestedWaitMs(new Headers({ RateLimit: '"default";r=0;t=2' }), now)).toBe(2_000);
    expect(requestedWaitMs(new Headers({ RateLimit: 'limit=100, remaining=50, reset=4' }), now)).toBeUndefined();
    expect(requestedWaitMs(new Headers({ 'RateLimit-Remaining': '0', 'RateLimit-Reset': '6' }), now)).toBe(6_000);
    expect(requestedWaitMs(new Headers(), now)).toBeUndefined();
  });

  it('backs off with jitter, doubling up to a ceiling, unless the server named a wait', () => {
    const plain = { error: new Error('reset') };
    let backoff = fhirBackoff.next({ attempt: 1, signal: AbortSignal.abort(), result: plain });
    for (let attempt = 1; attempt <= 8; attempt++) {
      if (attempt > 1) backoff = backoff.next({ attempt, signal: AbortSignal.abort(), result: plain });
      const ceiling = Math.min(2_000, 100 * 2 ** (attempt - 1));
      const wait = backoff.duration;
      expect(wait).toBeGreaterThanOrEqual(ceiling / 2);
      expect(wait).toBeLessThanOrEqual(ceiling);
    }
    const asked = { error: new TransientFhirError(fhirUnavailable('busy', 2), 1_500) };
    expect(fhirBackoff.next({ attempt: 1, signal: AbortSignal.abort(), result: asked }).duration).toBe(1_500);
  });
});
