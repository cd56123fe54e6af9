import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, testToken, type TestService } from '../harness.js';

/** Requests that cannot be read as sent are the caller's fault: a 4xx OperationOutcome with a stable code, never a 500. */
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc.close();
});

const auth = { Authorization: `Bearer ${testToken}` };

function codes(body: { issue?: { details?: { coding?: { code?: string }[] } }[] }): (string | undefined)[] {
  return (body.issue ?? []).map((i) => i.details?.coding?.[0]?.code);
}

describe('malformed requests', () => {
  it('a body not in its Content-Encoding (gzip, deflate): 400 malformed-request', async () => {
    for (const encoding of ['gzip', 'deflate']) {
      const res = await fetch(`${svc.url}/pathway-records`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json', 'Content-Encoding': encoding },
        body: '{}',
      });
      expect(res.status, encoding).toBe(400);
      expect(codes(await res.json()), encoding).toEqual(['malformed-request']);
    }
  });

  it('a path whose percent-encoding does not decode: 400 malformed-request', async () => {
    for (const path of ['/pathway-records/%E0%A4%A?source=urn:x', '/pathway-records/%ZZ?source=urn:x']) {
      const res = await fetch(`${svc.url}${path}`, { headers: auth });
      expect(res.status, path).toBe(400);
      expect(codes(await res.json()), path).toEqual(['malformed-request']);
    }
  });

  it('a Bundle to the embedded FHIR server whose entry is not an object: 400 OperationOutcome', async () => {
    for (const entry of [[null], [1], [{ request: 'POST' }], 'x']) {
      const res = await svc.fhirRaw('', { method: 'POST', body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry }) });
      expect(res.status, JSON.stringify(entry)).toBe(400);
      expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    }
  });
});

describe('search page size on the embedded FHIR server', () => {
  it('_count above 1,000 is served as 1,000 with a next link (as a Medplum server); a negative or non-numeric _count is 400', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: Array.from({ length: 30 }, (_, i) => ({
        request: { method: 'POST', url: 'Basic' },
        resource: { resourceType: 'Basic', code: { text: 'page-size' }, identifier: [{ system: 'urn:test:page-size', value: `b${i}` }] },
      })),
    };
    for (let i = 0; i < 40; i++) expect((await svc.fhirRaw('', { method: 'POST', body: JSON.stringify(bundle) })).status).toBe(200);
    const res = await svc.fhirRaw('Basic?identifier=urn:test:page-size|&_count=100000');
    expect(res.status).toBe(200);
    const page = (await res.json()) as { entry?: unknown[]; link?: { relation: string; url: string }[] };
    expect(page.entry).toHaveLength(1000);
    expect(page.link?.find((l) => l.relation === 'next')?.url).toContain('_count=1000');
    expect(await svc.fhirAll('Basic?identifier=urn:test:page-size|&_count=5000')).toHaveLength(1200);
    // No _count: pages of 1,000 too; a _count past any integer is a large count, served as 1,000.
    const plain = (await (await svc.fhirRaw('Basic?identifier=urn:test:page-size|')).json()) as { entry?: unknown[] };
    expect(plain.entry).toHaveLength(1000);
    const huge = (await (await svc.fhirRaw('Basic?identifier=urn:test:page-size|&_count=99999999999999999999')).json()) as {
      entry?: unknown[];
    };
    expect(huge.entry).toHaveLength(1000);
    // A search inside a batch is paged the same way.
    const batch = await svc.fhirRaw('', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [{ request: { method: 'GET', url: 'Basic?identifier=urn:test:page-size|&_count=5000' } }],
      }),
    });
    const inner = ((await batch.json()) as { entry: { resource: { entry?: unknown[] } }[] }).entry[0]!.resource;
    expect(inner.entry).toHaveLength(1000);
    // In a batch that entry alone is refused (R4: each entry on its own); in a transaction, the whole Bundle.
    for (const bad of ['Basic?_count=-1', 'Basic?_offset=-1', 'Basic?_offset=1e3']) {
      const res = await svc.fhirRaw('', {
        method: 'POST',
        body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: bad } }] }),
      });
      expect(res.status, bad).toBe(200);
      const answer = ((await res.json()) as { entry: { response: { status: string; outcome: { resourceType: string } } }[] }).entry[0];
      expect(answer?.response.status, bad).toBe('400');
      expect(answer?.response.outcome.resourceType).toBe('OperationOutcome');
      const tx = await svc.fhirRaw('', {
        method: 'POST',
        body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'GET', url: bad } }] }),
      });
      expect(tx.status, bad).toBe(400);
    }
    for (const count of ['-1', 'abc', '1e3']) {
      const bad = await svc.fhirRaw(`Basic?_count=${count}`);
      expect(bad.status, count).toBe(400);
      expect(((await bad.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    }
  });
});

describe('searches and writes the embedded FHIR server must read as FHIR says', () => {
  it('POST [type]/_search takes its parameters from the form body and the query string', async () => {
    await svc.fhirRaw('', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: ['a', 'b', 'c'].map((v) => ({
          request: { method: 'POST', url: 'Basic' },
          resource: { resourceType: 'Basic', code: { text: 'post-search' }, identifier: [{ system: 'urn:test:post-search', value: v }] },
        })),
      }),
    });
    const form = await fetch(`${svc.url}/fhir/R4/Basic/_search`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'identifier=urn:test:post-search|b',
    });
    expect(form.status).toBe(200);
    const found = (await form.json()) as { total?: number; entry?: { resource: { identifier: { value: string }[] } }[] };
    expect(found.entry?.map((e) => e.resource.identifier[0]!.value)).toEqual(['b']);
    const query = await fetch(`${svc.url}/fhir/R4/Basic/_search?identifier=urn:test:post-search|c`, { method: 'POST', headers: auth });
    expect(((await query.json()) as { entry?: unknown[] }).entry).toHaveLength(1);
    const bad = await fetch(`${svc.url}/fhir/R4/Basic/_search`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: '_count=-1',
    });
    expect(bad.status).toBe(400);
  });

  it('odd entries, bodies and paths are 400 without JavaScript internals in the text', async () => {
    const cases: [string, RequestInit][] = [
      [
        '',
        {
          method: 'POST',
          body: JSON.stringify({
            resourceType: 'Bundle',
            type: 'transaction',
            entry: [{ request: { method: 'POST', url: 5 }, resource: { resourceType: 'Basic' } }],
          }),
        },
      ],
      [
        '',
        {
          method: 'POST',
          body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 'Basic' } }] }),
        },
      ],
      [
        '',
        {
          method: 'POST',
          body: JSON.stringify({
            resourceType: 'Bundle',
            type: 'transaction',
            entry: [{ request: { method: 'POST', url: 'Basic' }, resource: 5 }],
          }),
        },
      ],
      ['Organization/x', { method: 'PUT' }],
      ['Basic/%E0%A4%A', { method: 'GET' }],
      ['%', { method: 'GET' }],
    ];
    for (const [path, init] of cases) {
      const res = await svc.fhirRaw(path, init);
      const text = await res.text();
      expect(res.status, `${path} ${String(init.body).slice(0, 80)}`).toBe(400);
      expect(text).not.toMatch(/Cannot read|is not a function|Cannot create property/);
    }
  });
});
