import type { Bundle, MeasureReport, Patient } from '@medplum/fhirtypes';
import { expect } from 'vitest';
import type { DerivedReads, FhirClient } from '../../src/fhir/client.js';
import { addDays } from '../../src/governance/period.js';
import { fixture, testToken, type TestService } from '../harness.js';

// What the governance tests that post records through a running service share: a new person, a fixture
// record of a test's own source, and the reports of a period.

/** The date (YYYY-MM-DD, UTC) `n` days from today: recent records, for tests whose resources are found by when they were written. */
export function fromToday(n: number): string {
  return addDays(new Date().toISOString().slice(0, 10), n);
}

/** A new Patient on the service's FHIR server; its reference. */
export async function newPatient(svc: TestService): Promise<string> {
  const res = await svc.fhirRaw('Patient', { method: 'POST', body: JSON.stringify({ resourceType: 'Patient' } satisfies Patient) });
  expect(res.status).toBe(201);
  return `Patient/${((await res.json()) as Patient).id}`;
}

/** A fixture record of `source`, for a person, made at `recordedAt`, without peer notes. */
export function sourcedRecord(
  source: string,
  name: string,
  recordId: string,
  patient: string,
  recordedAt: string,
  change: (r: any) => void = () => undefined,
): any {
  return fixture(name, recordId, (r) => {
    r.source = { system: source };
    r.person = { reference: patient };
    r.recordedAt = recordedAt;
    // The fixtures' consents were recorded in 2026; a consent recorded after a disclosure grants nothing (spec §3.5).
    delete r.consent.recordedAt;
    delete r.peerNotes;
    change(r);
  });
}

/** GET /governance/measures for a period (200 expected). */
export async function measureReports(svc: TestService, start: string, end: string): Promise<Bundle<MeasureReport>> {
  const res = await fetch(`${svc.url}/governance/measures?start=${start}&end=${end}`, {
    headers: { Authorization: `Bearer ${testToken}` },
  });
  expect(res.status).toBe(200);
  return res.json() as Promise<Bundle<MeasureReport>>;
}

/** The reports without the time they were made. */
export const comparableReports = (b: Bundle<MeasureReport>) =>
  JSON.stringify(b, (k, v) => (k === 'date' || k === 'timestamp' ? undefined : v));

/**
 * A service's FHIR client as a report reads a remote server: its searches and pages, without the embedded
 * server's kept facts (fhir/client.ts DerivedReads), so every resource is read whole; `derivedReads` given, with those.
 */
export function readingAs(client: FhirClient, derivedReads?: DerivedReads): FhirClient {
  return {
    wholeResultReads: client.wholeResultReads,
    search: (...a: Parameters<FhirClient['search']>) => client.search(...a),
    page: (...a: Parameters<FhirClient['page']>) => client.page(...a),
    ...(derivedReads ? { derivedReads } : {}),
  } as unknown as FhirClient;
}
