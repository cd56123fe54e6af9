import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataDirs, fixture, startTestService, type TestService } from '../harness.js';

/**
 * Safety first across processes (README H5 "one event, one Task"): a refused record with a disclosure,
 * sent at once to two adapters on one store (two workers of a cluster, or two replicas), raises one stat
 * review. Each adapter's own lock holds only within it; the record's claim holds across them.
 */
const dataDir = dataDirs('ppf-safety-replicas-');
let a: TestService;
let b: TestService;

beforeAll(async () => {
  const dir = dataDir();
  const env = { DATA_DIR: dir, ESCALATION_INTERVAL_MS: '0', WEBHOOK_INTERVAL_MS: '0' };
  a = await startTestService(env);
  b = await startTestService(env);
});
afterAll(async () => {
  await a?.close();
  await b?.close();
});

describe('a refused record with a disclosure, sent to two adapters on one store at once', () => {
  it('schema refusal (400) and size refusal (413), 10 sends to each: one stat review, kept by the corrected resend', async () => {
    const refused = (recordId: string, kind: '400' | '413') =>
      fixture('early-engagement', recordId, (r) => {
        r.safety = { immediateConcernDisclosed: true, summary: 'Said they have a plan tonight.', disclosedAt: '2026-11-14T08:30:00Z' };
        if (kind === '400') r.nextAppointment.status = 'no-such-status';
        else r.peerNotes = 'x'.repeat(300_000);
      });
    for (const kind of ['400', '413'] as const) {
      const recordId = `safety-replicas-${kind}`;
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).post(refused(recordId, kind))));
      expect(answers.map((r) => r.status)).toEqual(Array(20).fill(Number(kind)));
      for (const answer of answers) {
        expect(answer.body.issue.map((i: { details?: { coding?: { code?: string }[] } }) => i.details?.coding?.[0]?.code)).toContain(
          'safety-review-raised',
        );
      }
      const tasks = await a.bySlot('Task', recordId, 'task/safety-review');
      expect(tasks, kind).toHaveLength(1);

      const corrected = await a.post(fixture('early-engagement', recordId, (r) => (r.safety = refused(recordId, '400').safety)));
      expect(corrected.status).toBe(201);
      const after = await b.bySlot('Task', recordId, 'task/safety-review');
      expect(after.map((t) => t.id)).toEqual(tasks.map((t) => t.id));
    }
  }, 120_000);
});
