import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startTestService, testToken, type TestService } from '../harness.js';
import { createTestIdp, otherSource, ownSource, type TestIdp } from '../security/idp.js';

let idp: TestIdp;
let svc: TestService;

beforeAll(async () => {
  idp = await createTestIdp();
  svc = await startTestService({ ...idp.env, ESCALATION_INTERVAL_MS: '0', WEBHOOK_INTERVAL_MS: '0' });
  expect((await svc.post(fixture('crisis-transition', 'status-client'))).status).toBe(201);
});
afterAll(async () => {
  await svc.close();
});

async function get(path: string, token: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${svc.url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json() };
}

describe('status view for registered clients', () => {
  it('A client registered for exactly one source need not name it', async () => {
    const token = await idp.mint('ct-submitter', 'pathway-records.read');
    const res = await get('/pathway-records/status-client', token);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ recordId: 'status-client', source: ownSource, state: 'accepted' });
  });

  it("A client cannot read another source's record, named or not", async () => {
    const token = await idp.mint('other-source', 'pathway-records.read');
    expect((await get(`/pathway-records/status-client?source=${encodeURIComponent(ownSource)}`, token)).status).toBe(403);
    // Its own (only) source has no such record.
    expect((await get('/pathway-records/status-client', token)).status).toBe(404);
    expect((await get(`/pathway-records/status-client?source=${encodeURIComponent(otherSource)}`, token)).status).toBe(404);
  });

  it('The static API_TOKEN, which may use any source, must name one', async () => {
    expect((await get('/pathway-records/status-client', testToken)).status).toBe(400);
  });
});
