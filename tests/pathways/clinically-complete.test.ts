import type { CarePlan, Communication, Encounter, Goal, Resource, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pathwayCodes } from '../../src/records/envelope.js';
import { fixture, startTestService, type TestService } from '../harness.js';

// Issue #17: the failed crisis bridge escalates, consent governs the record, every worklist item can be
// acted on (spec §3.3, §4, §5). Each gap of the issue is one test here, with its right value.

const masked = { url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' };
let svc: TestService;

beforeAll(async () => {
  // Schedules off: the escalation pass runs by hand at the time the test chooses.
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '0', WEBHOOK_INTERVAL_MS: '0' });
});
afterAll(async () => {
  await svc.close();
});

/** Every resource a record's answer names, read back from the server. */
async function written(answer: any): Promise<Resource[]> {
  return Promise.all(
    (answer.resources as { reference: string }[]).map(async (r) => (await svc.fhirRaw(r.reference)).json() as Promise<Resource>),
  );
}

const task = (recordId: string, slot: string) => svc.one<Task>('Task', recordId, slot);
const notes = (t: Task) => (t.note ?? []).map((n) => n.text).join('\n');

describe('crisis transition: the failed bridge escalates (spec §3.3)', () => {
  const failed = (id: string, change: (r: any) => void = () => undefined) =>
    fixture('crisis-transition', id, (r) => {
      r.recentCrisisRiskActive = true;
      r.firstAppointment.status = 'missed';
      r.peerContact = { completed: false, outcome: 'not-reached' };
      r.recordedAt = '2026-11-26T10:00:00Z';
      change(r);
    });

  it('missed appointment and person not reached with crisis risk active: a stat clinical review for the receiving clinician saying which failed', async () => {
    const res = await svc.post(failed('ct17-bridge-stat'));
    expect(res.status).toBe(201);
    const review = await task('ct17-bridge-stat', 'task/bridge-failure/2026-11-25');
    expect(review.code?.coding?.[0]?.code).toBe('clinical-review');
    expect(review.priority).toBe('stat');
    expect(review.status).toBe('requested');
    expect(review.owner?.reference).toBe('PractitionerRole/example-clinician');
    expect(review.businessStatus?.coding?.[0]?.code).toBe('crisis-bridge-failed');
    expect(review.description).toContain('the first outpatient appointment on 2026-11-25 was missed');
    expect(review.description).toContain('peer support had not reached the person');
    expect(review.restriction?.period?.end).toBe('2026-11-26T11:00:00.000Z');
    expect(notes(review)).toContain('Recent crisis risk: ACTIVE');
    // The tracking Task no longer reads as if all were well.
    const tracking = await task('ct17-bridge-stat', 'task/first-appointment-tracking');
    expect(tracking.description).not.toMatch(/^Track attendance/);
    expect(tracking.description).toContain('was missed');
    expect(tracking.description).toContain('task/bridge-failure/2026-11-25');
    expect(tracking.businessStatus?.coding?.[0]?.code).toBe('appointment-missed');
  });

  it('a cancelled appointment without active crisis risk: urgent, due 24 hours after recordedAt', async () => {
    const res = await svc.post(
      failed('ct17-bridge-urgent', (r) => {
        r.recentCrisisRiskActive = false;
        r.firstAppointment.status = 'cancelled';
        r.peerContact = { completed: true, date: '2026-11-20', outcome: 'reached-and-prepared' };
      }),
    );
    expect(res.status).toBe(201);
    const review = await task('ct17-bridge-urgent', 'task/bridge-failure/2026-11-25');
    expect(review.priority).toBe('urgent');
    expect(review.restriction?.period?.end).toBe('2026-11-27T10:00:00.000Z');
    expect(review.description).toContain('was cancelled');
    expect(review.description).not.toContain('not reached');
  });

  it('not reached while the appointment is still ahead is no failure; once its date has passed it is', async () => {
    const ahead = fixture('crisis-transition', 'ct17-not-yet', (r) => {
      r.peerContact = { completed: false, outcome: 'not-reached' };
    });
    expect((await svc.post(ahead)).status).toBe(201);
    expect(await svc.bySlot('Task', 'ct17-not-yet', 'task/bridge-failure/2026-11-25')).toHaveLength(0);
    const passed = fixture('crisis-transition', 'ct17-not-yet', (r) => {
      r.peerContact = { completed: false, outcome: 'not-reached' };
      r.recordedAt = '2026-11-26T09:00:00Z';
    });
    expect((await svc.post(passed)).status).toBe(200);
    const review = await task('ct17-not-yet', 'task/bridge-failure/2026-11-25');
    expect(review.priority).toBe('urgent');
    expect(review.description).toContain('had not reached the person when the first appointment date (2026-11-25) had passed');
  });

  it('a resend updates the review in place, never doubles it, and never resets it once a clinician moved it on', async () => {
    const r = failed('ct17-bridge-resend');
    await svc.post(r);
    expect((await svc.post(r)).body.outcome).toBe('unchanged');
    const review = await task('ct17-bridge-resend', 'task/bridge-failure/2026-11-25');
    const put = await svc.fhirRaw(`Task/${review.id}`, { method: 'PUT', body: JSON.stringify({ ...review, status: 'in-progress' }) });
    expect(put.ok).toBe(true);
    const again = await svc.post(
      failed('ct17-bridge-resend', (x) => {
        x.firstAppointment.status = 'cancelled';
      }),
    );
    expect(again.status).toBe(200);
    expect(await svc.bySlot('Task', 'ct17-bridge-resend', 'task/bridge-failure/2026-11-25')).toHaveLength(1);
    expect((await task('ct17-bridge-resend', 'task/bridge-failure/2026-11-25')).status).toBe('in-progress');
  });

  it('the overdue job escalates a failed-bridge review nobody accepted, carrying its worklist notes', async () => {
    await svc.post(failed('ct17-bridge-overdue'));
    await svc.service.followUp.escalation.runOnce(new Date('2026-11-26T12:00:00Z'));
    const [escalation] = await svc.bySlot<Task>('Task', 'ct17-bridge-overdue', 'task/bridge-failure/2026-11-25/escalation');
    expect(escalation?.owner?.reference).toBe('PractitionerRole/example-on-call');
    expect(notes(escalation!)).toContain('Recent crisis risk: ACTIVE');
  });

  it('the planned clinical follow-up is a scheduled-clinical-review Task for its clinician, due on its date', async () => {
    const res = await svc.post(
      fixture('crisis-transition', 'ct17-follow-up', (r) => {
        r.clinicalFollowUp = { planned: true, date: '2026-11-27', clinician: { reference: 'CareTeam/example-outpatient-team' } };
      }),
    );
    expect(res.status).toBe(201);
    const review = await task('ct17-follow-up', 'task/scheduled-clinical-review');
    expect(review.code?.coding?.[0]?.code).toBe('scheduled-clinical-review');
    expect(review.owner?.reference).toBe('CareTeam/example-outpatient-team');
    expect(review.restriction?.period?.end).toBe('2026-11-27');
  });

  it('a routed housing concern is a care-coordination review as in concern routing, owned by whom it was routed to', async () => {
    const res = await svc.post(
      fixture('crisis-transition', 'ct17-housing', (r) => {
        r.consent.categories.push('housing');
        r.consent.recipients.push('case-manager');
        r.concernsRouted = [
          { category: 'housing', routedTo: { reference: 'PractitionerRole/example-case-manager' }, routedAt: '2026-11-20T15:00:00Z' },
        ];
      }),
    );
    expect(res.status).toBe(201);
    const review = await task('ct17-housing', 'task/care-coordination-review/PractitionerRole/example-case-manager');
    expect(review.code?.coding?.[0]?.code).toBe('care-coordination-review');
    expect(review.owner?.reference).toBe('PractitionerRole/example-case-manager');
    expect(review.priority).toBe('routine');
    expect(review.restriction?.period?.end).toBe('2026-11-23T15:30:00.000Z');
    expect(review.reasonCode?.coding?.map((c) => c.code)).toEqual(['housing']);
  });

  it('an outcome review 30 days after discharge, owned by the receiving team', async () => {
    await svc.post(fixture('crisis-transition', 'ct17-outcome'));
    const review = await task('ct17-outcome', 'task/outcome-review');
    expect(review.restriction?.period?.end).toBe('2026-12-18');
    expect(review.owner?.reference).toBe('CareTeam/example-outpatient-team');
  });

  it('transitionSource.service is coded, its words kept as display', async () => {
    await svc.post(
      fixture('crisis-transition', 'ct17-coded', (r) => {
        r.transitionSource.service = 'emergency-department';
      }),
    );
    const plan = await svc.one<CarePlan>('CarePlan', 'ct17-coded', 'careplan');
    const source = plan.extension?.find((e) => e.url.endsWith('/transition-source'));
    expect(source?.extension?.find((e) => e.url === 'service')?.valueCoding).toEqual({
      system: 'http://peer-pathways.example.org/fhir/CodeSystem/transition-source',
      code: 'emergency-department',
      display: 'Emergency department',
    });
  });
});

/** Each pathway's record with consent declined (and nothing shared, so that it is accepted), and the content of a consent category it carries. */
const declined: Record<(typeof pathwayCodes)[number], { record: () => any; canaries: string[] }> = {
  'early-engagement': {
    record: () =>
      fixture('early-engagement', 'd17-ee', (r) => {
        r.engagementBarriers = ['mistrust-of-services', 'other'];
        r.engagementBarriersText = 'CANARY-BARRIER-TEXT';
        r.informationShared = [];
      }),
    canaries: ['CANARY-BARRIER-TEXT', 'mistrust-of-services', 'Previous mistrust of services', 'overwhelmed-by-process'],
  },
  'step-down': {
    record: () =>
      fixture('step-down', 'd17-sd', (r) => {
        r.recoveryGoals = [{ description: 'CANARY-GOAL', status: 'in-progress' }];
        r.warningSigns = ['CANARY-SIGN'];
        r.communityConnectionPlan = [{ activity: 'CANARY-COMMUNITY', schedule: 'CANARY-SCHEDULE', contact: 'CANARY-CONTACT' }];
      }),
    canaries: ['CANARY-GOAL', 'CANARY-SIGN', 'CANARY-COMMUNITY', 'CANARY-SCHEDULE', 'CANARY-CONTACT'],
  },
  'crisis-transition': {
    record: () =>
      fixture('crisis-transition', 'd17-ct', (r) => {
        r.engagementConcern = 'CANARY-ENGAGEMENT-CONCERN';
        r.receivingClinicianNotification.notified = false;
      }),
    canaries: ['CANARY-ENGAGEMENT-CONCERN'],
  },
  'concern-routing': {
    // Declined, only a safety concern can be routed (duty of care): its summary stays out.
    record: () =>
      fixture('concern-routing', 'd17-cr', (r) => {
        r.concerns = [{ category: 'safety', summary: 'CANARY-CONCERN-SUMMARY' }];
      }),
    canaries: ['CANARY-CONCERN-SUMMARY'],
  },
  'recovery-maintenance': {
    record: () =>
      fixture('recovery-maintenance', 'd17-rm', (r) => {
        r.recoveryGoals = [{ description: 'CANARY-GOAL', status: 'in-progress' }];
        r.warningSigns = ['CANARY-SIGN'];
        r.monitoring = { since: '2026-11-10', missedCheckIns: 2, warningSignsObserved: [] };
      }),
    canaries: ['CANARY-GOAL', 'CANARY-SIGN'],
  },
};

describe('consent governs the record, in every pathway (spec §5)', () => {
  for (const pathway of pathwayCodes) {
    it(`${pathway}, consent declined: no consent-category text or code in any written resource; the operational facts are there`, async () => {
      const record = declined[pathway].record();
      record.consent = { informationSharing: 'declined', categories: [], recipients: [], recordedAt: record.consent.recordedAt };
      const res = await svc.post(record);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      const resources = await written(res.body);
      const text = JSON.stringify(resources);
      for (const canary of declined[pathway].canaries) expect(text, canary).not.toContain(canary);
      // Operational facts: the pathway, its dates, owners and Task states.
      const plan = resources.find((r): r is CarePlan => r.resourceType === 'CarePlan')!;
      expect(plan.category?.[1]?.coding?.[0]?.code).toBe(pathway);
      expect(plan.created).toBe(record.recordedAt);
      const tasks = resources.filter((r): r is Task => r.resourceType === 'Task');
      expect(tasks.length).toBeGreaterThan(0);
      for (const t of tasks) {
        expect(t.owner?.reference).toMatch(/^(PractitionerRole|CareTeam|Organization)\//);
        expect(t.status).toBeTruthy();
        expect(notes(t)).toContain('Consent: sharing declined');
      }
      expect(resources.find((r) => r.resourceType === 'Consent')).toMatchObject({ status: 'rejected' });
    });
  }

  it('what is masked says so: barriers, goals, warning signs, community connections and the engagement concern carry data-absent-reason masked', async () => {
    const decline = (r: any) => {
      r.consent = { informationSharing: 'declined', categories: [], recipients: [] };
    };
    const ee = declined['early-engagement'].record();
    ee.recordId = 'd17-ee-masked';
    decline(ee);
    expect((await svc.post(ee)).status).toBe(201);
    const encounter = await svc.one<Encounter>('Encounter', 'd17-ee-masked', 'encounter/peer-contact/2026-11-12');
    expect(encounter.reasonCode).toEqual([{ extension: [masked] }]);

    const sd = fixture('step-down', 'd17-sd-masked');
    decline(sd);
    expect((await svc.post(sd)).status).toBe(201);
    const goal = await svc.one<Goal>('Goal', 'd17-sd-masked', 'goal/0');
    expect(goal.description).toEqual({ extension: [masked] });
    expect(goal.achievementStatus?.coding?.[0]?.code).toBe('in-progress');
    const plan = await svc.one<CarePlan>('CarePlan', 'd17-sd-masked', 'careplan');
    for (const code of ['warning-signs', 'community-connection']) {
      const acts = plan.activity?.filter((a) => a.detail?.code?.coding?.[0]?.code === code) ?? [];
      expect(acts).toHaveLength(1);
      expect((acts[0]?.detail as any)._description).toEqual({ extension: [masked] });
    }

    const ct = declined['crisis-transition'].record();
    ct.recordId = 'd17-ct-masked';
    decline(ct);
    expect((await svc.post(ct)).status).toBe(201);
    const ctPlan = await svc.one<CarePlan>('CarePlan', 'd17-ct-masked', 'careplan');
    expect(ctPlan.note?.[0]?.extension).toEqual([masked]);
    expect(ctPlan.note?.[0]?.text).toContain('not shared');
  });

  it('consented content is written: the same step-down with its categories granted keeps goals and signs', async () => {
    await svc.post(fixture('step-down', 'd17-sd-granted'));
    const goal = await svc.one<Goal>('Goal', 'd17-sd-granted', 'goal/0');
    expect(goal.description?.text).toBe('Join the Thursday walking group');
  });

  it('a consent that has expired by recordedAt governs as not given (SiteTime.endMs)', async () => {
    const r = fixture('step-down', 'd17-sd-expired', (x) => {
      x.consent.expires = '2026-11-15';
    });
    expect((await svc.post(r)).status).toBe(201);
    expect((await svc.one<Goal>('Goal', 'd17-sd-expired', 'goal/0')).description).toEqual({ extension: [masked] });
  });

  it('the safety summary travels on the stat Task whatever the consent, with the exception recorded (spec §4)', async () => {
    const r = fixture('early-engagement', 'd17-safety', (x) => {
      x.consent = { informationSharing: 'declined', categories: [], recipients: [] };
      x.informationShared = [];
      x.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-14T08:50:00Z', summary: 'Has a plan to overdose tonight.' };
    });
    expect((await svc.post(r)).status).toBe(201);
    const review = await task('d17-safety', 'task/safety-review');
    expect(review.priority).toBe('stat');
    expect(review.description).toContain('Disclosed: Has a plan to overdose tonight.');
    expect(review.description).not.toContain('..');
    expect(review.extension?.map((e) => e.url)).toContain(
      'http://peer-pathways.example.org/fhir/StructureDefinition/duty-of-care-exception',
    );
    expect(notes(review)).toContain('Duty of care');
  });
});

describe('every worklist item can be acted on (spec §5)', () => {
  for (const pathway of pathwayCodes) {
    it(`${pathway}: every Task states its reason, due time, person, escalation and consent status; a crisis transition its crisis-risk flag`, async () => {
      const res = await svc.post(
        fixture(pathway, `w17-${pathway}`, (r) => {
          r.safety = { immediateConcernDisclosed: true, summary: 'Said they feel unsafe at home.' };
        }),
      );
      expect([201, 422]).toContain(res.status);
      const tasks = await svc.fhir<Task>(`Task?_tag=${encodeURIComponent(`urn:example:peer-platform|w17-${pathway}`)}`);
      expect(tasks.length).toBeGreaterThan(1);
      for (const t of tasks) {
        expect(t.description, t.identifier?.[0]?.value).toMatch(/\S.*[.?!]$/);
        expect(t.description).not.toMatch(/\.\.$/);
        const n = notes(t);
        expect(n).toMatch(/^Due: by /m);
        expect(t.restriction?.period?.end).toBeTruthy();
        expect(n).toContain('Person: Patient/example-person');
        expect(n).toMatch(/^Escalation: clinical owner PractitionerRole\/example-clinician\. Escalation instructions: /m);
        expect(n).toMatch(/^Consent: sharing granted for /m);
        if (pathway === 'crisis-transition') expect(n).toContain('Recent crisis risk: not active.');
        else expect(n).not.toContain('Recent crisis risk');
      }
    });
  }
});

describe('smaller, same kind', () => {
  it('early-engagement peer contacts accumulate as Encounters keyed by date; a resend of the same contact changes nothing', async () => {
    const first = fixture('early-engagement', 'ee17-contacts');
    await svc.post(first);
    const later = fixture('early-engagement', 'ee17-contacts', (r) => {
      r.peerContact = { completed: true, date: '2026-11-13', mode: 'video', attempts: 2 };
    });
    expect((await svc.post(later)).status).toBe(200);
    expect(await svc.bySlot('Encounter', 'ee17-contacts', 'encounter/peer-contact/2026-11-12')).toHaveLength(1);
    const second = await svc.one<Encounter>('Encounter', 'ee17-contacts', 'encounter/peer-contact/2026-11-13');
    expect(second.period?.start).toBe('2026-11-13');
    expect((await svc.post(later)).body.outcome).toBe('unchanged');
    expect(await svc.bySlot('Encounter', 'ee17-contacts', 'encounter/peer-contact/2026-11-13')).toHaveLength(1);
  });

  for (const pathway of pathwayCodes) {
    it(`${pathway}: the CarePlan's author is the peer specialist, the clinical owner a contributor`, async () => {
      const res = await svc.post(fixture(pathway, `a17-${pathway}`));
      expect(res.status).toBe(201);
      const plan = await svc.one<CarePlan>('CarePlan', `a17-${pathway}`, 'careplan');
      expect(plan.author?.reference).toBe('PractitionerRole/example-peer');
      expect(plan.contributor?.map((c) => c.reference)).toEqual(['PractitionerRole/example-peer', 'PractitionerRole/example-clinician']);
    });
  }

  it('a summary that ends with a full stop does not end a Task description in ".."', async () => {
    const res = await svc.post(
      fixture('concern-routing', 'dots17', (r) => {
        r.concerns = [{ category: 'housing', summary: 'Sleeping in their car.' }];
      }),
    );
    expect(res.status).toBe(201);
    const review = await task('dots17', 'task/care-coordination-review');
    expect(review.description).toBe('Peer support routed concerns for care-coordination review: housing: Sleeping in their car.');
  });

  it('a safety summary without its full stop still ends its sentence before the next one', async () => {
    const res = await svc.post(
      fixture('early-engagement', 'dots17-safety', (r) => {
        delete r.escalationRoute;
        r.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-14T08:50:00Z', summary: 'Feels unsafe at home' };
      }),
    );
    expect(res.status).toBe(422);
    const review = await task('dots17-safety', 'task/safety-review');
    expect(review.description).toContain('Disclosed: Feels unsafe at home. The pathway record itself was not written');
  });
});

// The outside tester's findings on #17: each a test with its right value.
describe('#17 follow-up findings', () => {
  const comms = (recordId: string) =>
    svc.fhir<Communication>(`Communication?_tag=${encodeURIComponent(`urn:example:peer-platform|${recordId}`)}`);
  const text = (c: Communication) => (c.payload ?? []).map((p) => p.contentString).join('\n');

  it('1. a rebooked appointment missed again gets a stat review of its own; the completed review of the first is never reset', async () => {
    const missed = (date: string, status: string, recordedAt: string) =>
      fixture('crisis-transition', 'f17-rebook', (r) => {
        r.recentCrisisRiskActive = true;
        r.firstAppointment.date = date;
        r.firstAppointment.status = status;
        r.recordedAt = recordedAt;
      });
    expect((await svc.post(missed('2026-11-25', 'missed', '2026-11-26T10:00:00Z'))).status).toBe(201);
    const first = await task('f17-rebook', 'task/bridge-failure/2026-11-25');
    expect(first.priority).toBe('stat');
    expect((await svc.fhirRaw(`Task/${first.id}`, { method: 'PUT', body: JSON.stringify({ ...first, status: 'completed' }) })).ok).toBe(
      true,
    );
    expect((await svc.post(missed('2026-12-02', 'booked', '2026-11-27T10:00:00Z'))).status).toBe(200);
    expect(await svc.bySlot('Task', 'f17-rebook', 'task/bridge-failure/2026-12-02')).toHaveLength(0);
    expect((await svc.post(missed('2026-12-02', 'missed', '2026-12-03T10:00:00Z'))).status).toBe(200);
    const second = await task('f17-rebook', 'task/bridge-failure/2026-12-02');
    expect(second).toMatchObject({ status: 'requested', priority: 'stat' });
    expect(second.restriction?.period?.end).toBe('2026-12-03T11:00:00.000Z');
    expect(second.description).toContain('on 2026-12-02 was missed');
    expect((await task('f17-rebook', 'task/bridge-failure/2026-11-25')).status).toBe('completed');
    expect((await task('f17-rebook', 'task/first-appointment-tracking')).description).toContain('task/bridge-failure/2026-12-02');
  });

  it('2. a Communication payload carries content only where its category is consented for the care team and the recipient', async () => {
    const cr = fixture('concern-routing', 'f17-consent-cr', (r) => {
      r.consent.recipients = ['case-manager'];
      r.concerns = [{ category: 'housing', summary: 'Mentioned sleeping in their car this week.' }];
    });
    const res = await svc.post(cr);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const toCaseManager = (await comms('f17-consent-cr')).find((c) =>
      c.identifier?.[0]?.value?.endsWith('/communication/care-coordination-review'),
    )!;
    expect(text(toCaseManager)).not.toContain('sleeping in their car');
    expect(text(toCaseManager)).toContain('category housing; it is not shared');
    expect(toCaseManager.payload?.[0]?.extension).toContainEqual(masked);
    const ct = fixture('crisis-transition', 'f17-consent-ct', (r) => {
      r.consent.recipients = ['receiving-clinician'];
    });
    expect((await svc.post(ct)).status).toBe(201);
    const toClinician = (await comms('f17-consent-ct')).find((c) =>
      c.identifier?.[0]?.value?.endsWith('/communication/receiving-clinician'),
    )!;
    expect(text(toClinician)).not.toContain('intimidating');
    expect(text(toClinician)).toContain('First appointment 2026-11-25: booked.');
    // Consented for both: the words go.
    expect((await svc.post(fixture('crisis-transition', 'f17-consent-both'))).status).toBe(201);
    expect(
      text((await comms('f17-consent-both')).find((c) => c.identifier?.[0]?.value?.endsWith('/communication/receiving-clinician'))!),
    ).toContain('intimidating');
  });

  it('3. routed concerns are keyed by what they are: removing one leaves the sent one alone and doubles nothing', async () => {
    const routed = (list: [string, string][]) =>
      fixture('crisis-transition', 'f17-keys', (r) => {
        r.consent.categories.push('housing', 'clinical-concerns');
        r.consent.recipients.push('case-manager');
        r.concernsRouted = list.map(([category, ref]) => ({ category, routedTo: { reference: ref }, routedAt: '2026-11-20T15:00:00Z' }));
      });
    expect(
      (
        await svc.post(
          routed([
            ['clinical-deterioration', 'PractitionerRole/example-clinician'],
            ['housing', 'PractitionerRole/example-case-manager'],
          ]),
        )
      ).status,
    ).toBe(201);
    const housingSlot = 'communication/concern/housing/PractitionerRole/example-case-manager';
    const housing = await svc.one<Communication>('Communication', 'f17-keys', housingSlot);
    expect((await svc.post(routed([['housing', 'PractitionerRole/example-case-manager']]))).status).toBe(200);
    const after = await svc.one<Communication>('Communication', 'f17-keys', housingSlot);
    expect(after.meta?.versionId).toBe(housing.meta?.versionId);
    expect(after.recipient?.[0]?.reference).toBe('PractitionerRole/example-case-manager');
    expect(
      await svc.bySlot('Communication', 'f17-keys', 'communication/concern/clinical-deterioration/PractitionerRole/example-clinician'),
    ).toHaveLength(1);
    expect((await comms('f17-keys')).filter((c) => c.recipient?.[0]?.reference === 'PractitionerRole/example-case-manager')).toHaveLength(
      1,
    );
  });

  it("3. early engagement's shared information is keyed by category and recipient: removing one leaves the other as sent", async () => {
    const shares = (list: [string, string][]) =>
      fixture('early-engagement', 'f17-ee-keys', (r) => {
        r.consent.categories.push('appointment-status');
        r.informationShared = list.map(([category, recipient]) => ({ category, recipient, sharedAt: '2026-11-12T16:00:00Z' }));
      });
    expect(
      (
        await svc.post(
          shares([
            ['engagement-barriers', 'care-team'],
            ['appointment-status', 'care-team'],
          ]),
        )
      ).status,
    ).toBe(201);
    const kept = await svc.one<Communication>('Communication', 'f17-ee-keys', 'communication/shared/appointment-status/care-team');
    expect((await svc.post(shares([['appointment-status', 'care-team']]))).status).toBe(200);
    expect(
      (await svc.one<Communication>('Communication', 'f17-ee-keys', 'communication/shared/appointment-status/care-team')).meta?.versionId,
    ).toBe(kept.meta?.versionId);
    expect(await svc.bySlot('Communication', 'f17-ee-keys', 'communication/shared/engagement-barriers/care-team')).toHaveLength(1);
  });

  it('4. a route naming a peer is refused on the worklist: no peer as urgent contact, no instructions sending the clinician to the peer', async () => {
    const res = await svc.post(
      fixture('early-engagement', 'f17-peer-route', (r) => {
        r.escalationRoute = {
          clinicalOwner: { reference: 'PractitionerRole/example-peer' },
          urgentContact: { reference: 'PractitionerRole/example-peer' },
          instructions: 'Ring Sam the peer.',
        };
        r.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-14T08:50:00Z', summary: 'Feels unsafe at home.' };
      }),
    );
    expect(res.status).toBe(422);
    const review = await task('f17-peer-route', 'task/safety-review');
    const n = notes(review);
    expect(n).toContain(
      "the named clinical owner is a peer role, who never holds clinical responsibility, so this goes to the site's clinical route",
    );
    expect(n).toContain('The named urgent contact is a peer role and is not given here.');
    expect(n).not.toContain('Urgent contact: PractitionerRole/example-peer');
    expect(n).not.toContain('Ring Sam');
    expect(n).not.toContain('no clinical owner was named');
  });

  it("5. a resend never moves a still-requested Task's due time later, nor downgrades it from stat", async () => {
    const bridge = (risk: boolean, recordedAt: string) =>
      fixture('crisis-transition', 'f17-due', (r) => {
        r.recentCrisisRiskActive = risk;
        r.firstAppointment.status = 'missed';
        r.recordedAt = recordedAt;
      });
    await svc.post(bridge(false, '2026-11-26T10:00:00Z'));
    expect((await task('f17-due', 'task/bridge-failure/2026-11-25')).restriction?.period?.end).toBe('2026-11-27T10:00:00.000Z');
    await svc.post(bridge(true, '2026-11-27T10:00:00Z'));
    const stat = await task('f17-due', 'task/bridge-failure/2026-11-25');
    expect(stat.priority).toBe('stat');
    expect(stat.restriction?.period?.end).toBe('2026-11-27T10:00:00.000Z');
    await svc.post(bridge(false, '2026-11-28T10:00:00Z'));
    const cleared = await task('f17-due', 'task/bridge-failure/2026-11-25');
    expect(cleared.priority).toBe('stat');
    expect(cleared.restriction?.period?.end).toBe('2026-11-27T10:00:00.000Z');
    // A date the record names follows the record: the rebooked follow-up date moves its review.
    await svc.post(
      fixture('crisis-transition', 'f17-due', (r) => {
        r.recentCrisisRiskActive = false;
        r.firstAppointment.status = 'missed';
        r.recordedAt = '2026-11-28T10:00:00Z';
        r.clinicalFollowUp.date = '2026-12-01';
      }),
    );
    expect((await task('f17-due', 'task/scheduled-clinical-review')).restriction?.period?.end).toBe('2026-12-01');
  });

  it('6. a resend saying the appointment was attended withdraws its untouched bridge review; a touched one stays', async () => {
    const send = (id: string, status: string, recordedAt: string) =>
      fixture('crisis-transition', id, (r) => {
        r.recentCrisisRiskActive = true;
        r.firstAppointment.status = status;
        r.recordedAt = recordedAt;
      });
    await svc.post(send('f17-attended', 'missed', '2026-11-26T10:00:00Z'));
    expect((await svc.post(send('f17-attended', 'attended', '2026-11-27T10:00:00Z'))).status).toBe(200);
    const review = await task('f17-attended', 'task/bridge-failure/2026-11-25');
    expect(review.status).toBe('cancelled');
    expect(review.statusReason?.text).toBe(
      'the first outpatient appointment on 2026-11-25 is attended per the resend recorded at 2026-11-27T10:00:00Z (peer contact: reached-and-prepared); the crisis bridge has not failed for it.',
    );
    expect(notes(review)).toContain('Withdrawn: the first outpatient appointment on 2026-11-25 is attended');
    expect(review.description).toContain('was missed');

    await svc.post(send('f17-attended-touched', 'missed', '2026-11-26T10:00:00Z'));
    const touched = await task('f17-attended-touched', 'task/bridge-failure/2026-11-25');
    await svc.fhirRaw(`Task/${touched.id}`, { method: 'PUT', body: JSON.stringify({ ...touched, status: 'in-progress' }) });
    await svc.post(send('f17-attended-touched', 'attended', '2026-11-27T10:00:00Z'));
    expect((await task('f17-attended-touched', 'task/bridge-failure/2026-11-25')).status).toBe('in-progress');
    // Never created where nothing was raised before.
    await svc.post(send('f17-attended-fresh', 'attended', '2026-11-27T10:00:00Z'));
    expect(await svc.bySlot('Task', 'f17-attended-fresh', 'task/bridge-failure/2026-11-25')).toHaveLength(0);
  });

  it('7. one care-coordination Task per (channel, owner): a concern routed to the provider organization is its own worklist item', async () => {
    const res = await svc.post(
      fixture('crisis-transition', 'f17-owners', (r) => {
        r.consent.categories.push('housing', 'practical-needs');
        r.consent.recipients.push('case-manager');
        r.concernsRouted = [
          { category: 'housing', routedTo: { reference: 'PractitionerRole/example-case-manager' }, routedAt: '2026-11-20T15:00:00Z' },
          { category: 'practical-needs', routedTo: { reference: 'Organization/example-provider' }, routedAt: '2026-11-20T15:00:00Z' },
        ];
      }),
    );
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const cm = await task('f17-owners', 'task/care-coordination-review/PractitionerRole/example-case-manager');
    expect(cm.reasonCode?.coding?.map((c) => c.code)).toEqual(['housing']);
    const org = await task('f17-owners', 'task/care-coordination-review/Organization/example-provider');
    expect(org.owner?.reference).toBe('Organization/example-provider');
    expect(org.reasonCode?.coding?.map((c) => c.code)).toEqual(['practical-needs']);
  });

  it('8. an escalation states its own due time and carries the safety disclosure under the duty of care, with the exception recorded', async () => {
    const r = fixture('early-engagement', 'f17-esc', (x) => {
      x.consent = { informationSharing: 'declined', categories: [], recipients: [] };
      x.informationShared = [];
      x.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-14T08:50:00Z', summary: 'Has a plan to overdose tonight.' };
    });
    expect((await svc.post(r)).status).toBe(201);
    await svc.service.followUp.escalation.runOnce(new Date('2026-11-14T12:00:00Z'));
    const [escalation] = await svc.bySlot<Task>('Task', 'f17-esc', 'task/safety-review/escalation');
    expect(escalation).toBeDefined();
    const n = notes(escalation!);
    const due = escalation!.restriction?.period?.end;
    expect(n).toMatch(new RegExp(`^Due: by ${due!.replace(/[.]/g, '\\.')} `, 'm'));
    expect(n.match(/^Due: /gm)).toHaveLength(1);
    expect(escalation!.description).toContain('Has a plan to overdose tonight.');
    expect(escalation!.extension?.map((e) => e.url)).toContain(
      'http://peer-pathways.example.org/fhir/StructureDefinition/duty-of-care-exception',
    );
    expect(n).toContain('Duty of care');
  });

  it('9. a sentence ends in one mark: its own ! or ?, else a full stop replacing a trailing , ; :', async () => {
    const cases: [string, string, string][] = [
      ['Call duty clinician!', 'Has a plan,', 'Escalation instructions: Call duty clinician!'],
      ['Call them:', 'Has a plan;', 'Escalation instructions: Call them.'],
    ];
    for (const [i, [instructions, summary, expected]] of cases.entries()) {
      const id = `f17-dots-${i}`;
      await svc.post(
        fixture('early-engagement', id, (r) => {
          r.escalationRoute.instructions = instructions;
          r.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-14T08:50:00Z', summary };
        }),
      );
      const review = await task(id, 'task/safety-review');
      expect(notes(review)).toContain(expected);
      expect(notes(review)).not.toMatch(/[!?,;:]\./);
      expect(review.description).toContain('Disclosed: Has a plan.');
      expect(review.description).not.toMatch(/[!?,;:]\./);
    }
  });

  it('also: not reached before the appointment and never resent — once its date passes, the overdue job escalates the tracking to on-call', async () => {
    const r = fixture('crisis-transition', 'f17-silent', (x) => {
      x.recentCrisisRiskActive = true;
      x.peerContact = { completed: false, outcome: 'not-reached' };
    });
    expect((await svc.post(r)).status).toBe(201);
    expect(await svc.bySlot('Task', 'f17-silent', 'task/bridge-failure/2026-11-25')).toHaveLength(0);
    // Not before the appointment's local day is over.
    await svc.service.followUp.escalation.runOnce(new Date('2026-11-25T20:00:00Z'));
    expect(await svc.bySlot('Task', 'f17-silent', 'task/first-appointment-tracking/escalation')).toHaveLength(0);
    await svc.service.followUp.escalation.runOnce(new Date('2026-11-26T08:00:00Z'));
    const [escalation] = await svc.bySlot<Task>('Task', 'f17-silent', 'task/first-appointment-tracking/escalation');
    expect(escalation?.owner?.reference).toBe('PractitionerRole/example-on-call');
    expect(escalation?.priority).toBe('stat');
    expect(escalation?.description).toMatch(/^Escalated: first appointment tracking Task\/\S+ was due 2026-11-25 /);
    expect(notes(escalation!)).toContain('Recent crisis risk: ACTIVE');
    // An attended appointment is not escalated.
    await svc.post(
      fixture('crisis-transition', 'f17-silent-ok', (x) => {
        x.firstAppointment.status = 'attended';
        x.recordedAt = '2026-11-25T18:00:00Z';
      }),
    );
    await svc.service.followUp.escalation.runOnce(new Date('2026-11-26T08:00:00Z'));
    expect(await svc.bySlot('Task', 'f17-silent-ok', 'task/first-appointment-tracking/escalation')).toHaveLength(0);
  });
});
