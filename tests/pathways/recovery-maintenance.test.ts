import { readFileSync } from 'node:fs';
import type { AuditEvent, CarePlan, Communication, Encounter, Goal, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedGates, fixture, passedGates, startTestService, type TestService } from '../harness.js';

const sd = 'http://peer-pathways.example.org/fhir/StructureDefinition/';
const clinician = 'PractitionerRole/example-clinician';
const peer = 'PractitionerRole/example-peer';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.close();
});

/** The example record (spec §3.6) under its own recordId, changed by `edit`. */
const record = (recordId: string, edit?: (r: any) => void): any => fixture('recovery-maintenance', recordId, edit);

function subExt(carePlan: CarePlan, name: string, part: string) {
  return carePlan.extension?.find((e) => e.url === `${sd}${name}`)?.extension?.find((e) => e.url === part);
}

function activityCodes(carePlan: CarePlan): string[] {
  return (carePlan.activity ?? []).map((a) => a.detail?.code?.coding?.[0]?.code ?? '');
}

describe('recovery-maintenance: the example record', () => {
  it('the contract example posts as it is: 201, with its CarePlan, Consent, Goal, check-in, re-entry review, signs and outcome review', async () => {
    const example = JSON.parse(readFileSync('/work/shared/spec/examples/recovery-maintenance.json', 'utf8'));
    const res = await svc.post(example);
    expect(res.status).toBe(201);
    expect(res.body.outcome).toBe('created');
    expect(res.body.resources.map((r: any) => r.reference.split('/')[0]).sort()).toEqual([
      'AuditEvent',
      'CarePlan',
      'Communication',
      'Consent',
      'Encounter',
      'Goal',
      'Provenance',
      'Task',
      'Task',
    ]);
    expect(res.body.tasks.map((t: any) => t.code).sort()).toEqual(['outcome-review', 're-entry-review']);
    expect(failedGates(res.body)).toEqual([]);
    expect(passedGates(res.body)).toEqual(
      expect.arrayContaining([
        'rm-discharge-confirmed',
        'rm-person-agreement',
        'rm-re-entry-route',
        'rm-escalation-route',
        'rm-time-limited',
        'rm-consent-aligned',
      ]),
    );
  });

  it('maps each field where spec §3.6 puts it', async () => {
    expect((await svc.post(record('rm-map'))).status).toBe(201);
    const carePlan = await svc.one<CarePlan>('CarePlan', 'rm-map', 'careplan');
    expect(carePlan.status).toBe('active');
    expect(carePlan.period).toEqual({ start: '2026-11-10' });
    expect(carePlan.category?.[1]?.coding?.[0]?.code).toBe('recovery-maintenance');
    expect(subExt(carePlan, 'discharge', 'dischargedBy')?.valueReference?.reference).toBe(clinician);
    expect(subExt(carePlan, 're-entry-route', 'owner')?.valueReference?.reference).toBe(clinician);
    expect(subExt(carePlan, 'recovery-monitoring', 'warningSignsObserved')?.valueInteger).toBe(1);
    expect(carePlan.extension?.find((e) => e.url === `${sd}peer-support-review-date`)?.valueDate).toBe('2027-02-02');
    expect(activityCodes(carePlan).filter((c) => c === 'warning-signs')).toHaveLength(2);
    expect(activityCodes(carePlan)).toEqual(expect.arrayContaining(['peer-check-ins', 'peer-contact', 're-entry-route']));
    const goal = await svc.one<Goal>('Goal', 'rm-map', 'goal/0');
    expect(carePlan.goal?.map((g) => g.reference)).toEqual([`Goal/${goal.id}`]);

    const checkIn = await svc.one<Encounter>('Encounter', 'rm-map', 'encounter/check-in/2026-11-24');
    expect(checkIn.status).toBe('finished');
    expect(checkIn.period?.start).toBe('2026-11-24');
    expect(checkIn.class?.code).toBeDefined();

    const review = await svc.one<Task>('Task', 'rm-map', 'task/re-entry-review/2026-11-10');
    expect(review.code?.coding?.[0]?.code).toBe('re-entry-review');
    expect(review.priority).toBe('urgent');
    expect(review.owner?.reference).toBe(clinician);
    expect(review.restriction?.period?.end).toBe('2026-11-27T15:30:00.000Z');
    expect(review.reasonCode?.coding?.map((c) => c.code)).toEqual(['warning-signs-observed']);
    // The minimum: which trigger, since when. The signs themselves travel in the Communication, within consent.
    expect(review.description).toContain('warning signs seen since 2026-11-10');
    expect(review.description).not.toContain('Sleeping under five hours');

    const signs = await svc.one<Communication>('Communication', 'rm-map', 'communication/re-entry/2026-11-10');
    expect(signs.recipient?.[0]?.reference).toBe(clinician);
    expect(signs.payload?.map((p) => p.contentString)).toEqual([
      'Warning sign seen since 2026-11-10: Sleeping under five hours',
      'Recovery goal: Keep the Thursday walking group',
    ]);

    const outcome = await svc.one<Task>('Task', 'rm-map', 'task/outcome-review');
    expect(outcome.owner?.reference).toBe(clinician);
    expect(outcome.restriction?.period?.end).toBe('2027-02-02');
  });
});

describe('recovery-maintenance: the re-entry trigger (spec §3.6)', () => {
  it('one episode, one Task: a resend updates it, a Task a clinician moved on is kept, a later episode raises a new one', async () => {
    expect((await svc.post(record('rm-episodes'))).status).toBe(201);
    const first = await svc.one<Task>('Task', 'rm-episodes', 'task/re-entry-review/2026-11-10');
    const accepted = { ...first, status: 'accepted' as const };
    expect((await svc.fhirRaw(`Task/${first.id}`, { method: 'PUT', body: JSON.stringify(accepted) })).status).toBe(200);

    const resent = await svc.post(
      record('rm-episodes', (r) => {
        r.monitoring.warningSignsObserved.push('Stopping contact with friends');
      }),
    );
    expect(resent.status).toBe(200);
    const kept = await svc.bySlot<Task>('Task', 'rm-episodes', 'task/re-entry-review/2026-11-10');
    expect(kept.map((t) => t.status)).toEqual(['accepted']);

    const later = await svc.post(
      record('rm-episodes', (r) => {
        r.recordedAt = '2026-12-20T10:00:00Z';
        r.monitoring = { since: '2026-12-15', missedCheckIns: 0, warningSignsObserved: ['Sleeping under five hours'] };
        r.lastCheckIn = { date: '2026-12-18', completed: true, mode: 'video' };
      }),
    );
    expect(later.status).toBe(200);
    expect(await svc.bySlot<Task>('Task', 'rm-episodes', 'task/re-entry-review/2026-12-15')).toHaveLength(1);
    expect(await svc.bySlot<Task>('Task', 'rm-episodes', 'task/re-entry-review/2026-11-10')).toHaveLength(1);
    // Check-ins accumulate, keyed by date.
    expect(await svc.bySlot<Encounter>('Encounter', 'rm-episodes', 'encounter/check-in/2026-11-24')).toHaveLength(1);
    expect(await svc.bySlot<Encounter>('Encounter', 'rm-episodes', 'encounter/check-in/2026-12-18')).toHaveLength(1);
  });

  it('missed check-ins alone (at the threshold) raise the Task and no Communication; below it, nothing', async () => {
    const missed = await svc.post(
      record('rm-missed', (r) => {
        r.monitoring = { since: '2026-11-10', missedCheckIns: 2, warningSignsObserved: [] };
      }),
    );
    expect(missed.status).toBe(201);
    const task = await svc.one<Task>('Task', 'rm-missed', 'task/re-entry-review/2026-11-10');
    expect(task.description).toContain('2 check-ins missed since 2026-11-10');
    expect(task.reasonCode?.coding?.map((c) => c.code)).toEqual(['missed-check-ins']);
    expect(await svc.bySlot<Communication>('Communication', 'rm-missed', 'communication/re-entry/2026-11-10')).toEqual([]);

    const quiet = await svc.post(
      record('rm-quiet', (r) => {
        r.monitoring = { since: '2026-11-10', missedCheckIns: 1, warningSignsObserved: [] };
      }),
    );
    expect(quiet.body.tasks.map((t: any) => t.code)).toEqual(['outcome-review']);
  });

  it('recovery goals go with the signs only when consented; without warning-signs consent the record is blocked (rm-consent-aligned)', async () => {
    const noGoals = await svc.post(
      record('rm-no-goals', (r) => {
        r.consent.categories = ['warning-signs'];
      }),
    );
    expect(noGoals.status).toBe(201);
    const signs = await svc.one<Communication>('Communication', 'rm-no-goals', 'communication/re-entry/2026-11-10');
    expect(signs.payload?.map((p) => p.contentString)).toEqual(['Warning sign seen since 2026-11-10: Sleeping under five hours']);

    const blocked = await svc.post(
      record('rm-no-signs-consent', (r) => {
        r.consent.categories = ['recovery-goals'];
      }),
    );
    expect(blocked.status).toBe(422);
    expect(failedGates(blocked.body)).toEqual(['rm-consent-aligned']);
    expect(await svc.bySlot<Communication>('Communication', 'rm-no-signs-consent', 'communication/re-entry/2026-11-10')).toEqual([]);
    const audit = await svc.fhir<AuditEvent>(
      'AuditEvent?type=http://peer-pathways.example.org/fhir/CodeSystem/peer-pathway|record-blocked',
    );
    expect(audit.some((a) => a.subtype?.some((s) => s.code === 'rm-consent-aligned'))).toBe(true);
  });

  it('monitoring.since is required when anything is reported (400 on the field)', async () => {
    const res = await svc.post(
      record('rm-no-since', (r) => {
        delete r.monitoring.since;
      }),
    );
    expect(res.status).toBe(400);
    expect(res.body.issue.map((i: any) => i.expression?.[0])).toContain('monitoring.since');
  });
});

describe('recovery-maintenance: safety and role integrity come from the pipeline', () => {
  it('a safety disclosure raises the one stat review, even when a gate blocks the record', async () => {
    const res = await svc.post(
      record('rm-safety', (r) => {
        r.safety = {
          immediateConcernDisclosed: true,
          disclosedAt: '2026-11-24T15:00:00Z',
          summary: 'Said they have a plan to overdose tonight.',
        };
        r.personAgreement.agreedToPeerInvolvement = false;
      }),
    );
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['rm-person-agreement']);
    const safety = await svc.one<Task>('Task', 'rm-safety', 'task/safety-review');
    expect(safety.priority).toBe('stat');
    expect(safety.owner?.reference).toBe(clinician);
    expect(safety.description).toContain('Said they have a plan to overdose tonight.');
    expect(await svc.bySlot<Task>('Task', 'rm-safety', 'task/re-entry-review/2026-11-10')).toEqual([]);
  });

  it('a peer named as re-entry owner or discharging clinician is blocked, and never owns the re-entry review', async () => {
    const res = await svc.post(
      record('rm-peer-owner', (r) => {
        r.reEntryRoute.owner = { reference: peer };
        r.discharge.dischargedBy = { reference: peer };
      }),
    );
    expect(res.status).toBe(422);
    expect(failedGates(res.body).sort()).toEqual(['rm-discharge-confirmed', 'rm-re-entry-route']);
    const dry = await svc.post(record('rm-peer-owner'), '/pathway-records/$validate');
    expect(dry.status).toBe(200);
  });
});

describe('the POST answer and $validate agree issue for issue', () => {
  for (const [name, edit] of [
    ['accepted', undefined],
    [
      'blocked',
      (r: any) => {
        delete r.reEntryRoute.owner;
      },
    ],
  ] as const) {
    it(`${name}: the same gate issues, with their codes, record fields and diagnostics`, async () => {
      const dry = await svc.post(record(`rm-agree-${name}`, edit), '/pathway-records/$validate');
      const dryIssues = dry.body.parameter
        .find((p: any) => p.name === 'outcome')
        .resource.issue.filter((i: any) => i.details?.coding?.some((c: any) => c.system.endsWith('/CodeSystem/gate')));
      const written = await svc.post(record(`rm-agree-${name}`, edit));
      const writtenIssues = (written.body.operationOutcome ?? written.body).issue.filter((i: any) =>
        i.details?.coding?.some((c: any) => c.system.endsWith('/CodeSystem/gate')),
      );
      // A 422 lists the failed gates (then what safety first raised); a 201 every gate result.
      const expected = name === 'blocked' ? dryIssues.filter((i: any) => i.severity === 'error') : dryIssues;
      expect(writtenIssues.length).toBe(name === 'blocked' ? 1 : 8);
      expect(writtenIssues).toEqual(expected);
      expect(writtenIssues.every((i: any) => i.diagnostics && i.details.coding.length === 2)).toBe(true);
    });
  }
});
