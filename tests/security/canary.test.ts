import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseRecord } from '../../src/records/index.js';
import { fixture, startTestService, testToken, type TestService } from '../harness.js';

/**
 * Every string of the records below that the schema lets us change becomes a unique canary; the
 * records then go through valid, invalid, blocked and failing paths. No canary may show up in any
 * log line (at trace level), in any error body, or in any audit resource.
 */
const lines: string[] = [];
const errorBodies: string[] = [];
const canaries: string[] = [];
let svc: TestService;
/** An adapter whose FHIR server refuses connections: the failing path. */
let down: TestService;

const capture = new Writable({
  write(chunk, _enc, done) {
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    done();
  },
});

function canary(): string {
  const c = `CANARY${canaries.length}x${Math.random().toString(36).slice(2, 8)}`;
  canaries.push(c);
  return c;
}

/** Identifiers that ops may log and that errors may name: the idempotency key and its namespace. */
const keptPaths = new Set(['recordId', 'source.system']);

/** Replaces each string leaf by a canary where the record still parses (free text, displays…). */
function canarify(record: any): any {
  const walk = (node: any, path: string[]) => {
    for (const [key, value] of Object.entries(node)) {
      const here = [...path, key];
      if (typeof value === 'string') {
        if (keptPaths.has(here.join('.'))) continue;
        const c = canary();
        node[key] = c;
        if (!parseRecord(record).ok) {
          node[key] = value;
          canaries.pop();
        }
      } else if (value && typeof value === 'object') {
        walk(value, here);
      }
    }
  };
  walk(record, []);
  return record;
}

/** A fixture with canary displays on its people, a canary safety summary and peer notes, then canarified. */
function canaryRecord(name: string, recordId: string, edit: (r: any) => void = () => undefined): any {
  const record = fixture(name, recordId);
  record.person.display = 'x';
  record.peerSpecialist.display = 'x';
  record.peerNotes = 'x';
  edit(record);
  return canarify(record);
}

async function send(target: TestService, path: string, body: string, headers: Record<string, string> = {}, method = 'POST') {
  const res = await fetch(`${target.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${testToken}`, 'Content-Type': 'application/json', ...headers },
    body: method === 'GET' ? undefined : body,
  });
  const text = await res.text();
  if (res.status >= 400) errorBodies.push(`${res.status} ${text}`);
  return res.status;
}

beforeAll(async () => {
  svc = await startTestService({ LOG_LEVEL: 'trace' }, { logDestination: capture });
  // Port 9 (discard) on loopback: nothing listens, so every FHIR call fails at once.
  down = await startTestService({ LOG_LEVEL: 'trace', FHIR_BASE_URL: 'http://127.0.0.1:9/fhir/R4' }, { logDestination: capture });
});
afterAll(async () => {
  await svc?.close();
  await down?.close();
});

/** Where the output seen so far ends: each test checks only what its own requests produced. */
function mark() {
  return { lines: lines.length, errors: errorBodies.length };
}

/** Fails when a canary is in a log line or error body since `from`, or in any audit resource. */
async function expectNoCanary(from: { lines: number; errors: number }, audit = false) {
  // Access lines are written when the answer has been flushed: let those callbacks run first.
  await new Promise((resolve) => setImmediate(resolve));
  const log = lines.slice(from.lines).join('\n');
  const places: Record<string, string> = { log, errors: errorBodies.slice(from.errors).join('\n') };
  if (audit) {
    const audits = [...(await svc.fhir('Provenance?_count=1000')), ...(await svc.fhir('AuditEvent?_count=1000'))];
    expect(audits.length).toBeGreaterThan(0);
    places.audit = JSON.stringify(audits);
  }
  expect(log.length).toBeGreaterThan(0);
  for (const [where, text] of Object.entries(places)) {
    expect(
      canaries.filter((c) => text.includes(c)),
      `canaries in ${where}`,
    ).toEqual([]);
  }
}

describe('canaries never leak into logs, error bodies or audit resources', () => {
  it('accepted records of every pathway (201) and their dry-runs', async () => {
    const from = mark();
    const before = canaries.length;
    for (const name of ['early-engagement', 'step-down', 'crisis-transition', 'concern-routing']) {
      const record = canaryRecord(name, `canary-ok-${name}`);
      expect(await send(svc, '/pathway-records', JSON.stringify(record))).toBe(201);
      expect(await send(svc, '/pathway-records/$validate', JSON.stringify(record))).toBe(200);
    }
    expect(canaries.length - before).toBeGreaterThan(30);
    await expectNoCanary(from, true);
  });

  it('blocked records, one with a safety disclosure, one whose person does not resolve (422)', async () => {
    const from = mark();
    const record = canaryRecord('crisis-transition', 'canary-blocked', (r) => {
      r.receivingTeam.responsibilityConfirmed = false;
      r.safety = { immediateConcernDisclosed: true, summary: 'x', disclosedAt: '2026-11-20T15:00:00Z' };
    });
    expect(await send(svc, '/pathway-records', JSON.stringify(record))).toBe(422);
    const unresolved = canaryRecord('concern-routing', 'canary-unresolved', (r) => {
      r.person = { identifier: { system: 'urn:example:mrn', value: 'x' }, display: 'x' };
    });
    expect(await send(svc, '/pathway-records', JSON.stringify(unresolved))).toBe(422);
    await expectNoCanary(from, true);
  });

  it('invalid records (400), bad JSON, hostile JSON, too large (413), wrong type (415)', async () => {
    const from = mark();
    const record = canaryRecord('step-down', 'canary-invalid');
    for (const field of ['recordedAt', 'clinicalReviewDate']) record[field] = canary();
    record.consent.informationSharing = canary();
    record.safety.immediateConcernDisclosed = canary();
    record.monitoring.missedTherapySessions = canary();
    record.recoveryGoals[0].status = canary();
    record.unknownField = canary();
    expect(await send(svc, '/pathway-records', JSON.stringify(record))).toBe(400);
    expect(await send(svc, '/pathway-records', `{"peerNotes": "${canary()}", "safety": `)).toBe(400);
    expect(await send(svc, '/pathway-records', `{"peerNotes": "${canary()}", "x": {"__proto__": {"y": "${canary()}"}}}`)).toBe(400);
    expect(await send(svc, '/pathway-records', JSON.stringify({ peerNotes: canary().repeat(20_000) }))).toBe(413);
    expect(await send(svc, '/pathway-records', `peerNotes=${canary()}`, { 'Content-Type': 'text/plain' })).toBe(415);
    await expectNoCanary(from);
  });

  it('refused callers (401), and query values', async () => {
    const from = mark();
    const record = canaryRecord('concern-routing', 'canary-401');
    expect(await send(svc, '/pathway-records', JSON.stringify(record), { Authorization: `Bearer ${canary()}` })).toBe(401);
    expect(await send(svc, `/pathway-records/unknown-record?source=urn:example:peer-platform&note=${canary()}`, '', {}, 'GET')).toBe(404);
    expect(await send(svc, `/no-such-endpoint?q=${canary()}`, '', {}, 'GET')).toBe(404);
    await expectNoCanary(from);
  });

  it('a FHIR server that cannot be reached (503)', async () => {
    const from = mark();
    const record = canaryRecord('early-engagement', 'canary-down');
    expect(await send(down, '/pathway-records', JSON.stringify(record))).toBe(503);
    await expectNoCanary(from);
  });

  it('every request leaves one access line: method, route (no query), status, duration, correlation id, client', async () => {
    const from = mark();
    const record = canaryRecord('crisis-transition', 'canary-access');
    expect(await send(svc, `/pathway-records/$validate?x=${canary()}`, JSON.stringify(record))).toBe(200);
    expect(await send(svc, '/pathway-records', JSON.stringify(record), { Authorization: 'Bearer wrong' })).toBe(401);
    const accessLines = () =>
      lines
        .slice(from.lines)
        .map((l) => JSON.parse(l))
        .filter((l) => l.msg === 'request' && l.route.startsWith('/pathway-records'));
    // Written once each answer is flushed, which may be just after the client has read it.
    const access = await vi.waitFor(() => {
      const found = accessLines();
      expect(found).toHaveLength(2);
      return found;
    });
    expect(access.map((l) => [l.method, l.route, l.status, l.clientId])).toEqual([
      ['POST', '/pathway-records/$validate', 200, 'api-token'],
      ['POST', '/pathway-records', 401, undefined],
    ]);
    expect(access.every((l) => /^[0-9a-f-]{36}$/.test(l.correlationId) && typeof l.durationMs === 'number')).toBe(true);
    await expectNoCanary(from);
  });
});
