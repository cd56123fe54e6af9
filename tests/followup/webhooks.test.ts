import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultMappingsDir } from '../../src/config/mappings.js';
import { signature, webhookHeaders } from '../../src/followup/webhook-delivery.js';
import { fixture, startTestService, type TestService } from '../harness.js';
import { setStatus, source, taskOf } from './helpers.js';

const secret = 'webhook-secret-for-tests-0123456789';
const secretEnv = 'WEBHOOK_SECRET_FOLLOWUP_TEST';

/** A loopback receiver answering from a script of statuses (then 200), recording every request. */
interface Receiver {
  url: string;
  script: number[];
  received: { headers: IncomingHttpHeaders; body: string }[];
  server: Server;
}

async function startReceiver(): Promise<Receiver> {
  const receiver = { script: [] as number[], received: [] as Receiver['received'] } as Receiver;
  receiver.server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      receiver.received.push({ headers: req.headers, body });
      res.statusCode = receiver.script.shift() ?? 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}/hooks/pathways`;
  return receiver;
}

const mappingsDir = mkdtempSync(join(tmpdir(), 'followup-webhooks-'));
let receiver: Receiver;
let svc: TestService;

beforeAll(async () => {
  receiver = await startReceiver();
  cpSync(defaultMappingsDir, mappingsDir, { recursive: true });
  writeFileSync(join(mappingsDir, 'webhooks.json'), JSON.stringify({ sources: { [source]: { url: receiver.url, secretEnv } } }));
  process.env[secretEnv] = secret;
  svc = await startTestService({
    MAPPINGS_DIR: mappingsDir,
    ESCALATION_INTERVAL_MS: '0',
    WEBHOOK_INTERVAL_MS: '0',
    WEBHOOK_RETRY_BASE_MS: '1',
  });
});
afterAll(async () => {
  await svc.close();
  await new Promise<void>((resolve) => receiver.server.close(() => resolve()));
  rmSync(mappingsDir, { recursive: true, force: true });
  delete process.env[secretEnv];
});

function poll() {
  return svc.service.followUp.notifier.poll();
}

describe('webhook: Task status changes pushed to the source', () => {
  it("A clinician's status change is delivered signed, retried after two failures, carrying only the status view", async () => {
    const r = fixture('early-engagement', 'hook-status');
    r.peerNotes = 'CANARY-peer-notes';
    r.followUpAction.description = 'CANARY-follow-up-description';
    expect((await svc.post(r)).status).toBe(201);
    // Tasks the record just created are no change: the source has the POST answer.
    expect(await poll()).toEqual({ delivered: [], failed: [] });
    expect(receiver.received).toHaveLength(0);

    const tracking = await taskOf(svc, 'hook-status', 'task/first-appointment-tracking');
    const moved = await setStatus(svc, tracking, 'in-progress');
    receiver.script = [500, 503];
    const result = await poll();
    const eventId = `Task/${tracking.id}/_history/${moved.meta?.versionId}`;
    expect(result).toEqual({ delivered: [eventId], failed: [] });
    expect(receiver.received).toHaveLength(3);

    const bodies = new Set(receiver.received.map((x) => x.body));
    expect(bodies.size).toBe(1);
    const last = receiver.received[2]!;
    expect(last.headers[webhookHeaders.event]).toBe(eventId);
    const timestamp = last.headers[webhookHeaders.timestamp] as string;
    expect(last.headers[webhookHeaders.signature]).toBe(signature(secret, timestamp, last.body));
    expect(last.body).not.toContain('CANARY');
    const payload = JSON.parse(last.body);
    expect(payload.event).toEqual({ type: 'task-status-changed', task: `Task/${tracking.id}` });
    expect(payload.record).toMatchObject({ recordId: 'hook-status', source, state: 'accepted' });
    expect(payload.record.tasks.find((t: any) => t.reference === `Task/${tracking.id}`).status).toBe('in-progress');

    // Delivered once: the next poll finds nothing new.
    expect(await poll()).toEqual({ delivered: [], failed: [] });
    expect(receiver.received).toHaveLength(3);
  });

  it('An update that changes no status is not pushed; a receiver that refuses (4xx) is not retried', async () => {
    await svc.post(fixture('early-engagement', 'hook-quiet'));
    await poll();
    const before = receiver.received.length;
    const task = await taskOf(svc, 'hook-quiet', 'task/follow-up-action');
    const put = await svc.fhirRaw(`Task/${task.id}`, { method: 'PUT', body: JSON.stringify({ ...task, note: [{ text: 'seen' }] }) });
    expect(put.ok).toBe(true);
    expect(await poll()).toEqual({ delivered: [], failed: [] });
    expect(receiver.received.length).toBe(before);

    receiver.script = [410];
    const moved = await setStatus(svc, await taskOf(svc, 'hook-quiet', 'task/follow-up-action'), 'completed');
    expect(await poll()).toEqual({ delivered: [], failed: [`Task/${task.id}/_history/${moved.meta?.versionId}`] });
    expect(receiver.received.length).toBe(before + 1);
  });
});
