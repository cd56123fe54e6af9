import type { Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxTransactionBytes, maxTransactionEntries, transactionLimitProblems } from '../../src/fhir/write/transaction-limits.js';
import { maxConcernsRouted } from '../../src/records/crisis-transition.js';
import { maxInformationShared } from '../../src/records/early-engagement.js';
import { maxListItems } from '../../src/records/primitives.js';
import { maxRecoveryGoals } from '../../src/records/step-down.js';
import { claimReleaseRoom } from '../../src/fhir/record-claim.js';
import { consentCategories, recipientKinds } from '../../src/config/mappings-schema.js';
import { fixture, startTestService, testToken, type TestService } from '../harness.js';

/**
 * The largest record each pathway accepts (every array at its schema limit, every optional part present,
 * free text long, a safety disclosure) must still yield a transaction a real Medplum server takes.
 */
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ RATE_LIMIT_PER_MINUTE: '0' });
});
afterAll(async () => {
  await svc.close();
});

const long = (n: number, word = 'steady ') =>
  word
    .repeat(Math.ceil(n / word.length))
    .slice(0, n)
    .trim();
const clinician = { reference: 'PractitionerRole/example-clinician' };
const at = '2026-11-20T15:00:00Z';

function envelope(r: any): any {
  r.consent = {
    informationSharing: 'granted',
    // Every category to every recipient: the most the record can share, so the most it can write.
    categories: [...consentCategories],
    recipients: [...recipientKinds],
    recordedAt: '2026-11-01T10:00:00Z',
    recordedBy: { reference: 'PractitionerRole/example-peer' },
    expires: '2027-11-01',
  };
  r.escalationRoute = {
    clinicalOwner: clinician,
    instructions: long(4000),
    urgentContact: { reference: 'PractitionerRole/example-on-call' },
  };
  r.safety = { immediateConcernDisclosed: true, summary: long(4000), disclosedAt: at };
  r.peerNotes = long(20_000);
  return r;
}

/** The largest accepted record of each pathway. */
const largest: Record<string, () => any> = {
  'early-engagement': () => {
    const r = envelope(fixture('early-engagement', 'largest-ee'));
    r.intake.criteria = Array.from({ length: maxListItems }, () => long(1000));
    r.engagementBarriers = [
      'overwhelmed-by-process',
      'unsure-what-therapy-involves',
      'mistrust-of-services',
      'practical-barrier',
      'none-identified',
      'other',
    ];
    r.engagementBarriersText = long(4000);
    r.informationShared = Array.from({ length: maxInformationShared }, (_, i) => ({
      category: 'engagement-barriers',
      recipient: i % 2 ? 'care-team' : 'case-manager',
      sharedAt: at,
    }));
    r.followUpAction.description = long(4000);
    return r;
  },
  'step-down': () => {
    const r = envelope(fixture('step-down', 'largest-sd'));
    r.stepDownReason = long(4000);
    r.peerSupportPurpose = long(4000);
    r.recoveryGoals = Array.from({ length: maxRecoveryGoals }, (_, i) => ({
      description: `${i} ${long(1500)}`,
      targetDate: '2027-01-15',
      status: 'in-progress',
    }));
    r.warningSigns = Array.from({ length: maxListItems }, () => long(1000));
    r.communityConnectionPlan = Array.from({ length: maxListItems }, () => ({
      activity: long(500),
      schedule: long(200),
      contact: long(200),
    }));
    r.personFeedback = { score: 4, collectedAt: at };
    return r;
  },
  'crisis-transition': () => {
    const r = envelope(fixture('crisis-transition', 'largest-ct'));
    r.peerRole = long(4000);
    r.engagementConcern = long(4000);
    r.concernsRouted = Array.from({ length: maxConcernsRouted }, (_, i) => ({
      category: ['housing', 'practical-needs', 'substance-use'][i % 3],
      routedTo: { reference: 'PractitionerRole/example-case-manager' },
      routedAt: at,
    }));
    return r;
  },
  'concern-routing': () => {
    const r = envelope(fixture('concern-routing', 'largest-cr'));
    r.observedChangesText = long(4000);
    const categories = ['clinical-deterioration', 'safety', 'housing', 'practical-needs', 'substance-use'];
    // Concerns share one Task and one Communication per channel: their number does not add entries.
    r.concerns = Array.from({ length: maxListItems }, (_, i) => ({ category: categories[i % categories.length], summary: long(500) }));
    r.observedChanges = [
      'withdrawn-or-quieter',
      'missed-group-session',
      'missed-appointment',
      'housing-instability',
      'substance-use-change',
      'physical-health-change',
      'other',
    ];
    r.carePlan = undefined;
    return r;
  },
};

async function validate(record: any): Promise<{ result: string; bundle: Bundle; body: any }> {
  const res = await fetch(`${svc.url}/pathway-records/$validate`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${testToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(record),
  });
  const body: any = await res.json();
  const param = (name: string) => body.parameter?.find((p: any) => p.name === name);
  return { result: param('result')?.valueCode, bundle: param('bundle')?.resource, body };
}

describe('every transaction fits a real Medplum server', () => {
  for (const [pathway, build] of Object.entries(largest)) {
    it(`${pathway}: the largest accepted record yields at most ${maxTransactionEntries} plain entries and under 1 MB`, async () => {
      const record = build();
      // It is also a body the adapter takes (MAX_BODY_BYTES default 256 KiB).
      expect(Buffer.byteLength(JSON.stringify(record))).toBeLessThan(256 * 1024);
      const { result, bundle, body } = await validate(record);
      expect(result, JSON.stringify(body).slice(0, 2000)).toBe('accepted');
      const entries = bundle.entry ?? [];
      expect(entries.length).toBeGreaterThan(5);
      // One entry is kept for the claim's release, added when the record is sent (record-claim.ts).
      expect(entries.length).toBeLessThanOrEqual(maxTransactionEntries - 1);
      // No conditional entries: the 8-entry serializable cap never applies.
      for (const e of entries) {
        expect(e.request?.ifNoneExist).toBeUndefined();
        expect(e.request?.url).not.toContain('?');
      }
      expect(Buffer.byteLength(JSON.stringify(bundle))).toBeLessThan(maxTransactionBytes);
      expect(transactionLimitProblems(bundle, undefined, claimReleaseRoom(record))).toEqual([]);
    });
  }

  it('keeps room for the claim release: a transaction full without it is beyond the limits with it', () => {
    const record = { source: { system: 'urn:example:peer-platform' }, recordId: 'r'.repeat(64) };
    const room = claimReleaseRoom(record);
    expect(room.entries).toBe(1);
    expect(room.bytes).toBeGreaterThan(JSON.stringify(record).length);
    const entry = {
      resource: { resourceType: 'Task', status: 'requested', intent: 'order' },
      request: { method: 'POST', url: 'Task' },
    } as const;
    const full = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: Array.from({ length: maxTransactionEntries }, () => entry),
    } as Bundle;
    expect(transactionLimitProblems(full)).toEqual([]);
    expect(transactionLimitProblems(full, undefined, room)).toEqual([
      `${maxTransactionEntries} entries (at most ${maxTransactionEntries - 1})`,
    ]);
    const roomy = { ...full, entry: full.entry!.slice(1) };
    expect(transactionLimitProblems(roomy, undefined, room)).toEqual([]);
    expect(transactionLimitProblems(roomy, maxTransactionBytes - room.bytes + 1, room)).toHaveLength(1);
  });

  it('one element beyond each resource-producing array limit is a 400 naming the field', async () => {
    const over: [string, (r: any) => void, string][] = [
      ['early-engagement', (r) => r.informationShared.push(r.informationShared[0]), 'informationShared'],
      ['step-down', (r) => r.recoveryGoals.push(r.recoveryGoals[0]), 'recoveryGoals'],
      ['crisis-transition', (r) => r.concernsRouted.push(r.concernsRouted[0]), 'concernsRouted'],
      // Issue 11: every list that becomes FHIR content is bounded (5,000 warning signs answered 500 before).
      ['step-down', (r) => r.warningSigns.push('one more'), 'warningSigns'],
      ['step-down', (r) => r.communityConnectionPlan.push(r.communityConnectionPlan[0]), 'communityConnectionPlan'],
      ['early-engagement', (r) => r.intake.criteria.push('one more'), 'intake.criteria'],
      ['early-engagement', (r) => r.engagementBarriers.push('other'), 'engagementBarriers'],
      ['concern-routing', (r) => r.concerns.push(r.concerns[0]), 'concerns'],
      ['concern-routing', (r) => r.observedChanges.push('other'), 'observedChanges'],
      ['early-engagement', (r) => r.consent.recipients.push('care-team'), 'consent.recipients'],
    ];
    for (const [pathway, grow, field] of over) {
      const record = largest[pathway]!();
      grow(record);
      const res = await svc.post(record);
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body.issue.map((i: any) => i.expression))).toContain(field);
    }
  });

  it('the client refuses, unsent, a transaction beyond the limits', () => {
    const entry = { resource: { resourceType: 'Basic', code: { text: 'x' } }, request: { method: 'POST', url: 'Basic' } } as const;
    const big: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: Array.from({ length: maxTransactionEntries + 1 }, () => entry),
    };
    expect(transactionLimitProblems(big)).toHaveLength(1);
    const conditional: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: Array.from({ length: 9 }, () => ({ ...entry, request: { ...entry.request, ifNoneExist: 'identifier=a|b' } })),
    };
    expect(transactionLimitProblems(conditional)).toHaveLength(1);
  });
});
