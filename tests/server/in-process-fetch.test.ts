import type { Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/embedded/auth.js';
import { createInProcessFetch } from '../../src/embedded/in-process-fetch.js';
import { fixture, startTestService, testToken, type TestService } from '../harness.js';

let svc: TestService;
let inProcess: typeof fetch;
const client = { id: 'in-process-test', secret: 'in-process-secret-0123456789' };

beforeAll(async () => {
  svc = await startTestService();
  inProcess = createInProcessFetch({
    repo: svc.service.embedded!.repo,
    tokens: new TokenStore([], client.id, client.secret),
    baseUrl: `${svc.url}/`,
  });
});
afterAll(() => svc.close());

async function login(secret = client.secret): Promise<Response> {
  return inProcess(`${svc.url}/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.id, client_secret: secret }).toString(),
  });
}

const transaction = (value: string, failing = false): Bundle => ({
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [
    {
      fullUrl: 'urn:uuid:0b0c4f2e-7f4e-4f0a-9d3e-2a1f5b6c7d8e',
      request: { method: 'POST', url: 'Basic' },
      resource: { resourceType: 'Basic', code: { text: 'in-process' }, identifier: [{ system: 'urn:test:in-process', value }] },
    },
    ...(failing ? [{ request: { method: 'GET' as const, url: 'Basic/does-not-exist' } }] : []),
  ],
});

describe('the in-process transport to the embedded FHIR server', () => {
  it('When the bearer token is missing or unknown, it answers 401 as the HTTP server does', async () => {
    const none = await inProcess(`${svc.url}/fhir/R4/Patient`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    // The service's static API token is not the adapter's credential on this path.
    const other = await inProcess(`${svc.url}/fhir/R4/Patient`, { headers: { Authorization: `Bearer ${testToken}` } });
    expect(other.status).toBe(401);
    expect(other.headers.get('www-authenticate')).toContain('invalid_token');
    expect((await login('wrong')).status).toBe(401);
  });

  it('writes a transaction atomically and answers with the same body and headers as over HTTP', async () => {
    const { access_token: token } = (await (await login()).json()) as { access_token: string };
    const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json' };
    const ok = await inProcess(`${svc.url}/fhir/R4/`, { method: 'POST', headers, body: JSON.stringify(transaction('committed')) });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('application/fhir+json');
    const response = (await ok.json()) as Bundle;
    expect(response.type).toBe('transaction-response');
    expect(response.entry?.[0]?.response?.status).toMatch(/^201/);

    const failed = await inProcess(`${svc.url}/fhir/R4/`, {
      method: 'POST',
      headers,
      body: JSON.stringify(transaction('rolled-back', true)),
    });
    expect(failed.status).toBe(404);
    const stored = await svc.fhir('Basic?identifier=urn:test:in-process|');
    expect(stored.map((b) => (b as { identifier?: { value?: string }[] }).identifier?.[0]?.value).sort()).toEqual(['committed']);

    const read = await inProcess(`${svc.url}/fhir/R4/Basic/${stored[0]!.id}`, { headers });
    const overHttp = await svc.fhirRaw(`Basic/${stored[0]!.id}`);
    expect(read.headers.get('etag')).toBe(overHttp.headers.get('etag'));
    expect(await read.json()).toEqual(await overHttp.json());
    expect((await inProcess(`${svc.url}/fhir/R4/Basic`, { method: 'POST', headers, body: '{not json' })).status).toBe(400);

    // A search answers the same Bundle, paging links included.
    const search = 'PractitionerRole?_count=1&_sort=_id';
    const [viaProcess, viaHttp] = await Promise.all([inProcess(`${svc.url}/fhir/R4/${search}`, { headers }), svc.fhirRaw(search)]);
    const [a, b] = (await Promise.all([viaProcess.json(), viaHttp.json()])) as Bundle[];
    expect(a!.link).toEqual(b!.link);
    expect(a!.entry?.map((e) => e.resource?.id)).toEqual(b!.entry?.map((e) => e.resource?.id));
  });

  it('a searchset is handed over as the value its HTTP body parses to (no key left undefined), and its body is that JSON', async () => {
    const { access_token: token } = (await (await login()).json()) as { access_token: string };
    const headers = { Authorization: `Bearer ${token}` };
    await svc.post(fixture('concern-routing', 'in-process-searchset'));
    for (const search of [
      'Task?_include=Task:owner&_count=5',
      'CarePlan?_count=2&_offset=1',
      'Basic?identifier=urn:test:none|nothing',
      'PractitionerRole?_summary=count',
    ]) {
      const [viaProcess, viaHttp] = await Promise.all([inProcess(`${svc.url}/fhir/R4/${search}`, { headers }), svc.fhirRaw(search)]);
      const [value, overHttp] = await Promise.all([viaProcess.json(), viaHttp.json()]);
      expect(viaProcess.status, search).toBe(viaHttp.status);
      expect(viaProcess.headers.get('content-type'), search).toBe('application/fhir+json');
      // Strict: an undefined key (a searchset with no entry) would differ from what JSON.parse gives.
      expect(value, search).toStrictEqual(overHttp);
      expect(JSON.parse(await viaProcess.text()), search).toStrictEqual(overHttp);
    }
  });

  it('the adapter writes records through it: a pathway record is stored with no loopback FHIR request', async () => {
    let loopback = 0;
    const realFetch = globalThis.fetch;
    globalThis.fetch = (input, init) => {
      if (String(input instanceof Request ? input.url : input).includes('/fhir/R4/')) loopback++;
      return realFetch(input, init);
    };
    try {
      const res = await svc.post(fixture('concern-routing', 'in-process-1'));
      expect(res.status).toBe(201);
    } finally {
      globalThis.fetch = realFetch;
    }
    expect(loopback).toBe(0);
  });
});
