import type { Bundle, MeasureReport, PractitionerRole, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pathwayCodes } from '../../src/contract/pathways.js';
import { reportRows } from '../../src/governance/rows.js';
import { collectReferences, roleOf } from '../../src/records/references.js';
import { exampleSource, failedGates, fixture, startTestService, testToken, type TestService } from '../harness.js';

/**
 * Spec §1 "clinical owner / clinician" role and §3.5 peer-not-clinician: a peer role in any clinician field
 * blocks the record — under peer-not-clinician, or under the field's own gate where one already judges it.
 */

const peer = 'PractitionerRole/example-peer';
const clinician = 'PractitionerRole/example-clinician';
const pathwaySystem = 'http://peer-pathways.example.org/fhir/CodeSystem/peer-pathway';
const gateSystem = 'http://peer-pathways.example.org/fhir/CodeSystem/gate';

let svc: TestService;
/** A second peer specialist of the site: a PractitionerRole coded NUCC 175T00000X that is not the record's peerSpecialist. */
let otherPeer: string;
/** Records this file saw blocked by peer-not-clinician: what role integrity must count afterwards. */
const blockedByThisGate = new Set<string>();

beforeAll(async () => {
  svc = await startTestService();
  const role: PractitionerRole = {
    resourceType: 'PractitionerRole',
    active: true,
    code: [{ coding: [{ system: 'http://nucc.org/provider-taxonomy', code: '175T00000X', display: 'Peer Specialist' }] }],
  };
  const res = await svc.fhirRaw('PractitionerRole', { method: 'POST', body: JSON.stringify(role) });
  expect(res.status).toBe(201);
  otherPeer = `PractitionerRole/${((await res.json()) as PractitionerRole).id}`;
});
afterAll(async () => {
  await svc?.close();
});

/** POSTs a record; remembers it when peer-not-clinician blocked it. */
async function post(record: any, path?: string) {
  const res = await svc.post(record, path);
  if (res.status === 422 && failedGates(res.body).includes('peer-not-clinician')) blockedByThisGate.add(record.recordId);
  return res;
}

/** The record fields the issue of one gate names. */
function fieldsOf(outcome: any, gate: string): string[] | undefined {
  return outcome.issue?.find(
    (i: any) => i.severity === 'error' && i.details?.coding?.some((c: any) => c.system === gateSystem && c.code === gate),
  )?.expression;
}

/** Sets a dot path (`concernsRouted[]` sets one routed concern of a category every consent covers: safety). */
function setField(record: any, field: string, reference: string): void {
  if (field === 'concernsRouted[].routedTo') {
    record.concernsRouted = [{ category: 'safety', routedTo: { reference }, routedAt: record.recordedAt }];
    return;
  }
  const parts = field.split('.');
  const last = parts.pop() as string;
  const parent = parts.reduce((o, p) => (o[p] ??= {}), record);
  parent[last] = { reference };
}

type Pathway = (typeof pathwayCodes)[number];

/** Every field of the §1 clinician role, with the pathway it belongs to and the gate that blocks a peer role in it. */
const clinicianFields: { field: string; pathways: Partial<Record<Pathway, string>> }[] = [
  {
    field: 'escalationRoute.clinicalOwner',
    pathways: {
      'early-engagement': 'ee-escalation-route',
      'step-down': 'sd-escalation-instructions',
      'crisis-transition': 'ct-escalation-route',
      'concern-routing': 'cr-escalation-route',
      'recovery-maintenance': 'rm-escalation-route',
    },
  },
  { field: 'escalationRoute.urgentContact', pathways: Object.fromEntries(pathwayCodes.map((p) => [p, 'peer-not-clinician'])) },
  { field: 'nextAppointment.owner', pathways: { 'early-engagement': 'ee-appointment-owner' } },
  { field: 'firstAppointment.clinician', pathways: { 'crisis-transition': 'peer-not-clinician' } },
  { field: 'receivingClinicianNotification.clinician', pathways: { 'crisis-transition': 'peer-not-clinician' } },
  { field: 'clinicalFollowUp.clinician', pathways: { 'crisis-transition': 'peer-not-clinician' } },
  { field: 'stabilityConfirmedBy', pathways: { 'step-down': 'peer-not-clinician' } },
  { field: 'receivingPathway.owner', pathways: { 'step-down': 'peer-not-clinician' } },
  { field: 'receivingPathway.confirmedBy', pathways: { 'step-down': 'peer-not-clinician' } },
  { field: 'fromService.owner', pathways: { 'step-down': 'peer-not-clinician' } },
  { field: 'discharge.dischargedBy', pathways: { 'recovery-maintenance': 'rm-discharge-confirmed' } },
  { field: 'reEntryRoute.owner', pathways: { 'recovery-maintenance': 'rm-re-entry-route' } },
  { field: 'receivingTeam.confirmedBy', pathways: { 'crisis-transition': 'peer-not-clinician' } },
];
/** A concern routed to the peer specialist themselves (§3.5 peer-not-clinician, second half). */
const routedTo = { field: 'concernsRouted[].routedTo', pathways: { 'crisis-transition': 'peer-not-clinician' } };

describe('every clinician field of spec §1 with a peer role in it is blocked, in every pathway', () => {
  it('the table is the §1 clinician role: every field of it, and every clinician reference of the example records', () => {
    for (const { field } of clinicianFields) expect(roleOf(field), field).toBe('clinical');
    const inFixtures = pathwayCodes
      .flatMap((p) => collectReferences(fixture(p)).map((r) => r.path.replace(/\[\d+\]/g, '[]')))
      .filter((path) => roleOf(path) === 'clinical');
    expect(inFixtures.filter((path) => !clinicianFields.some((f) => f.field === path))).toEqual([]);
  });

  const rows = [...clinicianFields, routedTo].flatMap(({ field, pathways }) =>
    Object.entries(pathways).map(([pathway, gate]) => ({ field, pathway: pathway as Pathway, gate: gate as string })),
  );
  rows.forEach(({ field, pathway, gate }, row) => {
    for (const who of ["the record's peer specialist", 'another peer-coded PractitionerRole'] as const) {
      it(`${pathway} ${field} = ${who} → 422 ${gate} naming ${field}`, async () => {
        const recordId = `pnc-row-${row}-${who === "the record's peer specialist" ? 'self' : 'other'}`;
        const res = await post(
          fixture(pathway, recordId, (r) => setField(r, field, who === "the record's peer specialist" ? peer : otherPeer)),
        );
        expect(res.status).toBe(422);
        expect(failedGates(res.body)).toEqual([gate]);
        if (gate === 'peer-not-clinician') expect(fieldsOf(res.body, gate)).toEqual([field]);
        else expect(fieldsOf(res.body, gate)).toContain(field);
        expect(await svc.bySlot('CarePlan', recordId, 'careplan')).toEqual([]);
      });
    }
  });

  it('each example record passes peer-not-clinician as it is', async () => {
    for (const pathway of pathwayCodes) {
      const res = await post(fixture(pathway, `pnc-ok-${pathway}`));
      expect(res.status, pathway).toBe(201);
    }
  });

  it("with active crisis risk, a peer follow-up clinician is ct-not-peer-only's failure, reported once", async () => {
    const res = await post(
      fixture('crisis-transition', 'pnc-ct-risk-followup', (r) => {
        r.recentCrisisRiskActive = true;
        r.clinicalFollowUp.clinician = { reference: peer };
      }),
    );
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['ct-not-peer-only']);
  });
});

describe('the examples of issue 17', () => {
  it('a step-down whose stability, receiving owner and confirmation are all the peer: 422 peer-not-clinician naming the three; $validate says the same', async () => {
    const edit = (r: any) => {
      r.stabilityConfirmedBy = { reference: peer };
      r.receivingPathway.owner = { reference: peer };
      r.receivingPathway.confirmedBy = { reference: peer };
    };
    const gateIssues = (outcome: any) =>
      outcome.issue.filter((i: any) => i.details?.coding?.some((c: any) => c.system === gateSystem) && i.severity === 'error');
    const dry = await svc.post(fixture('step-down', 'pnc-issue-sd', edit), '/pathway-records/$validate');
    expect(dry.status).toBe(200);
    const res = await post(fixture('step-down', 'pnc-issue-sd', edit));
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['peer-not-clinician']);
    expect(fieldsOf(res.body, 'peer-not-clinician')).toEqual([
      'stabilityConfirmedBy',
      'receivingPathway.owner',
      'receivingPathway.confirmedBy',
    ]);
    expect(gateIssues(res.body)).toEqual(gateIssues(dry.body.parameter.find((p: any) => p.name === 'outcome').resource));
    expect(await svc.bySlot<Task>('Task', 'pnc-issue-sd', 'task/scheduled-clinical-review')).toEqual([]);
  });

  it('a crisis transition whose first appointment clinician is the peer: 422 peer-not-clinician, and the peer owns no tracking Task', async () => {
    const res = await post(
      fixture('crisis-transition', 'pnc-issue-ct', (r) => {
        r.firstAppointment.clinician = { reference: peer };
      }),
    );
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['peer-not-clinician']);
    expect(fieldsOf(res.body, 'peer-not-clinician')).toEqual(['firstAppointment.clinician']);
    expect(await svc.fhir<Task>(`Task?code=${pathwaySystem}|first-appointment-tracking&owner=${peer}`)).toEqual([]);
  });

  it('a housing concern routed to the peer themselves: 422 peer-not-clinician on concernsRouted[].routedTo', async () => {
    const res = await post(
      fixture('crisis-transition', 'pnc-issue-routed', (r) => {
        r.consent.categories.push('housing');
        r.consent.recipients.push('case-manager');
        r.concernsRouted = [{ category: 'housing', routedTo: { reference: peer }, routedAt: '2026-11-20T15:00:00Z' }];
      }),
    );
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['peer-not-clinician']);
    expect(fieldsOf(res.body, 'peer-not-clinician')).toEqual(['concernsRouted[].routedTo']);
  });

  it('safety still first: a record blocked by peer-not-clinician with a disclosure still raises the stat review, for a clinician', async () => {
    const res = await post(
      fixture('step-down', 'pnc-safety', (r) => {
        r.stabilityConfirmedBy = { reference: peer };
        r.safety = { immediateConcernDisclosed: true, summary: 'Said they have a plan to overdose tonight.', disclosedAt: r.recordedAt };
      }),
    );
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['peer-not-clinician']);
    const stat = await svc.one<Task>('Task', 'pnc-safety', 'task/safety-review');
    expect(stat.priority).toBe('stat');
    expect(stat.owner?.reference).toBe(clinician);
  });
});

describe('role integrity reads what happened', () => {
  it('counts the records blocked by peer-not-clinician, and a tracking Task a peer role was given around the adapter', async () => {
    // Written by another system straight to the FHIR server: the adapter would have refused it.
    const imported: Task = {
      resourceType: 'Task',
      status: 'requested',
      intent: 'order',
      authoredOn: '2026-11-20T09:00:00Z',
      identifier: [{ system: exampleSource, value: 'pnc-ehr-import/task/first-appointment-tracking' }],
      code: { coding: [{ system: pathwaySystem, code: 'first-appointment-tracking' }] },
      for: { reference: 'Patient/example-person' },
      requester: { reference: clinician },
      owner: { reference: otherPeer },
    };
    expect((await svc.fhirRaw('Task', { method: 'POST', body: JSON.stringify(imported) })).status).toBe(201);
    // The issue's three examples once more, so that this test stands on its own as well as after the others.
    await post(
      fixture('step-down', 'pnc-ri-sd', (r) => {
        r.stabilityConfirmedBy = { reference: peer };
        r.receivingPathway.owner = { reference: peer };
      }),
    );
    await post(
      fixture('crisis-transition', 'pnc-ri-ct', (r) => {
        r.firstAppointment.clinician = { reference: peer };
      }),
    );
    await post(
      fixture('crisis-transition', 'pnc-ri-routed', (r) => {
        r.concernsRouted = [{ category: 'safety', routedTo: { reference: otherPeer }, routedAt: r.recordedAt }];
      }),
    );
    // Sent again: still one blocked record each.
    await post(
      fixture('crisis-transition', 'pnc-ri-ct', (r) => {
        r.firstAppointment.clinician = { reference: peer };
      }),
    );
    expect(blockedByThisGate.size).toBeGreaterThanOrEqual(3);

    const end = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);
    const res = await fetch(`${svc.url}/governance/measures?start=2026-01-01&end=${end}`, {
      headers: { Authorization: `Bearer ${testToken}` },
    });
    expect(res.status).toBe(200);
    const rows = reportRows((await res.json()) as Bundle<MeasureReport>).filter((r) => r.measure === 'role-integrity');
    const count = (group: string, stratum = '') =>
      rows.find((r) => r.group === group && r.stratum === stratum)?.counts['initial-population'];
    expect(count('blocked-records', 'peer-not-clinician')).toBe(blockedByThisGate.size);
    expect(count('clinical-tasks-owned-by-peer-role')).toBe(1);
  });
});
