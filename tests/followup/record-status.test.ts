import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startTestService, testToken, type TestService } from '../harness.js';
import { at, onCall, safetyRecord, setStatus, source, taskOf } from './helpers.js';

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '0', WEBHOOK_INTERVAL_MS: '0' });
});
afterAll(async () => {
  await svc.close();
});

/** GET the status view as the sending system would. */
async function status(
  recordId: string,
  query: string = `?source=${encodeURIComponent(source)}`,
): Promise<{ status: number; body: any; text: string; headers: Headers }> {
  const res = await fetch(`${svc.url}/pathway-records/${recordId}${query}`, { headers: { Authorization: `Bearer ${testToken}` } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, text, headers: res.headers };
}

describe('GET /pathway-records/{recordId}: the status view', () => {
  it("shows an accepted record's Tasks by code, owner, status and due time, and none of the free text sent", async () => {
    const r = fixture('concern-routing', 'status-canary');
    r.peerNotes = 'CANARY-peer-notes';
    r.concerns[0].summary = 'CANARY-clinical-summary';
    r.concerns[1].summary = 'CANARY-housing-summary';
    r.safety = { immediateConcernDisclosed: true, summary: 'CANARY-safety-summary', disclosedAt: r.recordedAt };
    r.consent.categories.push('safety-concerns');
    expect((await svc.post(r)).status).toBe(201);
    // The canaries did travel where consent allows (into Task descriptions): the view must still hold none.
    const safetyTask = await taskOf(svc, 'status-canary', 'task/safety-review');
    expect(safetyTask.description).toContain('CANARY-safety-summary');

    const res = await status('status-canary');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.text).not.toContain('CANARY');
    expect(res.body).toMatchObject({ recordId: 'status-canary', source, pathway: 'concern-routing', state: 'accepted' });
    expect(res.body.blockedBy).toBeUndefined();
    const codes = res.body.tasks.map((t: any) => t.code).sort();
    expect(codes).toEqual(['care-coordination-review', 'clinical-review', 'clinical-review']);
    for (const t of res.body.tasks) {
      expect(Object.keys(t).sort()).toEqual(expect.arrayContaining(['businessStatus', 'code', 'owner', 'reference', 'status']));
      expect(
        Object.keys(t).every((k) =>
          ['reference', 'code', 'priority', 'status', 'businessStatus', 'owner', 'ownerDisplay', 'due', 'escalates'].includes(k),
        ),
      ).toBe(true);
    }
    expect(res.body.tasks.find((t: any) => t.reference === `Task/${safetyTask.id}`)).toMatchObject({
      priority: 'stat',
      status: 'requested',
      businessStatus: 'safety-concern-disclosed',
    });
  });

  it("follows the clinicians' work: an accepted review and an escalation show up", async () => {
    const t0 = '2026-12-20T09:00:00Z';
    await svc.post(safetyRecord('status-followed', t0));
    const review = await taskOf(svc, 'status-followed', 'task/safety-review');
    await svc.service.followUp.escalation.runOnce(at(t0, 2));
    const escalation = await taskOf(svc, 'status-followed', 'task/safety-review/escalation');
    await setStatus(svc, escalation, 'accepted');

    const res = await status('status-followed');
    const byRef = new Map(res.body.tasks.map((t: any) => [t.reference, t]));
    expect(byRef.get(`Task/${review.id}`)).toMatchObject({ status: 'requested', businessStatus: 'escalated' });
    expect(byRef.get(`Task/${escalation.id}`)).toMatchObject({
      code: 'clinical-review',
      status: 'accepted',
      priority: 'stat',
      owner: onCall,
      ownerDisplay: 'On-call duty clinician',
      escalates: `Task/${review.id}`,
    });
  });

  it('shows a blocked record as blocked, by which gates, with the safety review raised anyway', async () => {
    const r = safetyRecord('status-blocked', '2026-12-21T09:00:00Z');
    r.consent.informationSharing = 'not-yet-discussed';
    r.informationShared = [];
    expect((await svc.post(r)).status).toBe(422);
    const blocked = await status('status-blocked');
    expect(blocked.status).toBe(200);
    expect(blocked.body).toMatchObject({ state: 'blocked', blockedBy: ['ee-consent'], pathway: 'early-engagement' });
    expect(blocked.body.tasks.map((t: any) => t.code)).toEqual(['clinical-review']);

    // The worker fixes the record: the latest send is accepted.
    r.consent.informationSharing = 'granted';
    expect((await svc.post(r)).status).toBe(201);
    const accepted = await status('status-blocked');
    expect(accepted.body.state).toBe('accepted');
    expect(accepted.body.blockedBy).toBeUndefined();

    // Blocked again by the same gate after it was accepted: the latest send is blocked (a block of its own,
    // not the earlier one found again), and sending that again changes nothing.
    r.consent.informationSharing = 'not-yet-discussed';
    expect((await svc.post(r)).status).toBe(422);
    expect((await svc.post(r)).status).toBe(422);
    const again = await status('status-blocked');
    expect(again.body).toMatchObject({ state: 'blocked', blockedBy: ['ee-consent'] });
  });

  it("is scoped to the source: another source's record is not found, and the source must be named", async () => {
    await svc.post(fixture('early-engagement', 'status-scoped'));
    expect((await status('status-scoped', `?source=${encodeURIComponent('urn:example:other-platform')}`)).status).toBe(404);
    const unnamed = await status('status-scoped', '');
    expect(unnamed.status).toBe(400);
    expect(unnamed.body.resourceType).toBe('OperationOutcome');
    expect(unnamed.body.issue[0].expression).toEqual(['source']);
    expect((await status('no-such-record')).status).toBe(404);
  });

  it('does not shadow POST /pathway-records/$validate, and refuses a malformed recordId', async () => {
    expect((await svc.post(fixture('early-engagement', 'status-validate'), '/pathway-records/$validate')).status).toBe(200);
    expect((await status('$validate')).status).toBe(400);
    expect((await status('has%20space')).status).toBe(400);
  });

  it("needs a caller's token", async () => {
    const res = await fetch(`${svc.url}/pathway-records/status-scoped?source=${encodeURIComponent(source)}`);
    expect(res.status).toBe(401);
  });
});
