import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent, CarePlan, Communication, Consent, Encounter, Extension, Task } from '@medplum/fhirtypes';
import { failedGates, fixture, passedGates, startTestService, type TestService } from '../harness.js';

const pathwaySystem = 'http://peer-pathways.example.org/fhir/CodeSystem/peer-pathway';
const sd = 'http://peer-pathways.example.org/fhir/StructureDefinition';
const peer = { reference: 'PractitionerRole/example-peer' };
const clinician = { reference: 'PractitionerRole/example-clinician' };
const team = { reference: 'CareTeam/example-outpatient-team' };

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc.close();
});

/** The example record under its own recordId. */
function record(recordId: string): any {
  return fixture('early-engagement', recordId);
}

function activity(plan: CarePlan, code: string) {
  return plan.activity?.find((a) => a.detail?.code?.coding?.some((c) => c.code === code));
}

describe('early-engagement: the example record', () => {
  it('is written whole and its Tasks are found by FHIR search as an EHR would', async () => {
    const res = await svc.post(fixture('early-engagement'));
    expect(res.status).toBe(201);
    expect(res.body.outcome).toBe('created');
    expect(passedGates(res.body)).toEqual([
      'ee-appointment-owner',
      'ee-consent',
      'ee-escalation-route',
      'peer-not-clinical-owner',
      'peer-not-clinician',
    ]);
    const id = 'ee-2026-0311';

    const plan = await svc.one<CarePlan>('CarePlan', id, 'careplan');
    expect(plan.status).toBe('active');
    const intake = plan.extension?.find((e) => e.url === `${sd}/intake`) as Extension;
    expect(intake.extension?.find((e) => e.url === 'eligible')?.valueBoolean).toBe(true);
    expect(intake.extension?.filter((e) => e.url === 'criteria').map((e) => e.valueString)).toEqual([
      'first-contact-with-services',
      'uncertain-about-therapy',
    ]);
    const offer = activity(plan, 'peer-support-offer');
    expect(offer?.detail?.status).toBe('completed');
    expect(offer?.detail?.statusReason?.coding?.[0]?.code).toBe('preference-accepted');
    const next = activity(plan, 'next-appointment');
    expect(next?.detail?.kind).toBe('Appointment');
    expect(next?.detail?.status).toBe('scheduled');
    expect(next?.detail?.performer?.[0]?.reference).toBe(clinician.reference);

    const encounter = await svc.one<Encounter>('Encounter', id, 'encounter/peer-contact/2026-11-12');
    expect(encounter.class.code).toBe('VR');
    expect(encounter.reasonCode?.map((r) => r.coding?.[0]?.code)).toEqual(['overwhelmed-by-process', 'unsure-what-therapy-involves']);
    expect(activity(plan, 'peer-contact')?.outcomeReference?.[0]?.reference).toBe(`Encounter/${encounter.id}`);

    const shared = await svc.one<Communication>('Communication', id, 'communication/shared/engagement-barriers/care-team');
    expect(shared.recipient?.[0]?.reference).toBe(team.reference);
    expect(shared.sent).toBe('2026-11-12T16:00:00Z');
    // Found as an auditor finds it: the disclosure audit of that Communication.
    const audits = await svc.fhir<AuditEvent>(`AuditEvent?entity=Communication/${shared.id}`);
    expect(audits).toHaveLength(1);
    expect(audits[0]?.meta?.tag?.[0]?.code).toMatch(
      new RegExp(`^${id}/audit/disclosure/communication/shared/engagement-barriers/care-team/`),
    );

    const tracking = await svc.fhir<Task>(
      `Task?code=${encodeURIComponent(`${pathwaySystem}|first-appointment-tracking`)}&owner=${clinician.reference}&status=requested`,
    );
    const mine = tracking.filter((t) => t.identifier?.[0]?.value === `${id}/task/first-appointment-tracking`);
    expect(mine).toHaveLength(1);
    expect(mine[0]?.restriction?.period?.end).toBe('2026-11-19');
    expect(mine[0]?.businessStatus?.coding?.[0]?.code).toBe('appointment-booked');

    const followUps = await svc.fhir<Task>(
      `Task?code=${encodeURIComponent(`${pathwaySystem}|follow-up-action`)}&owner=${peer.reference}&status=requested`,
    );
    const followUp = followUps.find((t) => t.identifier?.[0]?.value === `${id}/task/follow-up-action`);
    expect(followUp?.restriction?.period?.end).toBe('2026-11-18');
    expect(plan.activity?.some((a) => a.reference?.reference === `Task/${followUp?.id}`)).toBe(true);
  });
});

describe('early-engagement gates', () => {
  it('ee-consent passes when sharing was declined and nothing was shared', async () => {
    const r = record('ee-gate-consent-pass');
    r.consent = { informationSharing: 'declined', categories: [], recipients: [] };
    r.informationShared = [];
    const res = await svc.post(r);
    expect(res.status).toBe(201);
    expect((await svc.one<Consent>('Consent', r.recordId, 'consent')).status).toBe('rejected');
  });

  it('ee-consent fails when information sharing has not been discussed', async () => {
    const r = record('ee-gate-consent-undiscussed');
    r.consent.informationSharing = 'not-yet-discussed';
    r.informationShared = [];
    const res = await svc.post(r);
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['ee-consent']);
    expect(await svc.bySlot('CarePlan', r.recordId, 'careplan')).toHaveLength(0);
  });

  it('ee-consent fails when something was shared while sharing is declined', async () => {
    const r = record('ee-gate-consent-declined');
    r.consent.informationSharing = 'declined';
    const res = await svc.post(r);
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['ee-consent']);
  });

  it('ee-consent fails when a shared category or recipient is not in the consent', async () => {
    const category = record('ee-gate-consent-category');
    category.informationShared = [{ category: 'housing', recipient: 'care-team', sharedAt: '2026-11-12T16:00:00Z' }];
    const recipient = record('ee-gate-consent-recipient');
    recipient.informationShared = [{ category: 'appointment-status', recipient: 'case-manager', sharedAt: '2026-11-12T16:00:00Z' }];
    for (const r of [category, recipient]) {
      const res = await svc.post(r);
      expect(res.status).toBe(422);
      expect(failedGates(res.body)).toEqual(['ee-consent']);
      expect(
        await svc.bySlot(
          'Communication',
          r.recordId,
          `communication/shared/${r.informationShared[0].category}/${r.informationShared[0].recipient}`,
        ),
      ).toHaveLength(0);
    }
  });

  it('ee-appointment-owner passes with a clinical team as owner', async () => {
    const r = record('ee-gate-owner-pass');
    r.nextAppointment.owner = team;
    const res = await svc.post(r);
    expect(res.status).toBe(201);
    expect((await svc.one<Task>('Task', r.recordId, 'task/first-appointment-tracking')).owner?.reference).toBe(team.reference);
  });

  it('ee-appointment-owner fails when the next appointment has no owner', async () => {
    const r = record('ee-gate-owner-missing');
    delete r.nextAppointment.owner;
    const res = await svc.post(r);
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['ee-appointment-owner']);
  });

  it('ee-appointment-owner fails when a peer specialist owns the appointment', async () => {
    const r = record('ee-gate-owner-peer');
    r.nextAppointment.owner = peer;
    const res = await svc.post(r);
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['ee-appointment-owner']);
  });

  it('ee-escalation-route passes with a clinical team as the route', async () => {
    const r = record('ee-gate-route-pass');
    r.escalationRoute = { clinicalOwner: team };
    const res = await svc.post(r);
    expect(res.status).toBe(201);
  });

  it('ee-escalation-route fails without a clinical owner, or with a peer as the route', async () => {
    const missing = record('ee-gate-route-missing');
    delete missing.escalationRoute;
    const peerRoute = record('ee-gate-route-peer');
    peerRoute.escalationRoute = { clinicalOwner: peer };
    for (const r of [missing, peerRoute]) {
      const res = await svc.post(r);
      expect(res.status).toBe(422);
      expect(failedGates(res.body)).toEqual(['ee-escalation-route']);
    }
  });
});

describe('early-engagement safety first', () => {
  it('When a safety concern is disclosed and a gate fails, a stat clinical review is raised anyway', async () => {
    const r = record('ee-safety-blocked');
    delete r.escalationRoute;
    r.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-12T15:00:00Z' };
    const res = await svc.post(r);
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['ee-escalation-route']);
    const review = await svc.one<Task>('Task', r.recordId, 'task/safety-review');
    expect(review.priority).toBe('stat');
    expect(review.code?.coding?.[0]?.code).toBe('clinical-review');
    expect(review.owner?.reference).toBe('PractitionerRole/example-on-call');
    expect(await svc.bySlot('CarePlan', r.recordId, 'careplan')).toHaveLength(0);
    expect(await svc.bySlot('Task', r.recordId, 'task/follow-up-action')).toHaveLength(0);
  });

  it('When a safety concern is disclosed, the CarePlan is put on hold and routine engagement stops', async () => {
    const r = record('ee-safety-on-hold');
    r.safety = { immediateConcernDisclosed: true, summary: 'Disclosed thoughts of self-harm.' };
    const res = await svc.post(r);
    expect(res.status).toBe(201);
    expect((await svc.one<CarePlan>('CarePlan', r.recordId, 'careplan')).status).toBe('on-hold');
    const review = await svc.one<Task>('Task', r.recordId, 'task/safety-review');
    expect(review.priority).toBe('stat');
    expect(review.owner?.reference).toBe(clinician.reference);
    expect((await svc.one<Task>('Task', r.recordId, 'task/follow-up-action')).status).toBe('on-hold');
  });
});

describe('early-engagement resends', () => {
  it('When the identical record is sent again, nothing changes and nothing is doubled', async () => {
    const r = record('ee-resend-identical');
    expect((await svc.post(r)).status).toBe(201);
    const again = await svc.post(r);
    expect(again.status).toBe(200);
    expect(again.body.outcome).toBe('unchanged');
    for (const [type, slot] of [
      ['CarePlan', 'careplan'],
      ['Consent', 'consent'],
      ['Encounter', 'encounter/peer-contact/2026-11-12'],
      ['Communication', 'communication/shared/engagement-barriers/care-team'],
      ['Task', 'task/follow-up-action'],
      ['Task', 'task/first-appointment-tracking'],
    ] as const) {
      expect(await svc.bySlot(type, r.recordId, slot), `${type} ${slot}`).toHaveLength(1);
    }
  });

  it('When a corrected record is sent again, the same resources are updated in place', async () => {
    const r = record('ee-resend-corrected');
    await svc.post(r);
    const before = await svc.one<Task>('Task', r.recordId, 'task/follow-up-action');
    r.followUpAction.due = '2026-11-17';
    const res = await svc.post(r);
    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe('updated');
    const after = await svc.one<Task>('Task', r.recordId, 'task/follow-up-action');
    expect(after.id).toBe(before.id);
    expect(after.restriction?.period?.end).toBe('2026-11-17');
  });

  it('When the appointment is attended, the same activity is updated and the tracking Task is completed', async () => {
    const r = record('ee-resend-attended');
    await svc.post(r);
    const planBefore = await svc.one<CarePlan>('CarePlan', r.recordId, 'careplan');
    const trackingBefore = await svc.one<Task>('Task', r.recordId, 'task/first-appointment-tracking');
    r.nextAppointment.status = 'attended';
    expect((await svc.post(r)).status).toBe(200);
    const plan = await svc.one<CarePlan>('CarePlan', r.recordId, 'careplan');
    expect(plan.id).toBe(planBefore.id);
    expect(plan.activity?.filter((a) => a.detail?.code?.coding?.[0]?.code === 'next-appointment')).toHaveLength(1);
    expect(activity(plan, 'next-appointment')?.detail?.status).toBe('completed');
    const tracking = await svc.one<Task>('Task', r.recordId, 'task/first-appointment-tracking');
    expect(tracking.id).toBe(trackingBefore.id);
    expect(tracking.status).toBe('completed');
    expect(tracking.businessStatus?.coding?.[0]?.code).toBe('appointment-attended');
  });

  it('When the appointment is missed, a follow-up Task goes to the appointment owner', async () => {
    const r = record('ee-resend-missed');
    await svc.post(r);
    expect(await svc.bySlot('Task', r.recordId, 'task/missed-appointment-follow-up')).toHaveLength(0);
    r.nextAppointment.status = 'missed';
    r.recordedAt = '2026-11-19T17:00:00Z';
    expect((await svc.post(r)).status).toBe(200);
    const tracking = await svc.one<Task>('Task', r.recordId, 'task/first-appointment-tracking');
    expect(tracking.status).toBe('requested');
    expect(tracking.businessStatus?.coding?.[0]?.code).toBe('appointment-missed');
    const followUp = await svc.one<Task>('Task', r.recordId, 'task/missed-appointment-follow-up');
    expect(followUp.owner?.reference).toBe(clinician.reference);
    expect(followUp.code?.coding?.[0]?.code).toBe('follow-up-action');
    expect(followUp.priority).toBe('routine');
    expect(followUp.restriction?.period?.end).toBe('2026-11-21T17:00:00.000Z');
    const plan = await svc.one<CarePlan>('CarePlan', r.recordId, 'careplan');
    expect(activity(plan, 'next-appointment')?.detail?.status).toBe('stopped');
    expect(plan.activity?.some((a) => a.reference?.reference === `Task/${followUp.id}`)).toBe(true);
  });

  it('When a clinician has set the tracking Task in progress, a resend leaves it in progress', async () => {
    const r = record('ee-resend-clinician');
    await svc.post(r);
    const task = await svc.one<Task>('Task', r.recordId, 'task/first-appointment-tracking');
    const put = await svc.fhirRaw(`Task/${task.id}`, { method: 'PUT', body: JSON.stringify({ ...task, status: 'in-progress' }) });
    expect(put.ok).toBe(true);
    r.nextAppointment.status = 'attended';
    const res = await svc.post(r);
    expect(res.status).toBe(200);
    expect(res.body.resources.find((x: any) => x.slot === 'task/first-appointment-tracking')?.action).toBe('kept');
    const after = await svc.one<Task>('Task', r.recordId, 'task/first-appointment-tracking');
    expect(after.status).toBe('in-progress');
    expect(after.businessStatus?.coding?.[0]?.code).toBe('appointment-booked');
  });
});

describe('early-engagement consent and privacy', () => {
  it('A category the person did not consent to never appears in any Communication', async () => {
    const r = record('ee-consent-scope');
    r.consent = { informationSharing: 'granted', categories: ['appointment-status'], recipients: ['care-team', 'receiving-clinician'] };
    r.engagementBarriers = ['other', 'none-identified'];
    r.engagementBarriersText = 'BARRIER-TEXT-not-consented';
    r.informationShared = [
      { category: 'appointment-status', recipient: 'care-team', sharedAt: '2026-11-12T16:00:00Z' },
      { category: 'appointment-status', recipient: 'receiving-clinician', sharedAt: '2026-11-12T16:05:00Z' },
    ];
    const res = await svc.post(r);
    expect(res.status).toBe(201);
    const communications = [
      ...(await svc.bySlot<Communication>('Communication', r.recordId, 'communication/shared/appointment-status/care-team')),
      ...(await svc.bySlot<Communication>('Communication', r.recordId, 'communication/shared/appointment-status/receiving-clinician')),
    ];
    expect(communications).toHaveLength(2);
    expect(communications.map((c) => c.recipient?.[0]?.reference)).toEqual([team.reference, clinician.reference]);
    const categories = communications
      .flatMap((c) => c.payload ?? [])
      .flatMap((p) => p.extension ?? [])
      .filter((e) => e.url === `${sd}/information-category`)
      .map((e) => e.valueCoding?.code);
    expect(categories).toEqual(['appointment-status', 'appointment-status']);
    expect(JSON.stringify(communications)).not.toContain('engagement-barriers');
    expect(JSON.stringify(communications)).not.toContain('BARRIER-TEXT');
    const encounter = await svc.one<Encounter>('Encounter', r.recordId, 'encounter/peer-contact/2026-11-12');
    // Engagement barriers are not consented for the care team: neither their text nor their codes are
    // written (spec §5); the Encounter says barriers exist and are masked.
    expect(encounter.reasonCode).toEqual([
      { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }] },
    ]);
    const plan = await svc.one<CarePlan>('CarePlan', r.recordId, 'careplan');
    expect(JSON.stringify(plan)).not.toContain('BARRIER-TEXT');
  });

  it('The text of an "other" barrier is kept only where consent covers engagement barriers', async () => {
    const r = record('ee-consent-barrier-text');
    r.engagementBarriers = ['other'];
    r.engagementBarriersText = 'Worried about being seen at the clinic.';
    expect((await svc.post(r)).status).toBe(201);
    const encounter = await svc.one<Encounter>('Encounter', r.recordId, 'encounter/peer-contact/2026-11-12');
    expect(encounter.reasonCode?.[0]?.text).toBe('Worried about being seen at the clinic.');
  });

  it('peerNotes appear in no stored resource and no response', async () => {
    const secret = 'PEER-NOTES-must-never-leave-7f3a';
    const r = record('ee-peer-notes');
    r.peerNotes = secret;
    const accepted = await svc.post(r);
    expect(accepted.status).toBe(201);
    expect(JSON.stringify(accepted.body)).not.toContain(secret);
    const stored = await Promise.all(
      (accepted.body.resources as { reference: string }[]).map(async (x) => (await svc.fhirRaw(x.reference)).text()),
    );
    expect(stored.length).toBeGreaterThan(5);
    for (const text of stored) expect(text).not.toContain(secret);

    const blocked = record('ee-peer-notes-blocked');
    blocked.peerNotes = secret;
    blocked.safety = { immediateConcernDisclosed: true };
    delete blocked.escalationRoute;
    const res = await svc.post(blocked);
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body)).not.toContain(secret);
    const review = await svc.one<Task>('Task', blocked.recordId, 'task/safety-review');
    expect(JSON.stringify(review)).not.toContain(secret);
  });

  it('When the peer has not reached the person yet, there is no Encounter and the contact is still in progress', async () => {
    const r = record('ee-no-contact');
    r.peerContact = { completed: false, attempts: 2 };
    expect((await svc.post(r)).status).toBe(201);
    expect(await svc.bySlot('Encounter', r.recordId, 'encounter/peer-contact/2026-11-12')).toHaveLength(0);
    const plan = await svc.one<CarePlan>('CarePlan', r.recordId, 'careplan');
    expect(activity(plan, 'peer-contact')?.detail?.status).toBe('in-progress');
  });
});
