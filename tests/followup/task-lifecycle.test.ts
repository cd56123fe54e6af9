import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startTestService, type TestService } from '../harness.js';
import { setStatus, taskOf, versions } from './helpers.js';

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '0', WEBHOOK_INTERVAL_MS: '0' });
});
afterAll(async () => {
  await svc.close();
});

function slotAction(body: any, slot: string): string | undefined {
  return body.resources.find((x: any) => x.slot === slot)?.action;
}

describe('Task lifecycle: a resend never moves a Task back', () => {
  for (const pathway of ['early-engagement', 'crisis-transition'] as const) {
    it(`${pathway}: a first appointment tracked as attended (completed) stays completed when a later send says booked`, async () => {
      const r = fixture(pathway, `life-attended-${pathway}`);
      const appointment = pathway === 'early-engagement' ? r.nextAppointment : r.firstAppointment;
      appointment.status = 'attended';
      await svc.post(r);
      const done = await taskOf(svc, r.recordId, 'task/first-appointment-tracking');
      expect(done.status).toBe('completed');

      appointment.status = 'booked';
      r.recordedAt = '2026-11-26T10:00:00Z';
      const res = await svc.post(r);
      expect(res.status).toBe(200);
      expect(slotAction(res.body, 'task/first-appointment-tracking')).toBe('kept');
      const after = await taskOf(svc, r.recordId, 'task/first-appointment-tracking');
      expect(after.status).toBe('completed');
      expect(after.businessStatus?.coding?.[0]?.code).toBe('appointment-attended');
      expect(await versions(svc, after)).toBe(1);
    });
  }

  for (const status of ['received', 'ready'] as const) {
    it(`A Task its performer marked ${status} is not set back to requested by a resend`, async () => {
      const r = fixture('early-engagement', `life-${status}`);
      await svc.post(r);
      const tracking = await taskOf(svc, r.recordId, 'task/first-appointment-tracking');
      await setStatus(svc, tracking, status);
      r.nextAppointment.status = 'rescheduled';
      const res = await svc.post(r);
      expect(res.status).toBe(200);
      expect(slotAction(res.body, 'task/first-appointment-tracking')).toBe('kept');
      expect((await taskOf(svc, r.recordId, 'task/first-appointment-tracking')).status).toBe(status);
    });
  }

  it('Routine Tasks paused by a safety disclosure stay on hold when a later send no longer discloses one', async () => {
    const r = fixture('early-engagement', 'life-on-hold');
    r.safety = { immediateConcernDisclosed: true };
    await svc.post(r);
    expect((await taskOf(svc, r.recordId, 'task/follow-up-action')).status).toBe('on-hold');
    r.safety = { immediateConcernDisclosed: false };
    await svc.post(r);
    expect((await taskOf(svc, r.recordId, 'task/follow-up-action')).status).toBe('on-hold');
  });

  it('A Task nobody has acted on is still updated by a resend (its business status follows the record)', async () => {
    const r = fixture('early-engagement', 'life-untouched');
    await svc.post(r);
    r.nextAppointment.status = 'rescheduled';
    const res = await svc.post(r);
    expect(slotAction(res.body, 'task/first-appointment-tracking')).toBe('updated');
    const tracking = await taskOf(svc, r.recordId, 'task/first-appointment-tracking');
    expect(tracking.status).toBe('requested');
    expect(tracking.businessStatus?.coding?.[0]?.code).toBe('appointment-rescheduled');
  });
});
