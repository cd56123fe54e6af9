import type { Bundle, MeasureReport, PractitionerRole, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGovernanceConfig } from '../../src/config/governance.js';
import { loadMappings } from '../../src/config/mappings.js';
import { systems } from '../../src/contract/vocabulary.js';
import { literalReference, localReference } from '../../src/fhir/references.js';
import { computeMeasureReports } from '../../src/governance/compute.js';
import { reportRows } from '../../src/governance/rows.js';
import { startTestService, type TestService } from '../harness.js';
import { fromToday, measureReports, readingAs } from './service.js';

/**
 * Role integrity counts clinical Tasks owned by a peer role (spec §6, hazard H4), including Tasks an EHR
 * writes around the adapter. An EHR may name the owner in any form FHIR allows: a versioned reference, an
 * absolute URL, a contained PractitionerRole. Each hid a peer-owned clinical Task from the count (outside
 * tester); each is now read as the resource it names.
 */
let svc: TestService;
const mappings = loadMappings();

beforeAll(async () => {
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '0' });
});
afterAll(async () => {
  await svc?.close();
});

const peerCode = { system: 'http://nucc.org/provider-taxonomy', code: '175T00000X' };

function clinicalTask(owner: string, contained?: PractitionerRole): Task {
  return {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    code: { coding: [{ system: systems.pathway, code: 'clinical-review' }] },
    for: { reference: 'Patient/example-person' },
    authoredOn: `${fromToday(-1)}T10:00:00Z`,
    owner: { reference: owner },
    ...(contained ? { contained: [contained] } : {}),
  };
}

function peerOwned(bundle: Bundle<MeasureReport>): number | undefined {
  return reportRows(bundle).find(
    (r) => r.measure === 'role-integrity' && r.group === 'clinical-tasks-owned-by-peer-role' && r.stratum === '',
  )?.counts['initial-population'];
}

describe('literal references, as FHIR R4 reads them', () => {
  it('relative, versioned and absolute name one resource; contained, logical, search and urn references name none', () => {
    expect(literalReference('PractitionerRole/p1')).toEqual({ type: 'PractitionerRole', id: 'p1' });
    expect(literalReference('PractitionerRole/p1/_history/3')).toEqual({ type: 'PractitionerRole', id: 'p1', version: '3' });
    expect(literalReference('https://ehr.example.org/fhir/R4/PractitionerRole/p1')).toEqual({
      type: 'PractitionerRole',
      id: 'p1',
      base: 'https://ehr.example.org/fhir/R4/',
    });
    expect(localReference('http://127.0.0.1:8080/fhir/R4/PractitionerRole/p1/_history/2')).toBe('PractitionerRole/p1');
    for (const other of [
      '#pr',
      'PractitionerRole?identifier=x|y',
      'urn:uuid:0b1c',
      'practitionerRole/p1',
      'PractitionerRole/',
      'PractitionerRole/a b',
      undefined,
    ]) {
      expect(literalReference(other), String(other)).toBeUndefined();
    }
  });
});

describe('role integrity: a clinical Task owned by a peer role, however the owner is written', () => {
  it('counts the relative, versioned, absolute and contained forms of a peer role, and none of a clinician', async () => {
    const start = fromToday(-3);
    const end = fromToday(0);
    const before = peerOwned(await measureReports(svc, start, end)) ?? 0;
    const contained = (code: { system: string; code: string }): PractitionerRole => ({
      resourceType: 'PractitionerRole',
      id: 'pr',
      code: [{ coding: [code] }],
    });
    const peer = [
      clinicalTask('PractitionerRole/example-peer'),
      clinicalTask('PractitionerRole/example-peer/_history/1'),
      clinicalTask('https://ehr.example.org/fhir/PractitionerRole/example-peer'),
      clinicalTask('#pr', contained(peerCode)),
    ];
    const clinician = [
      clinicalTask('PractitionerRole/example-clinician/_history/1'),
      clinicalTask('https://ehr.example.org/fhir/PractitionerRole/example-clinician'),
      clinicalTask('#pr', contained({ system: 'http://nucc.org/provider-taxonomy', code: '2084P0800X' })),
    ];
    for (const task of [...peer, ...clinician]) {
      const res = await svc.fhirRaw('Task', { method: 'POST', body: JSON.stringify(task) });
      expect(res.status, await res.clone().text()).toBe(201);
    }
    const report = await measureReports(svc, start, end);
    expect(peerOwned(report)).toBe(before + peer.length);
    // The same count read from the resources whole, as from a remote server.
    const fromResources = await computeMeasureReports(
      { fhir: readingAs(svc.service.adapter.fhir), mappings, governance: loadGovernanceConfig() },
      { start, end, timeZone: mappings.site.timeZone },
    );
    expect(peerOwned(fromResources)).toBe(before + peer.length);
  });
});
