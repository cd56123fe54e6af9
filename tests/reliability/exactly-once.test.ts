import type { Bundle, Resource, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isRecordClaim } from '../../src/fhir/record-claim.js';
import { isRollbackProbe } from '../../src/fhir/rollback-probe.js';
import { startFaultProxy, type FaultAction } from '../fhir/fault-proxy.js';
import { fixture, startTestService, testToken, type TestService } from '../harness.js';

/**
 * Nothing lost, nothing doubled: the adapter writes through a loopback fault proxy to a real embedded
 * FHIR server (`real`); each test decides what the proxy does to the record transactions.
 */
const source = 'urn:example:peer-platform';
let real: TestService;
let adapter: TestService;
let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
let onTransaction: (body: Bundle) => FaultAction;
let transactions = 0;

beforeAll(async () => {
  real = await startTestService({ RATE_LIMIT_PER_MINUTE: '0' });
  proxy = await startFaultProxy(real.url, (body) => {
    if (body?.type !== 'transaction' || isRollbackProbe(body) || isRecordClaim(body)) return 'forward';
    transactions++;
    return onTransaction(body);
  });
  adapter = await startTestService({ FHIR_BASE_URL: `${proxy.url}/fhir/R4`, FHIR_ACCESS_TOKEN: testToken, RATE_LIMIT_PER_MINUTE: '0' });
});
afterAll(async () => {
  await adapter.close();
  await proxy.close();
  await real.close();
});
beforeEach(() => {
  onTransaction = () => 'forward';
  transactions = 0;
});

/** How many resources of `type` carry each identifier value of a record (the record's slots). */
async function copiesBySlot(type: string, recordIdPrefix: string): Promise<Map<string, number>> {
  const all = await real.fhirAll(`${type}?_count=1000`);
  const counts = new Map<string, number>();
  for (const r of all as (Resource & { identifier?: { system?: string; value?: string }[] })[]) {
    const id = r.identifier?.find((i) => i.system === source)?.value;
    if (id?.startsWith(recordIdPrefix)) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

async function expectOneEach(
  recordIdPrefix: string,
  types = ['CarePlan', 'Consent', 'Task', 'Communication', 'Encounter'],
): Promise<number> {
  let slots = 0;
  for (const type of types) {
    const counts = await copiesBySlot(type, recordIdPrefix);
    for (const [slot, n] of counts) expect(n, `${type} ${slot}`).toBe(1);
    slots += counts.size;
  }
  return slots;
}

describe('retries', () => {
  it('When the FHIR server answers 503 twice, the adapter retries and the caller gets 201 once', async () => {
    let failures = 2;
    onTransaction = () => (failures-- > 0 ? { status: 503 } : 'forward');
    const res = await adapter.post(fixture('crisis-transition', 'eo-503-twice'));
    expect(res.status).toBe(201);
    expect(res.body.outcome).toBe('created');
    expect(transactions).toBe(3);
    expect(await expectOneEach('eo-503-twice/')).toBeGreaterThan(3);
  });

  it('When the FHIR server answers 429 with Retry-After, the adapter waits as asked and then writes', async () => {
    let failures = 1;
    onTransaction = () => (failures-- > 0 ? { status: 429, headers: { 'Retry-After': '1' } } : 'forward');
    const res = await adapter.post(fixture('crisis-transition', 'eo-429'));
    expect(res.status).toBe(201);
    expect(transactions).toBe(2);
  });

  it('When the FHIR server asks for a longer wait than a caller is held, the caller gets 503 with that Retry-After at once', async () => {
    onTransaction = () => ({ status: 503, headers: { 'Retry-After': '120' } });
    const res = await adapter.post(fixture('crisis-transition', 'eo-long-wait'));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('120');
    expect(transactions).toBe(1);
    expect(await copiesBySlot('CarePlan', 'eo-long-wait/')).toEqual(new Map());
  });
});

describe('lost answers', () => {
  it('When the connection resets after the server committed, the retry re-reads and nothing is doubled (100 records)', async () => {
    const reset = new Set<string>();
    // The first transaction of each record is committed, then its answer is lost.
    onTransaction = (body) => {
      const id = (body.entry?.[0]?.resource as { identifier?: { value?: string }[] })?.identifier?.[0]?.value?.split('/')[0] ?? '';
      if (reset.has(id)) return 'forward';
      reset.add(id);
      return 'reset-after';
    };
    const ids = Array.from({ length: 100 }, (_, i) => `eo-reset-${String(i).padStart(3, '0')}`);
    const statuses: number[] = [];
    for (let i = 0; i < ids.length; i += 10) {
      const batch = await Promise.all(ids.slice(i, i + 10).map((id) => adapter.post(fixture('crisis-transition', id))));
      statuses.push(...batch.map((r) => r.status));
    }
    expect(
      statuses.every((s) => s === 200 || s === 201),
      JSON.stringify(statuses),
    ).toBe(true);
    expect(reset.size).toBe(100);
    const carePlans = await copiesBySlot('CarePlan', 'eo-reset-');
    expect(carePlans.size).toBe(100);
    await expectOneEach('eo-reset-');
  });
});

describe('concurrency', () => {
  it('When the same record is sent 20 times at once, one set of resources is written', async () => {
    const record = fixture('crisis-transition', 'eo-concurrent');
    const answers = await Promise.all(Array.from({ length: 20 }, () => adapter.post(record)));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(19);
    expect(await expectOneEach('eo-concurrent/')).toBeGreaterThan(3);
  });

  it('When a clinician changes a Task between our read and our write, the adapter re-reads and keeps their change', async () => {
    const first = fixture('crisis-transition', 'eo-conflict');
    expect((await adapter.post(first)).status).toBe(201);
    const [task] = await real.fhir<Task>(`Task?identifier=${encodeURIComponent(`${source}|eo-conflict/task/first-appointment-tracking`)}`);
    let clinicianEdits = 0;
    transactions = 0;
    onTransaction = (body) => {
      const touchesTask = body.entry?.some((e) => e.request?.method === 'PUT' && e.request.url === `Task/${task!.id}`);
      if (!touchesTask || clinicianEdits > 0) return 'forward';
      clinicianEdits++;
      return {
        before: async () => {
          const res = await real.fhirRaw(`Task/${task!.id}`, {
            method: 'PUT',
            body: JSON.stringify({ ...task, status: 'accepted', note: [{ text: 'Clinician accepted' }] }),
          });
          expect(res.status).toBe(200);
        },
      };
    };
    const moved = fixture('crisis-transition', 'eo-conflict');
    moved.firstAppointment.date = '2026-11-27';
    const res = await adapter.post(moved);
    expect(res.status).toBe(200);
    expect(clinicianEdits).toBe(1);
    // The first write met the clinician's version (412) and was re-planned; the second left the Task alone.
    expect(transactions).toBe(2);
    const current = (await real.fhir<Task>(`Task?_id=${task!.id}`))[0];
    expect(current?.status).toBe('accepted');
    expect(current?.note?.[0]?.text).toBe('Clinician accepted');
    expect(current?.description).toBe(task!.description);
  });
});
