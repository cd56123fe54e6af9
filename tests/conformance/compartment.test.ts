import type { Bundle } from '@medplum/fhirtypes';
import { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patientCompartmentParams } from '../../src/embedded/compartment.js';
import { pathwayCodes } from '../../src/records/index.js';
import { fixture, startTestService, testToken, type TestService } from '../harness.js';
import { writtenTypes } from './written.js';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
  for (const pathway of pathwayCodes) expect((await svc.post(fixture(pathway))).status).toBe(201);
  // Another person's records, which the compartment of the first must not show.
  const other = fixture('concern-routing', 'cr-other-person', (r) => {
    r.person = { reference: 'Patient/example-person-2' };
  });
  expect((await svc.post(other)).status).toBe(201);
}, 60_000);
afterAll(async () => {
  await svc.close();
});

async function ids(path: string): Promise<string[]> {
  const res = await svc.fhirRaw(path);
  expect(res.status, path).toBe(200);
  return (((await res.json()) as Bundle).entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);
}

describe('GET /fhir/R4/Patient/{id}/{type}: patient compartment search', () => {
  it('answers, for every type the adapter writes, exactly what the search with the patient parameter answers', async () => {
    for (const type of writtenTypes) {
      const param = patientCompartmentParams().get(type) as string;
      expect(['patient', 'subject'], type).toContain(param);
      const compartment = await ids(`Patient/example-person/${type}`);
      expect(compartment, type).toEqual(await ids(`${type}?${param}=Patient/example-person`));
      // R4 puts a Provenance in a patient's compartment only when it targets the Patient itself; the
      // adapter's Provenance targets what it wrote (CarePlan, Task…), so that compartment is empty.
      if (type === 'Provenance') continue;
      expect(compartment.length, type).toBeGreaterThan(0);
      expect(compartment, type).not.toEqual(await ids(`Patient/example-person-2/${type}`));
    }
  });

  it('keeps the other parameters, paging and sort of the search', async () => {
    const filtered = await ids('Patient/example-person/Task?status=requested&_sort=-_lastUpdated');
    expect(filtered).toEqual(await ids('Task?patient=Patient/example-person&status=requested&_sort=-_lastUpdated'));
    const page = await svc.fhirRaw('Patient/example-person/Task?_count=1');
    const bundle = (await page.json()) as Bundle;
    expect(bundle.entry?.length).toBe(1);
    expect(bundle.total).toBe((await ids('Task?patient=Patient/example-person')).length);
    expect(bundle.link?.find((l) => l.relation === 'next')?.url).toContain('patient=Patient');
  });

  it("is what fhir-kit-client's compartment search asks for", async () => {
    const client = new Client({ baseUrl: `${svc.url}/fhir/R4`, customHeaders: { Authorization: `Bearer ${testToken}` } });
    const bundle = (await client.compartmentSearch({
      resourceType: 'CarePlan',
      compartment: { resourceType: 'Patient', id: 'example-person' },
    })) as unknown as Bundle;
    expect(bundle.entry?.map((e) => `CarePlan/${e.resource?.id}`)).toEqual(await ids('CarePlan?patient=Patient/example-person'));
  });

  it('needs the bearer token, and a type outside the compartment is a 404 OperationOutcome', async () => {
    expect((await fetch(`${svc.url}/fhir/R4/Patient/example-person/Task`)).status).toBe(401);
    const res = await svc.fhirRaw('Patient/example-person/Organization');
    expect(res.status).toBe(404);
    expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
  });
});
