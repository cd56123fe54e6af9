import type { Bundle, BundleEntry, Patient, Resource, Task } from '@medplum/fhirtypes';
import { parseSearchRequest } from '@medplum/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

// A transaction of creates and updates is prepared without the write lock and written under it only if what
// it was decided on still holds (repository.ts withTransaction): concurrent ones must end exactly as if each
// had run wholly under the lock, one after the other.
describe('prepared transactions', () => {
  it('concurrent If-Match updates of one version: one wins, the others are 412, nothing else is written', async () => {
    const created = await h.request('POST', 'Task', newTask('PREP-1', 'Patient/example-person'));
    const task = (await created.json()) as Task;
    const versions = h.fhir.repo.versionCount();
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        h.request(
          'POST',
          '',
          tx([
            {
              fullUrl: 'urn:uuid:0c1f6c1e-6c9a-4d8e-9a51-3f2b4a6d7e0' + i,
              resource: newTask(`PREP-1-${i}`, 'Patient/example-person'),
              request: { method: 'POST', url: 'Task' },
            },
            {
              resource: { ...task, description: `winner ${i}` },
              request: { method: 'PUT', url: `Task/${task.id}`, ifMatch: `W/"${task.meta?.versionId}"` },
            },
          ]),
        ),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 412, 412, 412, 412, 412]);
    const winner = results.findIndex((r) => r.status === 200);
    const current = (await (await h.request('GET', `Task/${task.id}`)).json()) as Task;
    expect(current.description).toBe(`winner ${winner}`);
    // The winner's two versions, and nothing of the refused transactions (their creates neither).
    expect(h.fhir.repo.versionCount()).toBe(versions + 2);
    const made = (await (await h.request('GET', 'Task?identifier=urn:example:task|PREP-1-' + winner)).json()) as Bundle;
    expect(made.total).toBe(1);
  });

  it('meta.lastUpdated is when the write was made: a transaction prepared before another but written after it is stamped after it', async () => {
    const repo = h.fhir.repo;
    const first = repo.versionCount();
    let resumeSlow!: () => void;
    const slowStarted = new Promise<void>((started) => {
      void repo.withTransaction(async (tx) => {
        await tx.createResource(newTask('STAMP-slow-1', 'Patient/example-person'));
        started();
        // Prepared entries wait while another transaction is prepared and written.
        await new Promise<void>((resume) => (resumeSlow = resume));
        await tx.createResource(newTask('STAMP-slow-2', 'Patient/example-person'));
      });
    });
    await slowStarted;
    await new Promise((r) => setTimeout(r, 5));
    await repo.withTransaction((tx) => tx.createResource(newTask('STAMP-fast', 'Patient/example-person')));
    await new Promise((r) => setTimeout(r, 5));
    resumeSlow();
    await expect.poll(() => repo.versionCount()).toBe(first + 3);
    const rows = repo.database.prepare('SELECT content FROM versions ORDER BY vid DESC LIMIT 3').all() as { content: string }[];
    const written = rows.reverse().map((r) => JSON.parse(r.content) as Task);
    expect(written.map((t) => t.identifier?.[0]?.value)).toEqual(['STAMP-fast', 'STAMP-slow-1', 'STAMP-slow-2']);
    const stamps = written.map((t) => t.meta?.lastUpdated as string);
    expect(stamps).toEqual([...stamps].sort());
    expect(stamps[1]! > stamps[0]!).toBe(true);
    // What a _lastUpdated search finds is what was stored.
    const found = (await (await h.request('GET', `Task?identifier=STAMP-slow-1`)).json()) as Bundle<Task>;
    expect(found.entry?.[0]?.resource?.meta?.lastUpdated).toBe(stamps[1]);
    const since = (await (await h.request('GET', `Task?_lastUpdated=ge${stamps[1]}&identifier=STAMP-slow-1`)).json()) as Bundle;
    expect(since.total).toBe(1);
  });

  /**
   * Runs a transaction in two steps: `before`, then a wait until released, then `after`. Only its first
   * run (the prepare) waits: a transaction run again under the lock runs straight through, as Medplum's
   * re-run of a transaction's entries does.
   */
  function paused(steps: { before: (tx: typeof h.fhir.repo) => Promise<unknown>; after: (tx: typeof h.fhir.repo) => Promise<unknown> }) {
    let release!: () => void;
    let started!: () => void;
    const ready = new Promise<void>((r) => (started = r));
    const released = new Promise<void>((r) => (release = r));
    let runs = 0;
    const done = h.fhir.repo.withTransaction(async (tx) => {
      runs++;
      await steps.before(tx);
      started();
      await released;
      return steps.after(tx);
    });
    done.catch(() => undefined);
    return { ready, release: () => release(), done, runs: () => runs };
  }

  it('an If-Match update prepared against a version another transaction then replaced is 412, as under the lock', async () => {
    const task = (await h.fhir.repo.createResource(newTask('PREP-2', 'Patient/example-person'))) as Task;
    const slow = paused({
      before: (tx) => tx.updateResource({ ...task, description: 'slow' }, { ifMatch: task.meta?.versionId }),
      after: (tx) => tx.createResource(newTask('PREP-2-slow', 'Patient/example-person')),
    });
    await slow.ready;
    await h.fhir.repo.withTransaction((tx) => tx.updateResource({ ...task, description: 'fast' }, { ifMatch: task.meta?.versionId }));
    slow.release();
    await expect(slow.done).rejects.toThrow(/Precondition Failed/);
    // Prepared, then run again under the lock, where If-Match decided.
    expect(slow.runs()).toBe(2);
    expect(((await h.fhir.repo.readResource('Task', task.id as string)) as Task).description).toBe('fast');
    expect(((await (await h.request('GET', 'Task?identifier=PREP-2-slow')).json()) as Bundle).total).toBe(0);
  });

  it('a create prepared with an id another transaction then took is refused, as under the lock', async () => {
    const id = 'prep-3-assigned';
    const slow = paused({
      before: (tx) => tx.createResource({ ...newTask('PREP-3-slow', 'Patient/example-person'), id }, { assignedId: true }),
      after: async () => undefined,
    });
    await slow.ready;
    await h.fhir.repo.withTransaction((tx) =>
      tx.createResource({ ...newTask('PREP-3-fast', 'Patient/example-person'), id }, { assignedId: true }),
    );
    slow.release();
    await expect(slow.done).rejects.toThrow(/already in use/);
    expect(slow.runs()).toBe(2);
    expect(((await h.fhir.repo.readResource('Task', id)) as Task).identifier?.[0]?.value).toBe('PREP-3-fast');
  });

  it('a conditional create prepared while another transaction creates the match returns that match: one resource, never two', async () => {
    const search = parseSearchRequest<Task>('Task?identifier=urn:example:task|PREP-4');
    let slowResult: { resource: Task; outcome: unknown } | undefined;
    const slow = paused({
      before: async (tx) => (slowResult = await tx.conditionalCreate(newTask('PREP-4', 'Patient/example-person'), search)),
      after: async () => slowResult,
    });
    await slow.ready;
    // Prepared: it found no match, and would create one.
    expect(slowResult?.outcome).toMatchObject({ id: 'created' });
    const fast = await h.fhir.repo.withTransaction((tx) => tx.conditionalCreate(newTask('PREP-4', 'Patient/example-person'), search));
    expect(fast.outcome).toMatchObject({ id: 'created' });
    slow.release();
    // Decided again under the lock: the match the other one made.
    const decided = (await slow.done) as { resource: Task; outcome: unknown };
    expect(decided.outcome).toMatchObject({ id: 'ok' });
    expect(decided.resource.id).toBe(fast.resource.id);
    expect(slow.runs()).toBe(2);
    expect(((await (await h.request('GET', 'Task?identifier=urn:example:task|PREP-4')).json()) as Bundle).total).toBe(1);
  });
});

describe('transactions with conditional entries, on disk', () => {
  let d: Harness;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tx-conditional-'));
    d = await startHarness({ dataDir: dir });
  });
  afterAll(async () => {
    await d?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // Medplum's router resolves a conditional entry's identity (and rewrites the references to it) before its
  // transaction starts: decided outside the write lock, another transaction could create the match between
  // the two, and the Tasks pointed at a Patient never written (outside tester; medplum/medplum#10177).
  it('concurrent transactions conditionally creating one Patient and a Task for it: every Task points at the one Patient', async () => {
    const h = d;
    for (let round = 0; round < 4; round++) {
      const identifier = `urn:example:cond-ref|round-${round}`;
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          h.request(
            'POST',
            '',
            tx([
              {
                fullUrl: 'urn:uuid:5b0c3e1a-8f7d-4c2b-9a6e-1d2c3b4a5f60',
                resource: { resourceType: 'Patient', identifier: [{ system: 'urn:example:cond-ref', value: `round-${round}` }] },
                request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${identifier}` },
              },
              {
                resource: newTask(`COND-REF-${round}-${i}`, 'urn:uuid:5b0c3e1a-8f7d-4c2b-9a6e-1d2c3b4a5f60'),
                request: { method: 'POST', url: 'Task' },
              },
            ]),
          ),
        ),
      );
      expect(results.every((r) => r.status === 200)).toBe(true);
      const patients = ((await (await h.request('GET', `Patient?identifier=${identifier}`)).json()) as Bundle<Patient>).entry ?? [];
      expect(patients).toHaveLength(1);
      const tasks = ((await (await h.request('GET', `Task?identifier=urn:example:task|&_count=1000`)).json()) as Bundle<Task>).entry ?? [];
      const mine = tasks.filter((e) => e.resource?.identifier?.[0]?.value?.startsWith(`COND-REF-${round}-`));
      expect(mine).toHaveLength(30);
      expect(new Set(mine.map((e) => e.resource?.for?.reference))).toEqual(new Set([`Patient/${patients[0]?.resource?.id}`]));
    }
  });

  it('concurrent conditional updates of an Organization that does not exist yet: created once, then updated by every other', async () => {
    const h = d;
    const identifier = 'urn:example:cond-update|org-1';
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        h.request(
          'POST',
          '',
          tx([
            {
              resource: {
                resourceType: 'Organization',
                name: `writer ${i}`,
                identifier: [{ system: 'urn:example:cond-update', value: 'org-1' }],
              },
              request: { method: 'PUT', url: `Organization?identifier=${identifier}` },
            },
            { resource: newTask(`COND-UPD-${i}`, 'Patient/example-person'), request: { method: 'POST', url: 'Task' } },
          ]),
        ),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 20 }, () => 200));
    const orgs = ((await (await h.request('GET', `Organization?identifier=${identifier}`)).json()) as Bundle).entry ?? [];
    expect(orgs).toHaveLength(1);
    const history = (await (await h.request('GET', `Organization/${orgs[0]?.resource?.id}/_history`)).json()) as Bundle;
    expect(history.entry).toHaveLength(20);
  });

  it('a conditional update racing a change of its match: serial either way, never an update of what no longer matches', async () => {
    const h = d;
    for (let round = 0; round < 15; round++) {
      const x = `urn:example:cond-race|x-${round}`;
      const created = (await (
        await h.request('POST', 'Organization', {
          resourceType: 'Organization',
          name: 'orig',
          identifier: [{ system: 'urn:example:cond-race', value: `x-${round}` }],
        })
      ).json()) as Resource;
      const padding = Array.from({ length: 30 }, () => ({
        resource: { resourceType: 'Basic', code: { text: 'padding' } },
        request: { method: 'POST', url: 'Basic' },
      }));
      const [t2, t1] = await Promise.all([
        h.request(
          'POST',
          '',
          tx([
            ...padding,
            {
              resource: {
                resourceType: 'Organization',
                name: 'T2',
                identifier: [{ system: 'urn:example:cond-race', value: `x-${round}` }],
              },
              request: { method: 'PUT', url: `Organization?identifier=${x}` },
            },
          ] as BundleEntry[]),
        ),
        new Promise((r) => setTimeout(r, round % 5)).then(() =>
          h.request('PUT', `Organization/${created.id}`, {
            resourceType: 'Organization',
            id: created.id,
            name: 'T1',
            identifier: [{ system: 'urn:example:cond-race', value: `y-${round}` }],
          }),
        ),
      ]);
      expect([t2.status, t1.status]).toEqual([200, 200]);
      const names = (((await (await h.request('GET', `Organization/${created.id}/_history`)).json()) as Bundle).entry ?? [])
        .map((e) => (e.resource as { name?: string }).name)
        .reverse();
      // T2 first (it updated the original, then T1 moved it), or T1 first (T2 then matched nothing: a new one).
      expect([JSON.stringify(['orig', 'T2', 'T1']), JSON.stringify(['orig', 'T1'])]).toContain(JSON.stringify(names));
      const matching = ((await (await h.request('GET', `Organization?identifier=${x}`)).json()) as Bundle).entry ?? [];
      expect(matching.map((e) => (e.resource as { name?: string }).name)).toEqual(names.length === 2 ? ['T2'] : []);
    }
  });

  it('concurrent batches, each a conditional create and a conditional update of a new Patient: every entry succeeds, one Patient', async () => {
    const h = d;
    for (let round = 0; round < 3; round++) {
      const identifier = `urn:example:batch-race|p-${round}`;
      const results = await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const res = await h.request('POST', '', {
            resourceType: 'Bundle',
            type: 'batch',
            entry: [
              {
                resource: {
                  resourceType: 'Basic',
                  code: { text: 'marker' },
                  identifier: [{ system: 'urn:example:batch-race', value: `b-${round}-${i}` }],
                },
                request: { method: 'POST', url: 'Basic', ifNoneExist: `identifier=urn:example:batch-race|b-${round}-${i}` },
              },
              {
                resource: {
                  resourceType: 'Patient',
                  identifier: [{ system: 'urn:example:batch-race', value: `p-${round}` }],
                  gender: 'other',
                },
                request: { method: 'PUT', url: `Patient?identifier=${identifier}` },
              },
            ],
          } satisfies Bundle);
          return ((await res.json()) as Bundle).entry?.map((e) => e.response?.status?.slice(0, 3));
        }),
      );
      for (const statuses of results)
        expect(
          statuses?.every((st) => st === '200' || st === '201'),
          JSON.stringify(statuses),
        ).toBe(true);
      expect(((await (await h.request('GET', `Patient?identifier=${identifier}`)).json()) as Bundle).total).toBe(1);
    }
  });

  it('a batch under the lock keeps each entry all or nothing: a failing entry leaves nothing, the others are kept', async () => {
    const h = d;
    const res = await h.request('POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        {
          resource: newTask('BATCH-KEPT-1', 'Patient/example-person'),
          request: { method: 'POST', url: 'Task', ifNoneExist: 'identifier=urn:example:task|BATCH-KEPT-1' },
        },
        {
          resource: { resourceType: 'Task', status: 42, intent: 'order' } as unknown as Resource,
          request: { method: 'POST', url: 'Task' },
        },
        { resource: newTask('BATCH-KEPT-2', 'Patient/example-person'), request: { method: 'POST', url: 'Task' } },
      ],
    } satisfies Bundle);
    expect(res.status).toBe(200);
    const statuses = ((await res.json()) as Bundle).entry?.map((e) => e.response?.status?.slice(0, 3));
    expect(statuses?.[0]).toBe('201');
    expect(statuses?.[1]).toBe('400');
    expect(statuses?.[2]).toBe('201');
    for (const id of ['BATCH-KEPT-1', 'BATCH-KEPT-2']) {
      expect(((await (await h.request('GET', `Task?identifier=urn:example:task|${id}`)).json()) as Bundle).total).toBe(1);
    }
  });
});
