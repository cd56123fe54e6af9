import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { dataDirs, exampleSource, fixture, startTestService, testToken } from '../harness.js';
import { startProcess } from './process.js';

const token = 'shutdown-test-token-0123';
const dataDir = dataDirs('ppf-shutdown-');

/** Posts one record; resolves with the status, or with the network error's code when there was no answer. */
async function send(url: string, record: unknown): Promise<number | string> {
  try {
    const res = await fetch(`${url}/pathway-records`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(record),
    });
    await res.arrayBuffer();
    return res.status;
  } catch (err) {
    return `no answer (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message})`;
  }
}

describe('SIGTERM', () => {
  it('answers every request in flight of a burst, and every record answered 2xx is written', async () => {
    const dir = dataDir();
    // A generous grace: on a loaded machine the drain may take a while, and this test is about answering all of it.
    const svc = await startProcess('node', ['bin/peer-pathways-fhir.mjs', 'serve'], {
      PORT: '0',
      DATA_DIR: dir,
      API_TOKEN: token,
      ESCALATION_INTERVAL_MS: '0',
      SHUTDOWN_GRACE_MS: '60000',
    });
    const ids = Array.from({ length: 50 }, (_, i) => `burst-${i}`);
    let first!: () => void;
    const firstAnswer = new Promise<void>((resolve) => {
      first = resolve;
    });
    const answers = ids.map((id) =>
      send(svc.url, fixture('crisis-transition', id)).then((status) => {
        first();
        return status;
      }),
    );
    await firstAnswer;
    svc.child.kill('SIGTERM');
    const statuses = await Promise.all(answers);
    const code = await svc.exited;

    expect(
      statuses.filter((s) => typeof s !== 'number'),
      svc.output().slice(-3000),
    ).toEqual([]);
    expect(code).toBe(0);
    expect(svc.output()).toContain('stopped: every request in flight was answered');
    // The service stopped while most of the burst was still being written: the test saw a drain, not a quiet stop.
    // (In cluster mode each worker logs its own count: one may have answered all of its share already.)
    const inFlight = [...svc.output().matchAll(/"inFlight":(\d+)/g)].map((m) => Number(m[1]));
    expect(inFlight.length).toBeGreaterThan(0);
    expect(Math.max(...inFlight)).toBeGreaterThan(0);

    // Everything answered 2xx is in the store after a restart on the same DATA_DIR.
    const written = ids.filter((_, i) => statuses[i] === 201 || statuses[i] === 200);
    expect(written.length).toBeGreaterThan(0);
    const again = await startTestService({ DATA_DIR: dir, ESCALATION_INTERVAL_MS: '0' });
    try {
      for (const id of written) {
        const res = await fetch(`${again.url}/pathway-records/${id}?source=${encodeURIComponent(exampleSource)}`, {
          headers: { Authorization: `Bearer ${testToken}` },
        });
        expect(res.status, id).toBe(200);
        expect(((await res.json()) as { recordId?: string }).recordId, id).toBe(id);
      }
      const never = await fetch(`${again.url}/pathway-records/never-sent?source=${encodeURIComponent(exampleSource)}`, {
        headers: { Authorization: `Bearer ${testToken}` },
      });
      expect(never.status).toBe(404);
    } finally {
      await again.close();
    }
  });

  it('cuts what is still running when SHUTDOWN_GRACE_MS runs out, says so, and exits 1', async () => {
    const svc = await startProcess('node', ['bin/peer-pathways-fhir.mjs', 'serve'], {
      PORT: '0',
      DATA_DIR: ':memory:',
      API_TOKEN: token,
      ESCALATION_INTERVAL_MS: '0',
      SHUTDOWN_GRACE_MS: '300',
    });
    // A request that never completes: its body never arrives.
    const stuck = connect(Number(new URL(svc.url).port), '127.0.0.1');
    stuck.on('error', () => undefined);
    await once(stuck, 'connect');
    stuck.write(
      `POST /pathway-records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const signalledAt = Date.now();
    svc.child.kill('SIGTERM');
    expect(await svc.exited).toBe(1);
    expect(Date.now() - signalledAt).toBeLessThan(8_000);
    expect(svc.output()).toMatch(/stopped after SHUTDOWN_GRACE_MS \(300 ms\): 1 connection\(s\) cut/);
  });

  it('sent to `npm start` reaches the service itself, which stops and frees its port', async () => {
    const svc = await startProcess('npm', ['start', '--silent'], {
      PORT: '0',
      DATA_DIR: ':memory:',
      API_TOKEN: token,
      ESCALATION_INTERVAL_MS: '0',
    });
    expect((await fetch(`${svc.url}/health`)).status).toBe(200);
    // The compiled service finds what it reads at run time beside its modules in dist/ (scripts, JSON).
    const asset = await fetch(`${svc.url}/governance/assets/governance-page.js`, { headers: { Authorization: `Bearer ${token}` } });
    expect(asset.status).toBe(200);
    expect(await asset.text()).toContain('Chart');
    expect(
      (await fetch(`${svc.url}/fhir/R4/PractitionerRole/example-peer`, { headers: { Authorization: `Bearer ${token}` } })).status,
    ).toBe(200);
    svc.child.kill('SIGTERM');
    expect(await svc.exited).toBe(0);
    expect(svc.output()).toContain('stopped: every request in flight was answered');
    await expect(fetch(`${svc.url}/health`)).rejects.toThrow();
  });
});
