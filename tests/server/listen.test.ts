import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readEnv } from '../../src/config/env.js';
import { socketLimits, startService, type RunningService } from '../../src/server/start.js';

const base = {
  PORT: '0',
  DATA_DIR: ':memory:',
  API_TOKEN: 'listen-test-token-0123',
  LOG_LEVEL: 'info',
  ESCALATION_INTERVAL_MS: '0',
  WEBHOOK_INTERVAL_MS: '0',
};

/** Starts a service whose log lines are kept. */
async function start(env: Record<string, string>, limits?: Partial<typeof socketLimits>): Promise<{ svc: RunningService; logs: string[] }> {
  const logs: string[] = [];
  const logDestination = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const svc = await startService(readEnv({ ...base, ...env }), { logDestination, limits });
  return { svc, logs };
}

/** Opens a raw TCP connection to the service. */
async function socket(svc: RunningService): Promise<Socket & { received: () => string }> {
  const port = Number(new URL(svc.url).port);
  const s = connect(port, '127.0.0.1');
  let text = '';
  s.on('data', (d) => {
    text += d.toString();
  });
  s.on('error', () => undefined);
  await once(s, 'connect');
  return Object.assign(s, { received: () => text });
}

describe('where and how the service listens', () => {
  it('on one address other than 127.0.0.1 (HOST=127.0.0.2), reaches its own embedded FHIR server there: /ready 200', async () => {
    const { svc } = await start({ HOST: '127.0.0.2' });
    try {
      expect(svc.url).toMatch(/^http:\/\/127\.0\.0\.2:\d+$/);
      const ready = await fetch(`${svc.url}/ready`);
      expect(ready.status, await ready.text()).toBe(200);
    } finally {
      await svc.close();
    }
  });

  it('listens on 127.0.0.1 by default and says so', async () => {
    const { svc, logs } = await start({});
    try {
      expect(svc.address).toBe('127.0.0.1');
      expect(logs.join('')).toContain(
        `listening on http://127.0.0.1:${new URL(svc.url).port} (this machine only; HOST=0.0.0.0 to serve others)`,
      );
      expect(logs.join('')).toContain('API_TOKEN is a static token for local use');
    } finally {
      await svc.close();
    }
  });

  it('listens on every interface with HOST=0.0.0.0, and the log says exactly that', async () => {
    const { svc, logs } = await start({ HOST: '0.0.0.0' });
    try {
      expect(svc.address).toBe('0.0.0.0');
      expect(logs.join('')).toContain(`listening on http://0.0.0.0:${new URL(svc.url).port} (every interface`);
      expect((await fetch(`${svc.url}/health`)).status).toBe(200);
    } finally {
      await svc.close();
    }
  });

  it('answers 408 and closes a connection whose headers or body trickle in past the limits', async () => {
    const { svc } = await start({}, { headersTimeoutMs: 300, requestTimeoutMs: 600, checkIntervalMs: 100 });
    try {
      const slowHeaders = await socket(svc);
      slowHeaders.write('GET /health HTTP/1.1\r\nHost: x\r\n');
      const slowBody = await socket(svc);
      slowBody.write(
        `POST /pathway-records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${base.API_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"recordId":`,
      );
      const started = Date.now();
      await Promise.all([once(slowHeaders, 'close'), once(slowBody, 'close')]);
      // Limits of 300 ms / 600 ms: well under Node's defaults (60 s / 300 s), with room for a loaded machine.
      expect(Date.now() - started).toBeLessThan(8_000);
      expect(slowHeaders.received()).toMatch(/^HTTP\/1\.1 408/);
      expect(slowBody.received()).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      await svc.close();
    }
  });

  it('refuses connections beyond the cap at once, and serves again when one closes', async () => {
    const { svc } = await start({}, { maxConnections: 2 });
    try {
      const held = [await socket(svc), await socket(svc)];
      const third = await socket(svc);
      await once(third, 'close');
      expect(third.received()).toBe('');
      held[0]!.destroy();
      // The server counts the closed socket once it has seen the close: try for a moment.
      let status = 0;
      for (let tries = 0; tries < 40 && status !== 200; tries++) {
        status = await fetch(`${svc.url}/health`).then(
          (r) => r.status,
          () => 0,
        );
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(status).toBe(200);
      held[1]!.destroy();
    } finally {
      await svc.close();
    }
  });

  it('uses Node limits tighter than its defaults (60 s headers, 300 s request, no cap)', () => {
    expect(socketLimits.headersTimeoutMs).toBeLessThan(60_000);
    expect(socketLimits.requestTimeoutMs).toBeLessThan(300_000);
    expect(socketLimits.maxConnections).toBeGreaterThan(0);
  });
});
