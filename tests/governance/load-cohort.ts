import type { Patient, Task } from '@medplum/fhirtypes';
import { expect } from 'vitest';
import type { TestService } from '../harness.js';
import { cohortPersons, cohortSource, generateCohort, type Cohort } from './cohort.js';

/** Creates the cohort's Patients over FHIR, posts its records through POST /pathway-records, then the EHR side. */
export async function loadCohort(svc: TestService, seed: number): Promise<Cohort> {
  const ids = new Map<string, string>();
  for (const key of cohortPersons) {
    const res = await svc.fhirRaw('Patient', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'Patient',
        identifier: [{ system: 'urn:example:cohort-person', value: `${seed}-${key}` }],
      } satisfies Patient),
    });
    expect(res.status).toBe(201);
    ids.set(key, `Patient/${((await res.json()) as Patient).id}`);
  }
  const cohort = generateCohort(seed, (key) => ids.get(key) as string);
  for (const record of [...cohort.records, ...cohort.resends]) {
    const res = await svc.post(record);
    const blocked = record.recordId.startsWith('gov-B');
    expect(res.status, `${record.recordId}: ${JSON.stringify(res.body?.issue ?? '')}`).toBe(
      blocked ? 422 : record === cohort.resends[0] ? 200 : 201,
    );
  }
  for (const resource of [...cohort.encounters, ...cohort.tasks]) {
    const res = await svc.fhirRaw(resource.resourceType, { method: 'POST', body: JSON.stringify(resource) });
    expect(res.status).toBe(201);
  }
  for (const move of cohort.taskMoves) {
    const [task] = await svc.fhir<Task>(`Task?identifier=${encodeURIComponent(`${cohortSource}|${move.value}`)}`);
    expect(task, move.value).toBeDefined();
    const began = new Date(Date.parse(task!.authoredOn as string) + move.hoursAfterRecord * 3_600_000).toISOString();
    const res = await svc.fhirRaw(`Task/${task!.id}`, {
      method: 'PUT',
      body: JSON.stringify({ ...task, status: move.status, executionPeriod: { start: began } }),
    });
    expect(res.status).toBe(200);
  }
  return cohort;
}
