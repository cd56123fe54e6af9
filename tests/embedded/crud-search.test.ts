import type { Bundle, Resource, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.stop();
});

const task = (n: number, extra: Partial<Task> = {}): Task => ({
  resourceType: 'Task',
  status: n % 2 ? 'requested' : 'completed',
  intent: 'order',
  identifier: [{ system: 'urn:example:task', value: `T-${n}` }],
  for: { reference: 'Patient/example-person' },
  owner: { reference: n % 2 ? 'PractitionerRole/example-peer' : 'PractitionerRole/example-clinician' },
  code: { coding: [{ system: 'urn:example:task-code', code: n % 2 ? 'review' : 'follow-up' }] },
  ...extra,
});

async function search(path: string): Promise<Bundle> {
  const res = await h.request('GET', path);
  expect(res.status).toBe(200);
  return (await res.json()) as Bundle;
}
const ids = (b: Bundle): string[] => (b.entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);

describe('create, read and indexed search', () => {
  const created: Task[] = [];
  beforeAll(async () => {
    for (let n = 1; n <= 6; n++) {
      const res = await h.request('POST', 'Task', task(n));
      expect(res.status).toBe(201);
      expect(res.headers.get('location')).toMatch(/\/fhir\/R4\/Task\/[^/]+\/_history\/[^/]+$/);
      const body = (await res.json()) as Task;
      expect(res.headers.get('etag')).toBe(`W/"${body.meta?.versionId}"`);
      created.push(body);
    }
  });

  it('reads a created resource', async () => {
    const res = await h.request('GET', `Task/${created[0]?.id}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as Task).identifier?.[0]?.value).toBe('T-1');
  });

  it('ignores a client-chosen id on create', async () => {
    const res = await h.request('POST', 'Task', task(99, { id: 'chosen-by-client' }));
    const body = (await res.json()) as Task;
    expect(body.id).not.toBe('chosen-by-client');
    await h.request('DELETE', `Task/${body.id}`);
  });

  it('searches by identifier system|value', async () => {
    expect(ids(await search('Task?identifier=urn:example:task|T-3'))).toEqual([`Task/${created[2]?.id}`]);
    expect(ids(await search('Task?identifier=T-3,T-4'))).toHaveLength(2);
    expect(ids(await search('Task?identifier=urn:other|T-3'))).toEqual([]);
    expect(ids(await search('Patient?identifier=urn:example:mrn|MRN-0002'))).toEqual(['Patient/example-person-2']);
  });

  it('searches by patient, subject and owner references', async () => {
    expect((await search('Task?patient=Patient/example-person')).total).toBe(6);
    expect((await search('Task?subject=Patient/example-person-2')).total).toBe(0);
    expect((await search('Task?owner=PractitionerRole/example-peer')).total).toBe(3);
  });

  it('searches by code and status, combined and paged like Medplum', async () => {
    expect((await search('Task?code=review')).total).toBe(3);
    expect((await search('Task?status=completed')).total).toBe(3);
    expect((await search('Task?status=completed&code=review')).total).toBe(0);
    const page = await search('Task?patient=Patient/example-person&_count=2&_offset=1');
    expect(page.total).toBe(6);
    expect(ids(page)).toEqual([`Task/${created[1]?.id}`, `Task/${created[2]?.id}`]);
  });

  it('sorts and includes as Medplum does', async () => {
    const sorted = await search('Task?owner=PractitionerRole/example-peer&_sort=-identifier');
    expect((sorted.entry ?? []).map((e) => (e.resource as Task).identifier?.[0]?.value)).toEqual(['T-5', 'T-3', 'T-1']);
    const inc = await search('Task?identifier=T-1&_include=Task:owner');
    expect(ids(inc)).toEqual([`Task/${created[0]?.id}`, 'PractitionerRole/example-peer']);
    expect(inc.total).toBe(1);
  });

  it('conditional create reuses the match', async () => {
    const res = await h.request('POST', 'Task', task(2), { 'if-none-exist': 'identifier=urn:example:task|T-2' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Resource).id).toBe(created[1]?.id);
    const fresh = await h.request('POST', 'Task', task(7), { 'if-none-exist': 'identifier=urn:example:task|T-7' });
    expect(fresh.status).toBe(201);
    const again = await h.request('POST', 'Task', task(7), { 'if-none-exist': 'identifier=urn:example:task|T-7' });
    expect(again.status).toBe(200);
    expect(((await again.json()) as Resource).id).toBe(((await fresh.json()) as Resource).id);
  });

  it('refuses a stale If-Match with 412 and accepts the current version', async () => {
    const t = created[0] as Task;
    const stale = await h.request('PUT', `Task/${t.id}`, { ...t, status: 'cancelled' }, { 'if-match': 'W/"not-the-version"' });
    expect(stale.status).toBe(412);
    expect(((await stale.json()) as Resource).resourceType).toBe('OperationOutcome');
    const ok = await h.request('PUT', `Task/${t.id}`, { ...t, status: 'cancelled' }, { 'if-match': `W/"${t.meta?.versionId}"` });
    expect(ok.status).toBe(200);
    const history = await search(`Task/${t.id}/_history`);
    expect(history.entry).toHaveLength(2);
    expect((history.entry?.[0]?.resource as Task).status).toBe('cancelled');
  });

  it('refuses a structurally invalid resource with 400 and stores nothing', async () => {
    const before = h.fhir.repo.count();
    const res = await h.request('POST', 'Task', { ...task(50), status: { not: 'a code' }, bogus: true });
    expect(res.status).toBe(400);
    const body = (await res.json()) as Resource;
    expect(body.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+/);
    expect(h.fhir.repo.count()).toBe(before);
  });

  it('refuses a modifier FHIR R4 does not define for the parameter, or spelled otherwise (it was ignored: the opposite answer)', async () => {
    for (const path of [
      'Task?code:NOT=urn:example:task-code|review',
      'Task?code:foo=review',
      'Task?status:Not=requested',
      'Task?authored-on:not=2026-11-15',
      'Task?owner:not=PractitionerRole/example-peer',
      'Task?identifier:exact=T-1',
    ]) {
      const res = await h.request('GET', path);
      expect(res.status, path).toBe(400);
      const outcome = (await res.json()) as { issue?: { diagnostics?: string; details?: { text?: string } }[] };
      expect(JSON.stringify(outcome), path).toContain('FHIR R4 defines');
    }
    // Batch entries' searches too: that entry alone (R4: a batch's entries are answered each on its own).
    const batch = await h.request('POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: 'Task?_summary=count' } },
        { request: { method: 'GET', url: 'Task?code:NOT=review' } },
        { request: { method: 'DELETE', url: 'Task?identifier:Text=x' } },
        { request: { method: 'GET', url: 'Patient?_has:Task:patient:status=requested' } },
        { resource: task(950), request: { method: 'POST', url: 'Task' } },
      ],
    });
    expect(batch.status).toBe(200);
    const answers = ((await batch.json()) as Bundle).entry ?? [];
    expect(answers.map((e) => e.response?.status?.slice(0, 3))).toEqual(['200', '400', '400', '400', '201']);
    expect(JSON.stringify(answers[1]?.response?.outcome)).toContain('FHIR R4 defines');
    expect((answers[0]?.resource as Bundle).total).toBeGreaterThan(0);
    expect((await search('Task?identifier=urn:example:task|T-950')).total).toBe(1);
    // Only refused entries: answered without the router.
    const none = await h.request('POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ request: { method: 'GET', url: 'Task?code:NOT=x' } }],
    });
    expect(((await none.json()) as Bundle).entry?.map((e) => e.response?.status)).toEqual(['400']);
    // A transaction is refused whole.
    const whole = await h.request('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: task(951), request: { method: 'POST', url: 'Task' } },
        { request: { method: 'DELETE', url: 'Task?identifier:NOT=x' } },
      ],
    });
    expect(whole.status).toBe(400);
    expect((await search('Task?identifier=urn:example:task|T-951')).total).toBe(0);
    const not = await search('Task?code:not=urn:example:task-code|review&_count=1000');
    const all = await search('Task?_count=1000');
    const positive = await search('Task?code=urn:example:task-code|review&_count=1000');
    expect(not.total).toBe((all.total ?? 0) - (positive.total ?? 0));
    for (const path of [
      'Task?owner:PractitionerRole=example-peer',
      'Task?owner:missing=false',
      'Task?_tag:not=urn:x|y',
      'Task?_profile:below=http://x',
    ]) {
      expect((await h.request('GET', path)).status, path).toBe(200);
    }
  });

  it('answers _summary=count with the count alone; owner:PractitionerRole=<id> as owner=PractitionerRole/<id>; refuses _has (outside tester)', async () => {
    const count = await search('Task?_summary=count');
    expect(count.entry).toBeUndefined();
    expect(count.total).toBe((await search('Task?_count=1000')).total);
    const typed = await search('Task?owner:PractitionerRole=example-peer&_count=1000');
    const plain = await search('Task?owner=PractitionerRole/example-peer&_count=1000');
    expect(plain.total).toBeGreaterThan(0);
    expect(typed.entry?.map((e) => e.resource?.id)).toEqual(plain.entry?.map((e) => e.resource?.id));
    const has = await h.request('GET', 'Patient?_has:Task:patient:status=requested');
    expect(has.status).toBe(400);
    expect(JSON.stringify(await has.json())).toContain('_has');
  });

  it("refuses a conditional write's criteria with a modifier FHIR R4 does not define (DELETE Flag?identifier:NOT=x deleted x)", async () => {
    const created = (await (await h.request('POST', 'Task', task(901))).json()) as Task;
    const del = await h.request('DELETE', 'Task?identifier:NOT=urn:example:task|T-901');
    expect(del.status).toBe(400);
    expect((await h.request('GET', `Task/${created.id}`)).status).toBe(200);
    expect((await h.request('PUT', 'Task?identifier:exact=T-901', task(901))).status).toBe(400);
    expect((await h.request('POST', 'Task', task(902), { 'if-none-exist': 'identifier:NOT=urn:example:task|T-902' })).status).toBe(400);
    const inTransaction = await h.request('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ request: { method: 'DELETE', url: 'Task?identifier:NOT=urn:example:task|T-901' } }],
    });
    expect(inTransaction.status).toBe(400);
    expect((await h.request('GET', `Task/${created.id}`)).status).toBe(200);
  });

  it("reads a conditional write's criteria as a search reads them: owner:PractitionerRole=<id> finds the match (it created a duplicate)", async () => {
    const created = (await (await h.request('POST', 'Task', task(903))).json()) as Task;
    const criteria = 'owner:PractitionerRole=example-peer&identifier=urn:example:task|T-903';
    expect((await search(`Task?${criteria}`)).total).toBe(1);
    const put = await h.request('PUT', `Task?${criteria}`, { ...task(903), description: 'updated' });
    expect(put.status).toBe(200);
    expect(((await put.json()) as Task).id).toBe(created.id);
    const again = await h.request('POST', 'Task', task(903), { 'if-none-exist': criteria });
    expect(again.status).toBe(200);
    const inBatch = await h.request('POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ resource: task(903), request: { method: 'POST', url: 'Task', ifNoneExist: criteria } }],
    });
    expect(((await inBatch.json()) as Bundle).entry?.[0]?.response?.status?.slice(0, 3)).toBe('200');
    expect((await search('Task?identifier=urn:example:task|T-903')).total).toBe(1);
    for (const [method, path, headers] of [
      ['DELETE', 'Task?owner:PractitionerRole.identifier:NOT=x&identifier=urn:example:task|T-903', {}],
      ['GET', 'Task?owner:Patient=PractitionerRole/example-peer', {}],
      ['POST', 'Task', { 'if-none-exist': 'identifier=urn:example:task|T-903&_offset=1' }],
      ['PUT', 'Task?identifier=urn:example:task|T-903&_include=Task:owner', {}],
    ] as const) {
      const res = await h.request(method, path, method === 'DELETE' || method === 'GET' ? undefined : task(903), headers);
      expect(res.status, `${method} ${path}`).toBe(400);
    }
    expect((await search('Task?identifier=urn:example:task|T-903')).total).toBe(1);
  });

  it('answers a compartment search inside a batch as at the top level', async () => {
    const top = await search('Patient/example-person/Task?_count=1000');
    const res = await h.request('POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ request: { method: 'GET', url: 'Patient/example-person/Task?_count=1000' } }],
    });
    expect(res.status).toBe(200);
    const entry = ((await res.json()) as Bundle).entry?.[0];
    expect(entry?.response?.status).toBe('200');
    expect((entry?.resource as Bundle).total).toBe(top.total);
    expect(top.total).toBeGreaterThan(0);
  });

  it('answers 404 with an OperationOutcome for a missing resource', async () => {
    const res = await h.request('GET', 'Task/does-not-exist');
    expect(res.status).toBe(404);
    expect(((await res.json()) as Resource).resourceType).toBe('OperationOutcome');
  });
});

describe('demo directory', () => {
  it('is loaded with the exact ids', async () => {
    for (const ref of [
      'Organization/example-provider',
      'Practitioner/example-clinician-practitioner',
      'Practitioner/example-peer-practitioner',
      'Practitioner/example-case-manager-practitioner',
      'PractitionerRole/example-clinician',
      'PractitionerRole/example-peer',
      'PractitionerRole/example-case-manager',
      'PractitionerRole/example-on-call',
      'CareTeam/example-outpatient-team',
      'Patient/example-person',
      'Patient/example-person-2',
    ]) {
      expect((await h.request('GET', ref)).status, ref).toBe(200);
    }
    const peer = await search('PractitionerRole?role=http://nucc.org/provider-taxonomy|175T00000X');
    expect(ids(peer)).toEqual(['PractitionerRole/example-peer']);
  });
});
