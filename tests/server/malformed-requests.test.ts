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
    for (const count of ['-1', 'abc', '1e3']) {
      const bad = await svc.fhirRaw(`Basic?_count=${count}`);
      expect(bad.status, count).toBe(400);
      expect(((await bad.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    }
  });
});
