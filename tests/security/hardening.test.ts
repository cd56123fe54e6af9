import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxJsonDepth } from '../../src/server/security-json.js';
import { fixture, startTestService, testToken, type TestService } from '../harness.js';
import { createTestIdp, type TestIdp } from './idp.js';

let svc: TestService;
let idp: TestIdp;
/** Low enough that one test reaches it quickly, high enough for the other tests (static token) to stay under it. */
const perMinute = 20;

beforeAll(async () => {
  idp = await createTestIdp();
  svc = await startTestService({ ...idp.env, RATE_LIMIT_PER_MINUTE: String(perMinute) });
});
afterAll(async () => {
  await svc?.close();
});

async function post(body: string, token = testToken, type = 'application/json') {
  const res = await fetch(`${svc.url}/pathway-records`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': type },
    body,
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

function code(oo: any): string {
  return oo.issue[0].details.coding[0].code;
}

describe('hostile JSON is refused before anything reads it', () => {
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    it(`answers 400 unsafe-json for a "${key}" key, naming where it is`, async () => {
      const record = JSON.stringify(fixture('crisis-transition', `hj-${key}`)).replace(
        '"safety":',
        `"consent2":{"${key}":{"isAdmin":true}},"safety":`,
      );
      const res = await post(record);
      expect(res.status).toBe(400);
      expect(code(res.body)).toBe('unsafe-json');
      expect(res.body.issue[0].expression).toEqual([`consent2.${key}`]);
      expect(({} as any).isAdmin).toBeUndefined();
    });
  }

  it('answers 400 unsafe-json for JSON nested deeper than the limit, and accepts the limit itself', async () => {
    const nest = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    const tooDeep = await post(nest(maxJsonDepth + 1));
    expect(tooDeep.status).toBe(400);
    expect(code(tooDeep.body)).toBe('unsafe-json');
    // At the limit the body reaches the schema, which refuses it for what it is: not a record.
    const atLimit = await post(nest(maxJsonDepth));
    expect(atLimit.status).toBe(400);
    expect(code(atLimit.body)).not.toBe('unsafe-json');
  });

  it('refuses a nesting bomb of arrays without failing (400, not 500)', async () => {
    const res = await post('['.repeat(5000) + ']'.repeat(5000));
    expect(res.status).toBe(400);
    expect(code(res.body)).toBe('unsafe-json');
  });

  it('refuses form and text bodies with 415 even when they parse as JSON', async () => {
    const res = await post(JSON.stringify(fixture('crisis-transition', 'hj-type')), testToken, 'text/plain');
    expect(res.status).toBe(415);
  });
});

describe('security headers', () => {
  it("sends helmet's headers and no-store on answers, errors and public probes alike", async () => {
    for (const res of [await fetch(`${svc.url}/health`), await fetch(`${svc.url}/pathway-records`, { method: 'POST' })]) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(res.headers.get('strict-transport-security')).toContain('max-age=');
      expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('x-powered-by')).toBeNull();
    }
  });
});

describe('rate limit per authenticated client', () => {
  it('answers 429 with Retry-After to the client over its limit, while another client goes on', async () => {
    const busy = await idp.mint('ct-submitter', 'pathway-records.validate');
    const calm = await idp.mint('other-source', 'pathway-records.validate');
    const statuses: number[] = [];
    for (let i = 0; i <= perMinute; i++) {
      const res = await fetch(`${svc.url}/pathway-records/$validate`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${busy}`, 'Content-Type': 'application/json' },
        body: '{}',
      });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
        const body = (await res.json()) as any;
        expect(code(body)).toBe('rate-limited');
        expect(body.id).toBe(res.headers.get('x-correlation-id'));
      } else {
        await res.body?.cancel();
      }
    }
    expect(statuses).toEqual([...Array(perMinute).fill(200), 429]);
    const other = await fetch(`${svc.url}/pathway-records/$validate`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${calm}`, 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(other.status).toBe(200);
  });
});

describe('correlation id', () => {
  it("returns the caller's sane correlation id in the header and in every error body", async () => {
    const id = 'caller-chosen-id-0001';
    const res = await fetch(`${svc.url}/pathway-records`, { method: 'POST', headers: { 'x-correlation-id': id } });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-correlation-id')).toBe(id);
    expect(((await res.json()) as any).id).toBe(id);
  });

  it('replaces one that could smuggle text into logs', async () => {
    const res = await fetch(`${svc.url}/health`, { headers: { 'x-correlation-id': 'evil\tline "quoted" and long enough' } });
    expect(res.headers.get('x-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
