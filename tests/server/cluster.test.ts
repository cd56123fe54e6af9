import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import type { Bundle } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { tokenSearchValue } from '../../src/fhir/lookup/search-values.js';
import { dataDirs, exampleSource, startTestService, testToken } from '../harness.js';
import { safetyRecord } from '../followup/helpers.js';
import { root, startProcess } from './process.js';

/** Cluster mode (issue 13) as an operator runs it: `serve` with WORKERS=2 on one DATA_DIR. */
const token = testToken;
const dataDir = dataDirs('ppf-cluster-');

const auth = { Authorization: `Bearer ${token}` };

async function escalations(url: string, recordId: string): Promise<number> {
  const id = encodeURIComponent(tokenSearchValue(exampleSource, `${recordId}/task/safety-review/escalation`));
  const res = await fetch(`${url}/fhir/R4/Task?identifier=${id}`, { headers: auth });
  return ((await res.json()) as Bundle).entry?.length ?? 0;
}

/** TCP sockets listening on `port` on this machine (Linux: /proc/net/tcp and tcp6, state 0A). */
function listeningSockets(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return ['/proc/net/tcp', '/proc/net/tcp6']
    .flatMap((file) => readFileSync(file, 'utf8').split('\n').slice(1))
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols[1]?.endsWith(`:${hex}`) && cols[3] === '0A').length;
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

  it("two workers share one client's connections, and a second cluster cannot take the same PORT", async () => {
    const svc = await startProcess('node', ['bin/peer-pathways-fhir.mjs', 'serve'], {
      PORT: '0',
      DATA_DIR: dataDir(),
      API_TOKEN: token,
      WORKERS: '2',
      ESCALATION_INTERVAL_MS: '0',
      WEBHOOK_INTERVAL_MS: '0',
    });
    try {
      for (let i = 0; i < 200 && (svc.output().match(/listening on/g) ?? []).length < 4; i++) await new Promise((r) => setTimeout(r, 100));
      expect((svc.output().match(/listening on/g) ?? []).length).toBe(4);
      // Each worker listens on a socket of its own (SO_REUSEPORT), so the kernel spreads connections over them.
      const port = new URL(svc.url).port;
      if (process.platform === 'linux') expect(listeningSockets(Number(port))).toBe(2);
      // One client opening 40 keep-alive connections at once, as an integration engine's pool does. With one
      // shared socket the first worker woken accepted nearly all of them (one core did the work).
      const agent = new Agent({ keepAlive: true, maxSockets: 40 });
      const correlation = `balance-${Date.now()}`;
      await Promise.all(
        Array.from(
          { length: 40 },
          (_, i) =>
            new Promise<void>((resolve, reject) => {
              const req = httpGet(`${svc.url}/health`, { agent, headers: { 'X-Correlation-ID': `${correlation}-${i}` } }, (res) => {
                res.resume();
                res.once('end', () => resolve());
              });
              req.once('error', reject);
            }),
        ),
      );
      agent.destroy();
      for (let i = 0; i < 50 && (svc.output().match(new RegExp(correlation, 'g')) ?? []).length < 40; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const pids = new Map<number, number>();
      for (const line of svc.output().split('\n')) {
        if (!line.includes(correlation)) continue;
        const pid = (JSON.parse(line) as { pid: number }).pid;
        pids.set(pid, (pids.get(pid) ?? 0) + 1);
      }
      expect([...pids.values()].reduce((a, b) => a + b, 0)).toBe(40);
      expect(pids.size).toBe(2);
      // Binomial(40, 1/2): fewer than 8 on one worker is ~4 standard deviations away.
      for (const served of pids.values()) expect(served).toBeGreaterThanOrEqual(8);

      const second = spawnSync(process.execPath, ['bin/peer-pathways-fhir.mjs', 'serve'], {
        cwd: root,
        env: { PATH: process.env.PATH, PORT: port, DATA_DIR: dataDir(), API_TOKEN: token, WORKERS: '2', LOG_LEVEL: 'info' },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(second.status).not.toBe(0);
      expect(`${second.stdout}${second.stderr}`).toContain('EADDRINUSE');
    } finally {
      svc.child.kill('SIGTERM');
    }
    expect(await svc.exited).toBe(0);
  }, 90_000);

  it('two clusters started at the same moment on one PORT: one serves it, the other fails EADDRINUSE', async () => {
    const free = createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', () => resolve()));
    const port = String((free.address() as { port: number }).port);
    await new Promise<void>((resolve) => free.close(() => resolve()));
    const env = (dir: string) => ({
      PORT: port,
      DATA_DIR: dir,
      API_TOKEN: token,
      WORKERS: '2',
      ESCALATION_INTERVAL_MS: '0',
      WEBHOOK_INTERVAL_MS: '0',
    });
    const started = await Promise.allSettled([
      startProcess('node', ['bin/peer-pathways-fhir.mjs', 'serve'], env(dataDir()), 30_000),
      startProcess('node', ['bin/peer-pathways-fhir.mjs', 'serve'], env(dataDir()), 30_000),
    ]);
    const running = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    try {
      // Give the loser time to fail, and the winner's second worker time to listen.
      await new Promise((r) => setTimeout(r, 3_000));
      const exits = await Promise.all(running.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(() => r('running'), 10))])));
      expect(exits.filter((e) => e === 'running')).toHaveLength(1);
      const loser = running.find((_, i) => exits[i] !== 'running');
      if (loser) expect(loser.output()).toContain('EADDRINUSE');
      if (process.platform === 'linux') expect(listeningSockets(Number(port))).toBe(2);
    } finally {
      for (const p of running) p.child.kill('SIGTERM');
    }
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
