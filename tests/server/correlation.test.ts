import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startTestService, type TestService } from '../harness.js';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '0' });
});
afterAll(async () => {
  await svc?.close();
});

describe('correlation id in error bodies', () => {
  it("a 422 (gate failed) carries the response's correlation id as OperationOutcome.id, like every other error", async () => {
    const blocked = await svc.post(
      fixture('crisis-transition', 'corr-422', (r) => {
        r.receivingTeam.responsibilityConfirmed = false;
      }),
    );
    expect(blocked.status).toBe(422);
    expect(blocked.body.resourceType).toBe('OperationOutcome');
    expect(blocked.body.id).toBe(blocked.headers.get('x-correlation-id'));
    const invalid = await svc.post({ pathway: 'crisis-transition' });
    expect(invalid.status).toBe(400);
    expect(invalid.body.id).toBe(invalid.headers.get('x-correlation-id'));
  });
});
