import type { Communication, Task } from '@medplum/fhirtypes';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFollowUpConfig } from '../../src/config/followup.js';
import { FhirClient, WriteConflictError } from '../../src/fhir/client.js';
import { escalationTask, raiseAndMark, type FollowUpRules } from '../../src/followup/escalation.js';
import { runFollowUp } from '../../src/followup/overdue.js';
import { taskOrigin } from '../../src/followup/task-origin.js';
import { fixture, startTestService, testToken, type TestService } from '../harness.js';
import { at, onCall, safetyRecord, setStatus, source, taskOf, tasksBySlot, versions } from './helpers.js';

const safetySlot = 'task/safety-review';
let svc: TestService;

beforeAll(async () => {
  // The schedules are off: each test runs a pass by hand at the time it chooses.
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '0', WEBHOOK_INTERVAL_MS: '0' });
});
afterAll(async () => {
  await svc.close();
});

const silent = pino({ level: 'silent' });

/** A second adapter replica's FHIR client, on the same server. */
function otherClient(): FhirClient {
  return new FhirClient({ baseUrl: `${svc.url}/fhir/R4`, accessToken: testToken, timeoutMs: 5_000 });
}

/** The service's own follow-up rules (mappings/). */
function rules(): FollowUpRules {
  const { site, codes } = svc.service.adapter.mappings;
  return { site, codes, escalation: loadFollowUpConfig().escalation };
}

/** One pass of the service's own escalation scheduler at `now`. */
function pass(now: Date): Promise<void> {
  return svc.service.followUp.escalation.runOnce(now);
}

describe('overdue clinical review escalation', () => {
  it('A clinical review accepted before its due time is never escalated', async () => {
    const t0 = '2026-12-01T09:00:00Z';
    expect((await svc.post(safetyRecord('esc-accepted', t0))).status).toBe(201);
    const review = await taskOf(svc, 'esc-accepted', safetySlot);
    expect(review.restriction?.period?.end).toBe(at(t0, 1).toISOString());
    await setStatus(svc, review, 'accepted');
    await pass(at(t0, 5));
    expect(await tasksBySlot(svc, 'esc-accepted', `${safetySlot}/escalation`)).toHaveLength(0);
    const after = await taskOf(svc, 'esc-accepted', safetySlot);
    expect(after.status).toBe('accepted');
    expect(after.businessStatus?.coding?.[0]?.code).toBe('safety-concern-disclosed');
  });

  it('A clinical review nobody accepted is escalated once to on-call after its due time, and its status is left alone', async () => {
    const t0 = '2026-12-02T09:00:00Z';
    await svc.post(safetyRecord('esc-unaccepted', t0));
    const review = await taskOf(svc, 'esc-unaccepted', safetySlot);

    await pass(at(t0, 0.9));
    expect(await tasksBySlot(svc, 'esc-unaccepted', `${safetySlot}/escalation`)).toHaveLength(0);

    await pass(at(t0, 1.1));
    const escalation = await taskOf(svc, 'esc-unaccepted', `${safetySlot}/escalation`);
    expect(escalation.status).toBe('requested');
    expect(escalation.priority).toBe('stat');
    expect(escalation.code?.coding?.[0]?.code).toBe('clinical-review');
    expect(escalation.owner?.reference).toBe(onCall);
    expect(escalation.partOf?.[0]?.reference).toBe(`Task/${review.id}`);
    expect(escalation.requester?.reference).toBe('Organization/example-provider');
    expect(escalation.for).toEqual(review.for);
    expect(escalation.focus).toEqual(review.focus);
    expect(escalation.restriction?.period?.end).toBe(at(t0, 2.1).toISOString());
    const first = await taskOf(svc, 'esc-unaccepted', safetySlot);
    expect(first.status).toBe('requested');
    expect(first.businessStatus?.coding?.[0]?.code).toBe('escalated');
    expect(first.description).toBe(review.description);

    const firstVersions = await versions(svc, first);
    await pass(at(t0, 3));
    await pass(at(t0, 30));
    expect(await tasksBySlot(svc, 'esc-unaccepted', `${safetySlot}/escalation`)).toHaveLength(1);
    expect(await versions(svc, first)).toBe(firstVersions);
  });

  it('Two schedulers running the same pass at once against one server escalate exactly once', async () => {
    const t0 = '2026-12-03T09:00:00Z';
    await svc.post(safetyRecord('esc-race', t0));
    const review = await taskOf(svc, 'esc-race', safetySlot);
    const replicas = [svc.service.adapter.fhir, otherClient()];
    const now = at(t0, 2);
    const results = await Promise.all(replicas.map((fhir) => runFollowUp(fhir, rules(), now, silent)));
    expect(results.flatMap((r) => r.escalated).filter((ref) => ref === `Task/${review.id}`)).toHaveLength(1);
    expect(await tasksBySlot(svc, 'esc-race', `${safetySlot}/escalation`)).toHaveLength(1);
    // The original plus exactly one mark.
    expect(await versions(svc, review)).toBe(2);
  });

  it('A replica that read the Task before another escalated it is refused (If-Match) and writes nothing', async () => {
    const t0 = '2026-12-03T12:00:00Z';
    await svc.post(safetyRecord('esc-stale', t0));
    const stale = await taskOf(svc, 'esc-stale', safetySlot);
    await pass(at(t0, 2));
    const origin = taskOrigin(stale)!;
    const late = raiseAndMark(otherClient(), stale, escalationTask(stale, origin, at(t0, 2), rules()), 'escalated');
    await expect(late).rejects.toBeInstanceOf(WriteConflictError);
    expect(await tasksBySlot(svc, 'esc-stale', `${safetySlot}/escalation`)).toHaveLength(1);
    expect(await versions(svc, stale)).toBe(2);
  });

  it('A clinician accepting the review between the read and the escalation write stops the escalation', async () => {
    const t0 = '2026-12-03T15:00:00Z';
    await svc.post(safetyRecord('esc-just-accepted', t0));
    const read = await taskOf(svc, 'esc-just-accepted', safetySlot);
    await setStatus(svc, read, 'accepted');
    const write = raiseAndMark(svc.service.adapter.fhir, read, escalationTask(read, taskOrigin(read)!, at(t0, 2), rules()), 'escalated');
    await expect(write).rejects.toBeInstanceOf(WriteConflictError);
    // Atomic: the escalation Task of the refused write was rolled back with it.
    expect(await tasksBySlot(svc, 'esc-just-accepted', `${safetySlot}/escalation`)).toHaveLength(0);
    expect((await taskOf(svc, 'esc-just-accepted', safetySlot)).status).toBe('accepted');
  });

  it('A resend after the escalation keeps the escalated mark and raises no second escalation', async () => {
    const t0 = '2026-12-04T09:00:00Z';
    const r = safetyRecord('esc-resend', t0);
    await svc.post(r);
    await pass(at(t0, 2));
    r.peerContact.attempts = 2;
    expect((await svc.post(r)).status).toBe(200);
    const first = await taskOf(svc, 'esc-resend', safetySlot);
    expect(first.businessStatus?.coding?.[0]?.code).toBe('escalated');
    await pass(at(t0, 4));
    expect(await tasksBySlot(svc, 'esc-resend', `${safetySlot}/escalation`)).toHaveLength(1);
  });

  it('A safety review raised for a blocked record escalates too', async () => {
    const t0 = '2026-12-05T09:00:00Z';
    const r = safetyRecord('esc-blocked', t0);
    delete r.escalationRoute;
    expect((await svc.post(r)).status).toBe(422);
    const review = await taskOf(svc, 'esc-blocked', safetySlot);
    expect(review.owner?.reference).toBe(onCall);
    await pass(at(t0, 2));
    const escalation = await taskOf(svc, 'esc-blocked', `${safetySlot}/escalation`);
    expect(escalation.partOf?.[0]?.reference).toBe(`Task/${review.id}`);
    expect(escalation.focus).toBeUndefined();
  });

  it('A Task someone else wrote, or a routine Task, is never escalated', async () => {
    const t0 = '2026-12-06T09:00:00Z';
    const r = fixture('early-engagement', 'esc-routine');
    r.recordedAt = t0;
    await svc.post(r);
    const foreign = await svc.fhirRaw('Task', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'Task',
        status: 'requested',
        intent: 'order',
        code: { coding: [{ system: 'http://peer-pathways.example.org/fhir/CodeSystem/peer-pathway', code: 'clinical-review' }] },
        identifier: [{ system: 'urn:example:ehr', value: 'ehr-review-1' }],
        restriction: { period: { end: t0 } },
      }),
    });
    expect(foreign.status).toBe(201);
    await pass(at(t0, 24 * 30));
    expect((await svc.fhir<Task>(`Task?_tag=${encodeURIComponent(`${source}|esc-routine`)}`)).filter((t) => t.partOf)).toHaveLength(0);
    expect(await svc.fhir<Task>(`Task?identifier=${encodeURIComponent('urn:example:ehr|ehr-review-1/escalation')}`)).toHaveLength(0);
  });
});

describe('care-coordination reminder', () => {
  it('A care-coordination review still unaccepted 24 hours past due reminds its owner once, without content', async () => {
    const r = fixture('concern-routing', 'cc-reminder');
    r.concerns[1].summary = 'CANARY-housing-summary';
    const t0 = r.recordedAt;
    await svc.post(r);
    const review = await taskOf(svc, 'cc-reminder', 'task/care-coordination-review');
    const due = review.restriction?.period?.end as string;
    expect(due).toBe(at(t0, 72).toISOString());

    await pass(at(due, 23));
    const none = await svc.fhir<Communication>(
      `Communication?identifier=${encodeURIComponent(`${source}|cc-reminder/task/care-coordination-review/reminder`)}`,
    );
    expect(none).toHaveLength(0);

    await pass(at(due, 25));
    await pass(at(due, 50));
    const reminders = await svc.fhir<Communication>(
      `Communication?identifier=${encodeURIComponent(`${source}|cc-reminder/task/care-coordination-review/reminder`)}`,
    );
    expect(reminders).toHaveLength(1);
    const reminder = reminders[0] as Communication;
    expect(reminder.recipient?.[0]?.reference).toBe('PractitionerRole/example-case-manager');
    expect(reminder.about?.[0]?.reference).toBe(`Task/${review.id}`);
    expect(JSON.stringify(reminder)).not.toContain('CANARY');
    const after = await taskOf(svc, 'cc-reminder', 'task/care-coordination-review');
    expect(after.status).toBe('requested');
    expect(after.businessStatus?.coding?.[0]?.code).toBe('reminder-sent');
    // A care-coordination review is never escalated to the clinical on-call route.
    expect(await tasksBySlot(svc, 'cc-reminder', 'task/care-coordination-review/escalation')).toHaveLength(0);
  });
});
