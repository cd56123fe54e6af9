import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestService } from '../harness.js';
import { at, onCall, safetyRecord, taskOf, tasksBySlot } from './helpers.js';

const dataDir = mkdtempSync(join(tmpdir(), 'followup-restart-'));
afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

const env = { DATA_DIR: dataDir, ESCALATION_INTERVAL_MS: '0', WEBHOOK_INTERVAL_MS: '0' };

describe('escalation across a restart', () => {
  it('A service started on the same DATA_DIR after the due time catches up and escalates exactly once', async () => {
    const t0 = '2026-12-10T09:00:00Z';
    const first = await startTestService(env);
    expect((await first.post(safetyRecord('esc-restart', t0))).status).toBe(201);
    // The first service runs a pass before the review is due, then stops.
    await first.service.followUp.escalation.runOnce(at(t0, 0.5));
    expect(await tasksBySlot(first, 'esc-restart', 'task/safety-review/escalation')).toHaveLength(0);
    await first.close();

    // Nothing about the review is remembered but what is on the FHIR server.
    const second = await startTestService(env);
    try {
      await second.service.followUp.escalation.runOnce(at(t0, 6));
      const escalation = await taskOf(second, 'esc-restart', 'task/safety-review/escalation');
      expect(escalation.owner?.reference).toBe(onCall);
      expect((await taskOf(second, 'esc-restart', 'task/safety-review')).businessStatus?.coding?.[0]?.code).toBe('escalated');
    } finally {
      await second.close();
    }

    // A third start (e.g. a crash right after the escalation) does not escalate again.
    const third = await startTestService(env);
    try {
      await third.service.followUp.escalation.runOnce(at(t0, 12));
      expect(await tasksBySlot(third, 'esc-restart', 'task/safety-review/escalation')).toHaveLength(1);
    } finally {
      await third.close();
    }
  });
});
