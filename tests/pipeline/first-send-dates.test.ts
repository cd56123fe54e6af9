import type { CarePlan, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startTestService, type TestService } from '../harness.js';

/**
 * Spec §6 "a record is dated by its first send" and hazard H2: a resend updates content, never when a Task
 * was raised, the date the record counts under, or (for a due time counted from the raise) the due time —
 * so resending cannot push an open review back from being overdue.
 */
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '0', WEBHOOK_INTERVAL_MS: '0' });
});
afterAll(async () => {
  await svc.close();
});

describe('a resend keeps the dates of the first send', () => {
  it('the re-entry review keeps its authoredOn and due time, and the CarePlan its created, when resent days later', async () => {
    expect((await svc.post(fixture('recovery-maintenance', 'dates-rm'))).status).toBe(201);
    const slot = 'task/re-entry-review/2026-11-10';
    const first = await svc.one<Task>('Task', 'dates-rm', slot);
    const plan = await svc.one<CarePlan>('CarePlan', 'dates-rm', 'careplan');
    const resent = await svc.post(
      fixture('recovery-maintenance', 'dates-rm', (r) => {
        r.recordedAt = '2026-11-29T09:00:00Z';
        r.monitoring.warningSignsObserved = ['Sleeping under five hours', 'Skipping meals'];
      }),
    );
    expect(resent.status).toBe(200);
    const again = await svc.one<Task>('Task', 'dates-rm', slot);
    expect(again.authoredOn).toBe(first.authoredOn);
    expect(again.restriction?.period?.end).toBe(first.restriction?.period?.end);
    expect((await svc.one<CarePlan>('CarePlan', 'dates-rm', 'careplan')).created).toBe(plan.created);
  });

  it('a due time that is a date of the record follows the record: a rescheduled clinical review date moves its Task', async () => {
    expect((await svc.post(fixture('step-down', 'dates-sd'))).status).toBe(201);
    const slot = 'task/scheduled-clinical-review';
    const first = await svc.one<Task>('Task', 'dates-sd', slot);
    expect(
      (
        await svc.post(
          fixture('step-down', 'dates-sd', (r) => {
            r.recordedAt = '2026-11-20T13:00:00Z';
            r.clinicalReviewDate = '2026-12-21';
          }),
        )
      ).status,
    ).toBe(200);
    const again = await svc.one<Task>('Task', 'dates-sd', slot);
    expect(again.authoredOn).toBe(first.authoredOn);
    expect(again.restriction?.period?.end).not.toBe(first.restriction?.period?.end);
    expect(again.restriction?.period?.end?.startsWith('2026-12-21')).toBe(true);
  });
});
