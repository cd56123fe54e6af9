import type { Bundle } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { tokenSearchValue } from '../../src/fhir/lookup/search-values.js';
import { dataDirs, exampleSource, startTestService, testToken } from '../harness.js';
import { safetyRecord } from '../followup/helpers.js';
import { startProcess } from './process.js';

/** Cluster mode (issue 13) as an operator runs it: `serve` with WORKERS=2 on one DATA_DIR. */
const token = testToken;
const dataDir = dataDirs('ppf-cluster-');

const auth = { Authorization: `Bearer ${token}` };

async function escalations(url: string, recordId: string): Promise<number> {
  const id = encodeURIComponent(tokenSearchValue(exampleSource, `${recordId}/task/safety-review/escalation`));
  const res = await fetch(`${url}/fhir/R4/Task?identifier=${id}`, { headers: auth });
  return ((await res.json()) as Bundle).entry?.length ?? 0;
}

describe('cluster mode', () => {
  it('two workers, overdue Tasks present: exactly one escalation each; /ready in every worker; SIGTERM stops both', async () => {
    const dir = dataDir();
    // Disclosed 12 h ago: each stat review (due one hour after) is overdue now.
    const recordedAt = new Date(Date.now() - 12 * 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const records = Array.from({ length: 6 }, (_, i) => `cluster-esc-${i}`);
    const seed = await startTestService({ DATA_DIR: dir, API_TOKEN: token, ESCALATION_INTERVAL_MS: '0', WEBHOOK_INTERVAL_MS: '0' });
    try {
      for (const recordId of records) expect((await seed.post(safetyRecord(recordId, recordedAt))).status).toBe(201);
    } finally {
      await seed.close();
    }

    const svc = await startProcess('node', ['bin/peer-pathways-fhir.mjs', 'serve'], {
      PORT: '0',
      DATA_DIR: dir,
      API_TOKEN: token,
      WORKERS: '2',
      ESCALATION_INTERVAL_MS: '150',
      WEBHOOK_INTERVAL_MS: '0',
    });
    try {
      expect(svc.output()).toContain('cluster: running 2 adapter workers');
      // Both workers up (each prints its listening line twice: the log and the operator's line).
      for (let i = 0; i < 200 && (svc.output().match(/listening on/g) ?? []).length < 4; i++) await new Promise((r) => setTimeout(r, 100));
      expect((svc.output().match(/listening on/g) ?? []).length).toBe(4);
      for (let i = 0; i < 20; i++) {
        const ready = await fetch(`${svc.url}/ready`, { headers: { Connection: 'close' } });
        expect(ready.status).toBe(200);
        await ready.arrayBuffer();
      }
      // Every record's escalation appears, then many more passes run in both workers: still one each.
      for (let i = 0; i < 100 && (await Promise.all(records.map((r) => escalations(svc.url, r)))).some((n) => n === 0); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 2_000));
      for (const recordId of records) expect(await escalations(svc.url, recordId), recordId).toBe(1);
    } finally {
      svc.child.kill('SIGTERM');
    }
    expect(await svc.exited).toBe(0);
    expect((svc.output().match(/stopped: every request in flight was answered/g) ?? []).length).toBe(2);
  }, 90_000);

  it('DATA_DIR=:memory: runs one worker and says so', async () => {
    const svc = await startProcess('node', ['bin/peer-pathways-fhir.mjs', 'serve'], {
      PORT: '0',
      DATA_DIR: ':memory:',
      API_TOKEN: token,
      WORKERS: '4',
      ESCALATION_INTERVAL_MS: '0',
    });
    try {
      for (let i = 0; i < 50 && !svc.output().includes('cannot be shared'); i++) await new Promise((r) => setTimeout(r, 100));
      expect(svc.output()).toContain('DATA_DIR=:memory: cannot be shared between processes: running 1 worker instead of WORKERS=4');
      expect(svc.output()).not.toContain('cluster: running');
    } finally {
      svc.child.kill('SIGTERM');
    }
    expect(await svc.exited).toBe(0);
  }, 60_000);
});
