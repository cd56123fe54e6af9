import type { Bundle, BundleEntry, Patient, Resource, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.stop();
});

const tx = (entry: BundleEntry[]): Bundle => ({ resourceType: 'Bundle', type: 'transaction', entry });
const newTask = (value: string, forRef: string): Task => ({
  resourceType: 'Task',
  status: 'requested',
  intent: 'order',
  identifier: [{ system: 'urn:example:task', value }],
  for: { reference: forRef },
});

async function snapshot(): Promise<{ count: number; versions: number; history: number }> {
  const res = await h.request('GET', 'Patient/example-person/_history');
  const history = ((await res.json()) as Bundle).entry?.length ?? 0;
  return { count: h.fhir.repo.count(), versions: h.fhir.repo.versionCount(), history };
}

describe('transactions', () => {
  it('commits every entry, rewriting urn:uuid references', async () => {
    const res = await h.request(
      'POST',
      '',
      tx([
        {
          fullUrl: 'urn:uuid:1b0c7a52-0d4c-4a38-9a5f-1d6f0e9c0001',
          resource: { resourceType: 'Patient', identifier: [{ system: 'urn:example:mrn', value: 'MRN-0100' }] },
          request: { method: 'POST', url: 'Patient' },
        },
        { resource: newTask('TX-1', 'urn:uuid:1b0c7a52-0d4c-4a38-9a5f-1d6f0e9c0001'), request: { method: 'POST', url: 'Task' } },
      ]),
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as Bundle;
    expect(body.type).toBe('transaction-response');
    const search = (await (await h.request('GET', 'Task?identifier=TX-1')).json()) as Bundle;
    const patientId = body.entry?.[0]?.response?.location?.split('/')[1];
    expect((search.entry?.[0]?.resource as Task).for?.reference).toBe(`Patient/${patientId}`);
  });

  it('leaves the store unchanged when a later entry is invalid', async () => {
    const person = (await (await h.request('GET', 'Patient/example-person')).json()) as Patient;
    const before = await snapshot();
    const res = await h.request(
      'POST',
      '',
      tx([
        { resource: newTask('TX-2', 'Patient/example-person'), request: { method: 'POST', url: 'Task' } },
        { resource: { ...person, gender: 'female' }, request: { method: 'PUT', url: 'Patient/example-person' } },
        {
          resource: { resourceType: 'Task', status: 42, intent: 'order' } as unknown as Resource,
          request: { method: 'POST', url: 'Task' },
        },
      ]),
    );
    expect(res.status).toBe(400);
    expect(((await res.json()) as Resource).resourceType).toBe('OperationOutcome');
    expect(await snapshot()).toEqual(before);
    const after = (await (await h.request('GET', 'Patient/example-person')).json()) as Patient;
    expect(after).toEqual(person);
    expect(((await (await h.request('GET', 'Task?identifier=TX-2')).json()) as Bundle).total).toBe(0);
  });

  it('leaves the store unchanged when a later entry fails If-Match (412)', async () => {
    const person = (await (await h.request('GET', 'Patient/example-person')).json()) as Patient;
    const before = await snapshot();
    const res = await h.request(
      'POST',
      '',
      tx([
        {
          resource: newTask('TX-3', 'Patient/example-person'),
          request: { method: 'POST', url: 'Task', ifNoneExist: 'identifier=urn:example:task|TX-3' },
        },
        { resource: { ...person, gender: 'male' }, request: { method: 'PUT', url: 'Patient/example-person', ifMatch: 'W/"stale"' } },
      ]),
    );
    expect(res.status).toBe(412);
    expect(await snapshot()).toEqual(before);
    expect(((await (await h.request('GET', 'Task?identifier=TX-3')).json()) as Bundle).total).toBe(0);
  });

  it('keeps Medplum’s cap: more than 8 entries with a conditional one is refused', async () => {
    const before = await snapshot();
    const entries: BundleEntry[] = Array.from({ length: 9 }, (_, i) => ({
      resource: newTask(`CAP-${i}`, 'Patient/example-person'),
      request: { method: 'POST', url: 'Task', ...(i === 0 ? { ifNoneExist: `identifier=CAP-${i}` } : {}) },
    }));
    const res = await h.request('POST', '', tx(entries));
    expect(res.status).toBe(400);
    expect(await snapshot()).toEqual(before);
  });

  it('serializes concurrent conditional creates: one resource per identifier', async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        h.request('POST', 'Task', newTask('RACE-1', 'Patient/example-person'), { 'if-none-exist': 'identifier=urn:example:task|RACE-1' }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(((await (await h.request('GET', 'Task?identifier=RACE-1')).json()) as Bundle).total).toBe(1);
  });
});
