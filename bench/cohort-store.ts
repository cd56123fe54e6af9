// A store of realistic pathway resources for the benches: the generated governance cohort is posted once
// through POST /pathway-records (so the mappers write what they write on a real site), then its resources
// are copied straight into the embedded repository under new ids and recordIds.
import type { Patient, Resource } from '@medplum/fhirtypes';
import type { startService } from '../src/server/start.js';
import { recordMonthSystem, recordMonthTag } from '../src/contract/vocabulary.js';
import { cohortPersons, generateCohort } from '../tests/governance/cohort.js';

type Service = Awaited<ReturnType<typeof startService>>;

/** The types the cohort writes, read back as the copy template. */
const types = ['CarePlan', 'Consent', 'Goal', 'Encounter', 'Task', 'Communication', 'AuditEvent', 'Provenance'];

/** What one copy of the cohort holds. */
export interface CohortTemplate {
  resources: Resource[];
  recordsPerCopy: number;
  idPattern: RegExp;
}

/** Posts the cohort through the adapter and reads back everything it wrote. */
export async function postCohort(service: Service, token: string): Promise<CohortTemplate> {
  const auth = { Authorization: `Bearer ${token}` };
  const fhir = (path: string, init: RequestInit = {}) =>
    fetch(`${service.url}/fhir/R4/${path}`, { ...init, headers: { ...auth, 'Content-Type': 'application/fhir+json' } });
  const patients = new Map<string, string>();
  for (const key of cohortPersons) {
    const res = await fhir('Patient', { method: 'POST', body: JSON.stringify({ resourceType: 'Patient' } satisfies Patient) });
    patients.set(key, `Patient/${((await res.json()) as Patient).id}`);
  }
  const cohort = generateCohort(1, (k) => patients.get(k) as string);
  for (const r of [...cohort.records, ...cohort.resends]) {
    await fetch(`${service.url}/pathway-records`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify(r),
    });
  }
  for (const r of [...cohort.encounters, ...cohort.tasks]) await fhir(r.resourceType, { method: 'POST', body: JSON.stringify(r) });
  const resources: Resource[] = [];
  for (const type of types) {
    const res = await fhir(`${type}?_count=1000`);
    resources.push(...((await res.json()).entry ?? []).map((e: { resource: Resource }) => e.resource));
  }
  const ids = [...new Set([...resources.map((r) => r.id as string), ...[...patients.values()].map((p) => p.split('/')[1] as string)])];
  return {
    resources,
    recordsPerCopy: new Set(cohort.records.map((r) => r.recordId)).size,
    idPattern: new RegExp(ids.map((id) => id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g'),
  };
}

/** A date or dateTime inside JSON text (not part of an id): the copies' dates are moved by whole days. */
const datePattern = /(?<![\w-])(\d{4}-\d{2}-\d{2})(?=[T"])/g;

/** Every date of a resource's JSON text moved by `days` (the time of day and offset kept). */
function shiftDates(text: string, days: number): string {
  if (!days) return text;
  return text.replace(datePattern, (d) => new Date(Date.parse(`${d}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10));
}

/**
 * Writes copy number n of the template straight into the embedded repository (new ids, recordIds and
 * identifiers); with `shiftDays`, every date of copy n is moved n × shiftDays days later, so that the store
 * holds years of history as a site's does, not many copies of one month.
 */
export async function copyCohort(service: Service, template: CohortTemplate, n: number, shiftDays = 0): Promise<void> {
  for (const r of template.resources) {
    let text = JSON.stringify(r).replaceAll('"gov-', `"c${n}-gov-`).replaceAll('"legacy-import-1/', `"c${n}-legacy-import-1/`);
    text = shiftDates(
      text.replace(template.idPattern, (id) => `${id.slice(0, 24)}c${n}`),
      n * shiftDays,
    );
    const copy = JSON.parse(text) as Resource;
    // An audit's record-month tag follows its (moved) record date, as the adapter would have written it.
    if (copy.resourceType === 'AuditEvent' && copy.period?.start) {
      const month = recordMonthTag(copy.period.start);
      copy.meta = { ...copy.meta, tag: (copy.meta?.tag ?? []).map((t) => (t.system === recordMonthSystem && month ? month : t)) };
    }
    text = JSON.stringify(copy);
    await service.embedded!.repo.createResource(JSON.parse(text) as Resource, { assignedId: true } as never);
  }
}
