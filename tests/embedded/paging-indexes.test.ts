import { parseSearchRequest } from '@medplum/core';
import { MemoryRepository } from '@medplum/fhir-router';
import type { Bundle, BundleEntry, CarePlan, Encounter, Resource, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SearchResultCache } from '../../src/embedded/search-cache.js';
import { startHarness, type Harness } from './harness.js';

// The embedded server's indexed, cached and linked searches against Medplum's plain MemoryRepository
// holding the same resources in the same order: the results must be identical.

const sys = 'urn:example:paging';
const profile = (name: string) => `http://example.org/fhir/StructureDefinition/${name}`;
let h: Harness;
const oracle = new MemoryRepository();
const stored: Resource[] = [];

async function create(resource: Resource): Promise<Resource> {
  const res = await h.request('POST', resource.resourceType, resource);
  expect(res.status).toBe(201);
  const body = (await res.json()) as Resource;
  stored.push(body);
  return body;
}

/** Puts the oracle in step with the server (same versions, same creation order). */
async function syncOracle(): Promise<void> {
  oracle.clear();
  for (const r of stored) {
    const current = (await (await h.request('GET', `${r.resourceType}/${r.id}`)).json()) as Resource;
    if (current.resourceType === 'OperationOutcome') continue;
    await oracle.withSeeding(() => oracle.createResource(current, undefined, true));
  }
}

const pad = (n: number) => String(n).padStart(2, '0');
const ids = (b: Bundle): string[] => (b.entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);

async function get(path: string): Promise<Bundle> {
  const res = await h.request('GET', path);
  expect(res.status, path).toBe(200);
  return (await res.json()) as Bundle;
}

async function expected(path: string): Promise<Bundle> {
  return oracle.search(parseSearchRequest(path));
}

/** Every page of a search, following next links. */
async function allPages(path: string): Promise<{ entries: BundleEntry[]; pages: Bundle[] }> {
  const pages: Bundle[] = [];
  let bundle = await get(path);
  for (;;) {
    pages.push(bundle);
    const next = bundle.link?.find((l) => l.relation === 'next')?.url;
    if (!next) break;
    expect(next.startsWith(h.base)).toBe(true);
    const res = await fetch(next, { headers: { authorization: 'Bearer test-static-token' } });
    bundle = (await res.json()) as Bundle;
  }
  return { entries: pages.flatMap((p) => p.entry ?? []), pages };
}

beforeAll(async () => {
  h = await startHarness({ loadDemoDirectory: false });
  const kinds = ['step-down', 'early-engagement', 'crisis'];
  let previous: Resource | undefined;
  for (let n = 0; n < 30; n++) {
    const plan = await create({
      resourceType: 'CarePlan',
      status: n % 4 ? 'active' : 'completed',
      intent: 'plan',
      subject: { reference: `Patient/p-${n % 3}` },
      category: [{ coding: [{ system: sys, code: kinds[n % 3] as string }] }],
      meta: {
        profile: [profile(n % 2 ? 'peer-pathway-careplan' : 'other-careplan')],
        tag: [{ system: `${sys}-record`, code: `rec-${n % 5}` }],
      },
      title: `plan ${(n * 7) % 30}`,
      ...(n % 2 ? { period: { start: `2026-01-${pad(1 + (n % 28))}` } } : {}),
    } satisfies CarePlan);
    previous = await create({
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: sys, code: 'peer' },
      subject: { reference: `Patient/p-${n % 3}` },
      type: [{ coding: [{ system: sys, code: n % 2 ? 'peer-support-contact' : 'crisis-contact' }] }],
      ...(previous ? { partOf: { reference: `Encounter/${previous.id}` } } : {}),
      period: {
        start: `2026-01-${pad(1 + (n % 28))}T09:00:00+01:00`,
        ...(n % 3 ? { end: `2026-01-${pad(1 + (n % 28))}T23:30:00-05:00` } : {}),
      },
    } satisfies Encounter);
    await create({
      resourceType: 'Task',
      status: 'requested',
      intent: 'order',
      focus: { reference: `CarePlan/${plan.id}` },
      code: { coding: [{ system: sys, code: n % 3 ? 'clinical-review' : 'outcome-review' }] },
      for: { reference: `Patient/p-${n % 3}` },
      owner: { reference: `PractitionerRole/role-${n % 2}` },
      authoredOn:
        n % 4 ? `2026-${pad(1 + (n % 12))}-${pad(1 + (n % 28))}T23:30:00+02:00` : `2026-${pad(1 + (n % 12))}-${pad(1 + (n % 28))}`,
    } satisfies Task);
  }
  await syncOracle();
});
afterAll(async () => {
  await h?.stop();
});

describe('next links', () => {
  const searches = [
    'CarePlan?_count=7',
    `CarePlan?category=${sys}|step-down,${sys}|crisis&_count=3`,
    'CarePlan?_sort=title&_count=4',
    'CarePlan?_sort=-title,status&_count=5&_offset=2',
    `Task?code=${sys}|clinical-review&_include=Task:focus&_count=6`,
    'Encounter?subject=Patient/p-1&_count=1',
  ];

  it.each(searches)('%s: the pages concatenated are the whole result, once each', async (path) => {
    const { entries, pages } = await allPages(path);
    const unpaged = await expected(
      path.replace(/&?_count=\d+/, '').replace(/&?_offset=\d+/, '') +
        (path.includes('?') ? '&' : '?') +
        `_count=1000&_offset=${/_offset=(\d+)/.exec(path)?.[1] ?? 0}`,
    );
    const matches = entries.filter((e) => e.search?.mode === 'match');
    expect(matches.map((e) => e.resource?.id)).toEqual(
      (unpaged.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource?.id),
    );
    expect(new Set(matches.map((e) => e.resource?.id)).size).toBe(matches.length);
    expect(pages.every((p) => p.total === unpaged.total)).toBe(true);
    const last = pages[pages.length - 1] as Bundle;
    expect(last.link?.some((l) => l.relation === 'next')).toBe(false);
    expect(pages[0]?.link?.find((l) => l.relation === 'self')?.url.startsWith(`${h.base}${path.split('?')[0]}?`)).toBe(true);
    if (path.includes('_include')) {
      expect(entries.some((e) => e.search?.mode === 'include')).toBe(true);
    }
  });

  it('has no next link on a result of one page, nor without _count (read as pages of 1,000, as on a Medplum server)', async () => {
    const one = await get('CarePlan?_count=100');
    expect(one.link?.map((l) => l.relation)).toEqual(['self', 'first']);
    const all = await get('CarePlan');
    expect(all.link?.map((l) => l.relation)).toEqual(['self', 'first']);
    expect(all.link?.find((l) => l.relation === 'self')?.url).toContain('_count=1000');
    expect(all.entry).toHaveLength(30);
  });

  it('a write between two pages is seen by the next page, exactly as re-running the search would', async () => {
    const first = await get('Task?status=requested&_count=10');
    const victim = first.entry?.[0]?.resource as Task;
    const res = await h.request('PUT', `Task/${victim.id}`, { ...victim, status: 'completed' });
    expect(res.status).toBe(200);
    await syncOracle();
    const next = first.link?.find((l) => l.relation === 'next')?.url as string;
    const second = (await (await fetch(next, { headers: { authorization: 'Bearer test-static-token' } })).json()) as Bundle;
    expect(ids(second)).toEqual(ids(await expected('Task?status=requested&_count=10&_offset=10')));
    expect(second.total).toBe(29);
    await h.request('PUT', `Task/${victim.id}`, { ...victim, status: 'requested' });
    await syncOracle();
  });
});

describe('indexed searches equal an unindexed scan', () => {
  const searches = [
    `CarePlan?category=${sys}|step-down`,
    'CarePlan?category=early-engagement,crisis',
    `CarePlan?category=${sys}|`,
    `CarePlan?_profile=${profile('peer-pathway-careplan')}`,
    '_profile=peer-pathway'.replace(/^/, 'CarePlan?'),
    `CarePlan?_profile=${profile('PEER-pathway-careplan').toUpperCase()}`,
    `CarePlan?_tag=${sys}-record|rec-2&status=active`,
    'CarePlan?_tag:not=rec-1',
    `Encounter?type=${sys}|peer-support-contact`,
    'Encounter?type=crisis-contact&subject=Patient/p-2',
    'Encounter?type:not=crisis-contact',
    'Encounter?part-of:missing=true',
    'Task?code=outcome-review&owner=PractitionerRole/role-1',
    // Date lookups (search_date): every prefix the table answers, dates with and without a time zone.
    'Task?authored-on=ge2026-06-01',
    'Task?authored-on=gt2026-06-01T21:30:00Z',
    'Task?authored-on=lt2026-03-01T00:00:00Z',
    'Task?authored-on=le2026-03-02',
    'Task?authored-on=2026-05',
    'Task?authored-on=2026-05-06',
    'Task?authored-on=2026',
    'Task?authored-on=ne2026-05-06',
    'Task?authored-on=ge2026-04-01&authored-on=lt2026-09-01&code=clinical-review',
    'Task?modified=ge2020-01-01',
    'Encounter?date=ge2026-01-10&date=le2026-01-20',
    'Encounter?date=2026-01-15',
    'Encounter?date=lt2026-01-05T00:00:00Z',
    'CarePlan?date=gt2026-01-05',
    'CarePlan?date=le2026-01-09',
    `Task?_lastUpdated=ge${new Date(Date.now() - 3_600_000).toISOString()}`,
    'Task?_lastUpdated=lt2020-01-01',
  ];

  it.each(searches)('%s', async (path) => {
    const got = await get(path);
    const want = await expected(path);
    expect(ids(got)).toEqual(ids(want));
    expect(got.total).toBe(want.total);
  });

  it('part-of and focus', async () => {
    const encounters = stored.filter((r) => r.resourceType === 'Encounter');
    const plans = stored.filter((r) => r.resourceType === 'CarePlan');
    // A bare id matches only a single-target parameter (Encounter.partOf), not Task.focus (any type).
    for (const [path, total] of [
      [`Encounter?part-of=Encounter/${encounters[3]?.id}`, 1],
      [`Encounter?part-of=${encounters[0]?.id}`, 1],
      [`Task?focus=CarePlan/${plans[4]?.id}`, 1],
      [`Task?focus=CarePlan/${plans[5]?.id},CarePlan/${plans[6]?.id}`, 2],
      [`Task?focus=${plans[5]?.id}`, 0],
    ] as const) {
      const got = await get(path);
      expect(ids(got), path).toEqual(ids(await expected(path)));
      expect(got.total, path).toBe(total);
    }
  });
});

describe('rollback leaves the indexes consistent', () => {
  it('a failed transaction that re-categorised, re-typed, re-focused and deleted changes no search result', async () => {
    const plan = stored.find((r) => r.resourceType === 'CarePlan') as CarePlan;
    const encounter = stored.find((r) => r.resourceType === 'Encounter') as Encounter;
    const task = stored.find((r) => r.resourceType === 'Task') as Task;
    const paths = [
      `CarePlan?category=${sys}|step-down`,
      `CarePlan?category=${sys}|moved`,
      `CarePlan?_profile=moved-profile`,
      `Encounter?type=${sys}|moved`,
      `Encounter?type=${sys}|crisis-contact`,
      `Task?focus=CarePlan/${plan.id}`,
      'Task?focus=CarePlan/elsewhere',
      `CarePlan?_id=${plan.id}`,
      'Encounter?_count=5',
    ];
    const before = await Promise.all(paths.map(async (p) => ids(await get(p))));
    const res = await h.request('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: { ...plan, category: [{ coding: [{ system: sys, code: 'moved' }] }], meta: { profile: [profile('moved-profile')] } },
          request: { method: 'PUT', url: `CarePlan/${plan.id}` },
        },
        {
          resource: { ...encounter, type: [{ coding: [{ system: sys, code: 'moved' }] }] },
          request: { method: 'PUT', url: `Encounter/${encounter.id}` },
        },
        { resource: { ...task, focus: { reference: 'CarePlan/elsewhere' } }, request: { method: 'PUT', url: `Task/${task.id}` } },
        { request: { method: 'DELETE', url: `CarePlan/${plan.id}` } },
        {
          resource: {
            resourceType: 'Encounter',
            status: 'finished',
            class: { system: sys, code: 'peer' },
            type: [{ coding: [{ system: sys, code: 'moved' }] }],
          },
          request: { method: 'POST', url: 'Encounter' },
        },
        {
          resource: { resourceType: 'Task', status: 42, intent: 'order' } as unknown as Resource,
          request: { method: 'POST', url: 'Task' },
        },
      ],
    } satisfies Bundle);
    expect(res.status).toBe(400);
    const after = await Promise.all(paths.map(async (p) => ids(await get(p))));
    expect(after).toEqual(before);
    for (const p of paths) expect(ids(await get(p)), p).toEqual(ids(await expected(p)));
  });
});

describe('the search result cache key', () => {
  it('is the same whatever order the filters come in (a next link lists them in its own), and differs for other values', () => {
    const a = parseSearchRequest('Task?code=a,b&authored-on=ge2025-01-01&authored-on=le2025-02-01&_count=10');
    const b = parseSearchRequest('Task?authored-on=le2025-02-01&code=a,b&authored-on=ge2025-01-01&_offset=10');
    expect(SearchResultCache.key(b)).toBe(SearchResultCache.key(a));
    expect(SearchResultCache.key(parseSearchRequest('Task?code=a,b&authored-on=ge2025-01-01'))).not.toBe(SearchResultCache.key(a));
    expect(SearchResultCache.key(parseSearchRequest('Task?code:not=a,b&authored-on=ge2025-01-01&authored-on=le2025-02-01'))).not.toBe(
      SearchResultCache.key(a),
    );
  });
});
