import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestService, type TestService } from '../harness.js';
import { safetyRecord, tasksBySlot } from './helpers.js';

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '25', WEBHOOK_INTERVAL_MS: '0' });
});
afterAll(async () => {
  await svc.close();
});

describe('the escalation schedule inside the service', () => {
  it('escalates an overdue review on its own, with no call from outside, and stops with the service', async () => {
    // Disclosed two days ago: the review is long overdue by the real clock.
    const disclosed = new Date(Date.now() - 48 * 3_600_000).toISOString();
    expect((await svc.post(safetyRecord('esc-scheduled', disclosed))).status).toBe(201);
    await vi.waitFor(
      async () => {
        expect(await tasksBySlot(svc, 'esc-scheduled', 'task/safety-review/escalation')).toHaveLength(1);
      },
      { timeout: 10_000, interval: 50 },
    );
  });
});
