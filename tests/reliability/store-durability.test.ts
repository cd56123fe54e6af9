import type { Resource } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { dataDirs, exampleSource, fixture, startTestService, testToken, type TestService } from '../harness.js';
import { at, safetyRecord, tasksBySlot } from '../followup/helpers.js';
import { startChild } from './child-service.js';

/**
 * The embedded store on disk as an operator meets it: a crash in the middle of a burst, a full disk, and
 * two processes started on one DATA_DIR. Each test makes its own DATA_DIR.
 */
const dataDir = dataDirs('store-durability-');

const recordTypes = ['CarePlan', 'Consent', 'Task', 'Communication', 'Encounter'];

/** Per record id, how many resources of each type carry one of its business identifiers. */
async function resourcesByRecord(svc: TestService, prefix: string): Promise<Map<string, Record<string, number>>> {
  const byRecord = new Map<string, Record<string, number>>();
  for (const type of recordTypes) {
    for (const r of await svc.fhirAll<Resource & { identifier?: { system?: string; value?: string }[] }>(`${type}?_count=1000`)) {
      const value = r.identifier?.find((i) => i.system === exampleSource)?.value;
      if (!value?.startsWith(prefix)) continue;
      const recordId = value.split('/')[0] as string;
      const counts = byRecord.get(recordId) ?? {};
      counts[type] = (counts[type] ?? 0) + 1;
      byRecord.set(recordId, counts);
    }
  }
  return byRecord;
}

describe('a crash during a burst', () => {
  it('kill -9 while 10 clients send: every acknowledged record is complete after a restart, none is half-written', async () => {
    const dir = dataDir();
    const child = await startChild({ DATA_DIR: dir, API_TOKEN: testToken, RATE_LIMIT_PER_MINUTE: '0' });
    const url = child.line.url as string;
    const acknowledged: string[] = [];
    let next = 0;
    let killed = false;
    const client = async () => {
      while (!killed && next < 400) {
        const recordId = `crash-${String(next++).padStart(3, '0')}`;
        try {
          const res = await fetch(`${url}/pathway-records`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${testToken}`, 'Content-Type': 'application/json' },
            body: JSON.stringify(fixture('crisis-transition', recordId)),
          });
          if (res.status === 201) acknowledged.push(recordId);
          await res.text();
        } catch {
          // The process was killed under this request: not acknowledged.
        }
        if (!killed && acknowledged.length >= 40) {
          killed = true;
          child.process.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 10 }, client));
    expect(await child.exited).toBeNull();
    expect(acknowledged.length).toBeGreaterThanOrEqual(40);

    const after = await startTestService({ DATA_DIR: dir });
    try {
      const found = await resourcesByRecord(after, 'crash-');
      const complete = found.get(acknowledged[0] as string);
      expect(Object.keys(complete ?? {}).sort()).toEqual([...recordTypes].sort());
      for (const recordId of acknowledged) expect(found.get(recordId), recordId).toEqual(complete);
      // Records in flight at the kill are either wholly there or wholly absent.
      for (const [recordId, counts] of found) expect(counts, recordId).toEqual(complete);
      // A resend of an acknowledged record after the restart changes nothing.
      const resend = await after.post(fixture('crisis-transition', acknowledged[0]));
      expect(resend.status).toBe(200);
    } finally {
      await after.close();
    }
  }, 90_000);
});

describe('a full disk', () => {
  it('answers 503 with Retry-After, writes nothing of the refused record, keeps what was acknowledged, and the next start works', async () => {
    const dir = dataDir();
    const svc = await startTestService({ DATA_DIR: dir, RATE_LIMIT_PER_MINUTE: '0' });
    const acknowledged: string[] = [];
    let refused: string | undefined;
    try {
      expect((await svc.post(fixture('crisis-transition', 'full-first'))).status).toBe(201);
      acknowledged.push('full-first');
      // The database may not grow by a page more: exactly what a full disk does to SQLite (SQLITE_FULL).
      const db = svc.service.embedded!.repo.database;
      const pages = (db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
      db.exec(`PRAGMA max_page_count = ${pages}`);
      for (let i = 0; i < 40 && !refused; i++) {
        const recordId = `full-${i}`;
        const res = await svc.post(fixture('crisis-transition', recordId));
        if (res.status === 201) {
          acknowledged.push(recordId);
          continue;
        }
        expect(res.status).toBe(503);
        // The embedded server asks for 30 s: longer than a caller is held, so it is passed on at once.
        expect(res.headers.get('retry-after')).toBe('30');
        expect(res.body.resourceType).toBe('OperationOutcome');
        expect(JSON.stringify(res.body)).toContain('fhir-unavailable');
        refused = recordId;
      }
      expect(refused).toBeDefined();
      expect((await resourcesByRecord(svc, refused!)).size).toBe(0);
      // The FHIR API itself says so: 503, Retry-After, and an OperationOutcome without SQLite's text.
      const direct = await svc.fhirRaw('Patient', {
        method: 'POST',
        body: JSON.stringify({ resourceType: 'Patient', gender: 'other', name: [{ family: 'x'.repeat(20_000) }] }),
      });
      expect(direct.status).toBe(503);
      expect(Number(direct.headers.get('retry-after'))).toBeGreaterThan(0);
      const outcome = await direct.json();
      expect(outcome.issue[0].code).toBe('transient');
      expect(JSON.stringify(outcome)).not.toMatch(/sqlite|\.sqlite|disk is full/i);

      // Space is freed: the refused record is sent again and acknowledged.
      db.exec('PRAGMA max_page_count = 1073741823');
      expect((await svc.post(fixture('crisis-transition', refused!))).status).toBe(201);
      acknowledged.push(refused!);
    } finally {
      await svc.close();
    }

    const restarted = await startTestService({ DATA_DIR: dir });
    try {
      const found = await resourcesByRecord(restarted, 'full-');
      const complete = found.get('full-first');
      expect(Object.keys(complete ?? {}).sort()).toEqual([...recordTypes].sort());
      expect([...found.keys()].sort()).toEqual([...acknowledged].sort());
      for (const recordId of acknowledged) expect(found.get(recordId), recordId).toEqual(complete);
    } finally {
      await restarted.close();
    }
  }, 60_000);
});

describe('two processes on one DATA_DIR', () => {
  it('both running the overdue-escalation job at once raise exactly one escalation per overdue Task', async () => {
    const dir = dataDir();
    const t0 = '2026-12-10T09:00:00Z';
    const records = Array.from({ length: 6 }, (_, i) => `esc-two-${i}`);
    const first = await startTestService({ DATA_DIR: dir, ESCALATION_INTERVAL_MS: '0', WEBHOOK_INTERVAL_MS: '0' });
    try {
      for (const recordId of records) expect((await first.post(safetyRecord(recordId, t0))).status).toBe(201);
    } finally {
      await first.close();
    }

    // Both processes are up before either starts its passes, then they race.
    const env = { DATA_DIR: dir, API_TOKEN: testToken, ESCALATE_AT: at(t0, 6).toISOString() };
    const children = await Promise.all([startChild(env), startChild(env)]);
    expect(children.map((c) => c.line)).toEqual([{ ready: true }, { ready: true }]);
    const done = children.map((c) => c.nextLine());
    for (const c of children) c.process.stdin!.write('go\n');
    expect(await Promise.all(done)).toEqual([{ escalated: true }, { escalated: true }]);
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0]);

    const after = await startTestService({ DATA_DIR: dir, ESCALATION_INTERVAL_MS: '0', WEBHOOK_INTERVAL_MS: '0' });
    try {
      for (const recordId of records) {
        expect(await tasksBySlot(after, recordId, 'task/safety-review/escalation'), recordId).toHaveLength(1);
      }
    } finally {
      await after.close();
    }
  }, 90_000);
});
