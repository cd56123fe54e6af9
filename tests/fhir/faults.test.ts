import nock from 'nock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fixture, startTestService, testToken, type TestService } from '../harness.js';
import { isRecordClaim } from '../../src/fhir/record-claim.js';
import { isRollbackProbe } from '../../src/fhir/rollback-probe.js';
import { startFaultProxy } from './fault-proxy.js';

/**
 * Faults a real server cannot be made to show. The adapter under test writes to `http://fhir.test/`,
 * which nock answers: by forwarding to a real embedded FHIR server (`real`), or with a fault.
 */
const fakeBase = 'http://fhir.test';
let real: TestService;
let adapter: TestService;

beforeAll(async () => {
  real = await startTestService();
  adapter = await startTestService({ FHIR_BASE_URL: `${fakeBase}/fhir/R4`, FHIR_ACCESS_TOKEN: testToken, FHIR_TIMEOUT_MS: '5000' });
});
afterAll(async () => {
  await adapter.close();
  await real.close();
});
beforeEach(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});
afterEach(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

/** Forwards one intercepted request to the real embedded server and returns its answer. */
async function forward(method: string, uri: string, body: unknown): Promise<[number, string, Record<string, string>]> {
  const res = await fetch(`${real.url}${uri}`, {
    method,
    headers: { Authorization: `Bearer ${testToken}`, 'Content-Type': 'application/fhir+json' },
    body: method === 'GET' ? undefined : JSON.stringify(body),
  });
  return [res.status, await res.text(), { 'Content-Type': 'application/fhir+json' }];
}

/** Every request forwarded, except record transactions, which `onTransaction` answers (the rollback probe passes). */
function serve(onTransaction: (body: any) => 'error' | 'forward') {
  return (
    nock(fakeBase)
      .persist()
      .post('/fhir/R4/', () => true)
      // nock 15 calls a one-argument reply function with the fetch Request itself.
      .reply(async (request: any) => {
        const uri = new URL(request.url).pathname;
        const body = await request.json();
        if (body?.type !== 'transaction' || isRollbackProbe(body) || isRecordClaim(body)) return forward('POST', uri, body);
        const action = onTransaction(body);
        if (action === 'forward') return forward('POST', uri, body);
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      })
  );
}

async function count(type: string, recordId: string, slot: string): Promise<number> {
  return (await real.bySlot(type, recordId, slot)).length;
}

describe('an unavailable FHIR server', () => {
  it('When the FHIR server answers 503, the caller gets 503 with Retry-After and nothing is written', async () => {
    nock(fakeBase).persist().post('/fhir/R4/').reply(503, { resourceType: 'OperationOutcome', issue: [] });
    const res = await adapter.post(fixture('crisis-transition', 'fault-503'));
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].details.coding[0].code).toBe('fhir-unavailable');
    expect(await count('CarePlan', 'fault-503', 'careplan')).toBe(0);
  });

  it('When the connection resets before the transaction reaches the server, nothing is half-written', async () => {
    serve(() => 'error');
    const res = await adapter.post(fixture('crisis-transition', 'fault-reset'));
    expect(res.status).toBe(503);
    for (const [type, slot] of [
      ['CarePlan', 'careplan'],
      ['Consent', 'consent'],
      ['Task', 'task/first-appointment-tracking'],
    ] as const) {
      expect(await count(type, 'fault-reset', slot)).toBe(0);
    }
  });

  it('When the FHIR server times out, the caller gets 503 quickly', async () => {
    // A server that never answers (nock's delay() answers after the abort and trips undici).
    nock(fakeBase)
      .persist()
      .post('/fhir/R4/')
      .reply(() => new Promise<never>(() => undefined));
    // Its searches too (the record claim is read with a GET search first).
    nock(fakeBase)
      .persist()
      .get(/^\/fhir\/R4\/Basic/)
      .reply(() => new Promise<never>(() => undefined));
    const impatient = await startTestService({
      FHIR_BASE_URL: `${fakeBase}/fhir/R4`,
      FHIR_ACCESS_TOKEN: testToken,
      FHIR_TIMEOUT_MS: '300',
    });
    try {
      const started = Date.now();
      const res = await impatient.post(fixture('crisis-transition', 'fault-timeout'));
      expect(res.status).toBe(503);
      expect(res.body.issue[0].details.text).toMatch(/timed out|could not reach/);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await impatient.close();
    }
  });

  it('When the FHIR server resets the connection after commit, the retry re-reads and creates no duplicate', async () => {
    let mode: 'reset-after' | 'forward' = 'reset-after';
    const proxy = await startFaultProxy(real.url, (body) =>
      body?.type === 'transaction' && !isRollbackProbe(body) && !isRecordClaim(body) ? mode : 'forward',
    );
    const viaProxy = await startTestService({ FHIR_BASE_URL: `${proxy.url}/fhir/R4`, FHIR_ACCESS_TOKEN: testToken });
    try {
      const record = fixture('crisis-transition', 'fault-after-commit');
      // The adapter's own retry re-reads, finds the committed write, and sends nothing more.
      const lost = await viaProxy.post(record);
      expect(lost.status).toBe(200);
      expect(lost.body.outcome).toBe('unchanged');
      await proxy.committed();
      expect(await count('CarePlan', 'fault-after-commit', 'careplan')).toBe(1);
      mode = 'forward';
      const resend = await viaProxy.post(record);
      expect(resend.status).toBe(200);
      expect(resend.body.outcome).toBe('unchanged');
      expect(await count('CarePlan', 'fault-after-commit', 'careplan')).toBe(1);
      expect(await count('Task', 'fault-after-commit', 'task/first-appointment-tracking')).toBe(1);
    } finally {
      await viaProxy.close();
      await proxy.close();
    }
  });

  it("When the server answers 503 once, the adapter's retry writes the record whole", async () => {
    let failures = 1;
    const proxy = await startFaultProxy(real.url, (body) =>
      body?.type === 'transaction' && !isRollbackProbe(body) && !isRecordClaim(body) && failures-- > 0 ? { status: 503 } : 'forward',
    );
    const viaProxy = await startTestService({ FHIR_BASE_URL: `${proxy.url}/fhir/R4`, FHIR_ACCESS_TOKEN: testToken });
    try {
      const record = fixture('crisis-transition', 'fault-503-then-ok');
      const ok = await viaProxy.post(record);
      expect(ok.status).toBe(201);
      expect(await count('CarePlan', 'fault-503-then-ok', 'careplan')).toBe(1);
    } finally {
      await viaProxy.close();
      await proxy.close();
    }
  });
});
