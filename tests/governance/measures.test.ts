import type { Bundle, List, MeasureReport } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportRows, type ReportRow } from '../../src/governance/rows.js';
import { startTestService, testToken, type TestService } from '../harness.js';
import { period } from './cohort.js';
import { loadCohort } from './load-cohort.js';

const seed = Number(process.env.GOVERNANCE_SEED ?? 20250301);
let svc: TestService;
let march: Bundle<MeasureReport>;

async function measures(start: string, end: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${svc.url}/governance/measures?start=${start}&end=${end}`, {
    headers: { Authorization: `Bearer ${testToken}` },
  });
  return { status: res.status, body: await res.json() };
}

function row(bundle: Bundle<MeasureReport>, measure: string, group: string, stratum = ''): ReportRow {
  const found = reportRows(bundle).find((r) => r.measure === measure && r.group === group && r.stratum === stratum);
  if (!found) throw new Error(`no row ${measure}/${group}/${stratum}`);
  return found;
}

/** [initial-population, denominator-exclusion, numerator, score] of a proportion row. */
function prop(r: ReportRow): [number | undefined, number | undefined, number | undefined, number | undefined] {
  return [r.counts['initial-population'], r.counts['denominator-exclusion'], r.counts.numerator, r.score];
}

const ratio = (n: number, d: number) => Math.round((n / d) * 10_000) / 10_000;

/** The recordIds a population's List traces to. */
function recordIds(bundle: Bundle<MeasureReport>, measure: string, group: string, population: string, stratum?: string): string[] {
  const report = bundle.entry?.find((e) => e.resource?.id === measure)?.resource as MeasureReport;
  const g = report.group?.find((x) => x.code?.coding?.[0]?.code === group);
  const pops = stratum ? g?.stratifier?.[0]?.stratum?.find((s) => s.value?.text === stratum)?.population : g?.population;
  const ref = pops?.find((p) => p.code?.coding?.[0]?.code === population)?.subjectResults?.reference;
  if (!ref) return [];
  const list = report.contained?.find((c) => `#${c.id}` === ref) as List;
  return (list.entry ?? []).map((e) => e.item.identifier?.value?.split('/')[0] ?? e.item.reference ?? '').sort();
}

const ids = (...keys: string[]) => keys.map((k) => `gov-${k}`).sort();

beforeAll(async () => {
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '0' });
  await loadCohort(svc, seed);
  const res = await measures(period.start, period.end);
  expect(res.status).toBe(200);
  march = res.body;
}, 60_000);
afterAll(async () => {
  await svc?.close();
});

describe('GET /governance/measures on a generated cohort (hand-computed expectations)', () => {
  it('answers a Bundle with one summary MeasureReport per measure of spec §6, standard population codes', () => {
    expect(march.resourceType).toBe('Bundle');
    expect(march.entry?.map((e) => e.resource?.id)).toEqual([
      'engagement-after-intake',
      'offered-by-criteria',
      'first-appointment-attendance',
      'step-down-stability',
      'crisis-recontact',
      'escalation-use',
      'missed-contact-reconnection',
      'recovery-goal-progress',
      'person-feedback',
      'recovery-maintenance',
      'role-integrity',
      'documentation-burden',
    ]);
    for (const e of march.entry ?? []) {
      expect(e.resource).toMatchObject({
        resourceType: 'MeasureReport',
        status: 'complete',
        type: 'summary',
        period: { start: '2025-03-01', end: '2025-03-31' },
      });
      for (const g of e.resource?.group ?? []) {
        for (const p of g.population ?? [])
          expect(p.code?.coding?.[0]?.system).toBe('http://terminology.hl7.org/CodeSystem/measure-population');
        expect(g.extension?.[0]?.valueCodeableConcept?.coding?.[0]?.system).toBe('http://terminology.hl7.org/CodeSystem/measure-scoring');
      }
    }
  });

  it('engagement after intake: 10 of 13 accepted offers had a completed peer contact (an intake in February is left out)', () => {
    expect(prop(row(march, 'engagement-after-intake', 'engaged-after-accepted-offer'))).toEqual([13, 0, 10, ratio(10, 13)]);
    expect(recordIds(march, 'engagement-after-intake', 'engaged-after-accepted-offer', 'numerator')).toEqual(
      ids('E1', 'E2', 'E3', 'E4', 'E5', 'E6', 'E7', 'E8', 'E17', 'E20'),
    );
  });

  it('offered by criteria: 15 of 17 eligible intakes offered; 1 of 3 ineligible intakes offered', () => {
    expect(prop(row(march, 'offered-by-criteria', 'eligible-offered'))).toEqual([17, 0, 15, ratio(15, 17)]);
    expect(prop(row(march, 'offered-by-criteria', 'ineligible-offered'))).toEqual([3, 0, 1, ratio(1, 3)]);
    expect(recordIds(march, 'offered-by-criteria', 'ineligible-offered', 'numerator')).toEqual(ids('E17'));
  });

  it('first appointments: with peer support 13/16, without 3/8 (booked ones excluded); the resent record counts as attended, once', () => {
    expect(prop(row(march, 'first-appointment-attendance', 'first-appointment-attended'))).toEqual([27, 3, 16, ratio(16, 24)]);
    expect(prop(row(march, 'first-appointment-attendance', 'first-appointment-attended', 'with-peer-support'))).toEqual([
      16,
      0,
      13,
      ratio(13, 16),
    ]);
    expect(prop(row(march, 'first-appointment-attendance', 'first-appointment-attended', 'without-peer-support'))).toEqual([
      11,
      3,
      3,
      ratio(3, 8),
    ]);
    expect(recordIds(march, 'first-appointment-attendance', 'first-appointment-attended', 'denominator-exclusion')).toEqual(
      ids('E15', 'E16', 'C8'),
    );
    // A person in two pathways (E1 and C1) is two cases: two records, two appointments.
    const numerator = recordIds(march, 'first-appointment-attendance', 'first-appointment-attended', 'numerator');
    expect(numerator).toEqual(expect.arrayContaining(ids('E1', 'C1', 'E20')));
    expect(numerator.filter((r) => r === 'gov-E20')).toHaveLength(1);
  });

  it('step-down stability: 6/8 at 30 days (a re-contact on day 30 counts, on day 31 not), 3/8 at 90 days', () => {
    expect(prop(row(march, 'step-down-stability', 'stable-30-days'))).toEqual([8, 0, 6, 0.75]);
    expect(prop(row(march, 'step-down-stability', 'stable-90-days'))).toEqual([8, 0, 3, 0.375]);
    expect(recordIds(march, 'step-down-stability', 'stable-30-days', 'numerator')).toEqual(ids('S1', 'S2', 'S3', 'S5', 'S6', 'S8'));
    expect(recordIds(march, 'step-down-stability', 'stable-90-days', 'numerator')).toEqual(ids('S1', 'S2', 'S3'));
  });

  it('crisis re-contact within 30 days: 1/6 with completed peer contact, 2/3 without; day 31 does not count', () => {
    expect(prop(row(march, 'crisis-recontact', 'recontact-30-days'))).toEqual([9, 0, 3, ratio(3, 9)]);
    expect(prop(row(march, 'crisis-recontact', 'recontact-30-days', 'with-peer-support'))).toEqual([6, 0, 1, ratio(1, 6)]);
    expect(prop(row(march, 'crisis-recontact', 'recontact-30-days', 'without-peer-support'))).toEqual([3, 0, 2, ratio(2, 3)]);
    expect(recordIds(march, 'crisis-recontact', 'recontact-30-days', 'numerator')).toEqual(ids('C5', 'C7', 'C8'));
    const report = march.entry?.find((e) => e.resource?.id === 'crisis-recontact')?.resource as MeasureReport;
    // The evidence of each re-contact is among the evaluated resources: two EHR Encounters and the later transition C7b.
    expect(report.evaluatedResource?.filter((r) => r.reference?.startsWith('Encounter/'))).toHaveLength(2);
    expect(report.evaluatedResource?.some((r) => r.identifier?.value === 'gov-C7b/careplan')).toBe(true);
  });

  // R5 discloses an immediate safety concern and routes a safety concern: one event, one stat Task (spec §4),
  // so it counts once (it counted twice, as a concern-routed clinical review and a disclosure, before issue 11).
  // C5 and C6 are crisis transitions whose first appointment was missed: since issue 17 each failed bridge
  // raises a clinical review (spec §3.3), counted like the step-down trigger as a triggered review, not acted on.
  it('escalation use: 13 routed, 3 acted on within due time, clinical reviews by status', () => {
    expect(row(march, 'escalation-use', 'routed').counts['initial-population']).toBe(13);
    const stratum = (s: string) => row(march, 'escalation-use', 'routed', s).counts['initial-population'];
    expect([
      stratum('concern-routed'),
      stratum('safety-concern-disclosed'),
      stratum('step-down-monitoring-trigger'),
      stratum('crisis-bridge-failed'),
    ]).toEqual([7, 3, 1, 2]);
    expect([stratum('clinical-review'), stratum('care-coordination-review'), stratum('none')]).toEqual([9, 4, 13]);
    expect(prop(row(march, 'escalation-use', 'routed-acted-on-within-due-time'))).toEqual([13, 0, 3, ratio(3, 13)]);
    expect(recordIds(march, 'escalation-use', 'routed-acted-on-within-due-time', 'numerator')).toEqual(ids('R1', 'R2', 'R5'));
    const status = (s: string) => row(march, 'escalation-use', 'clinical-review-by-status', s).counts['initial-population'];
    expect([status('requested'), status('in-progress'), status('completed'), status('accepted')]).toEqual([6, 1, 2, 0]);
  });

  // R1's own contact is the one it was made at (same instant): not after the missed contacts were reported.
  it("missed-contact reconnection: 1 of 4 reconnected within 14 days (day 14 counts, day 15 not; the report's own contact does not)", () => {
    expect(prop(row(march, 'missed-contact-reconnection', 'reconnected-14-days'))).toEqual([4, 0, 1, 0.25]);
    expect(recordIds(march, 'missed-contact-reconnection', 'reconnected-14-days', 'numerator')).toEqual(ids('R2'));
  });

  it('recovery goals by achievement status, and the mean feedback score per pathway (only step-downs sent feedback here)', () => {
    expect(prop(row(march, 'recovery-goal-progress', 'goals-achieved'))).toEqual([9, 0, 3, ratio(3, 9)]);
    const goals = (s: string) => row(march, 'recovery-goal-progress', 'goals-by-status', s).counts['initial-population'];
    expect([goals('in-progress'), goals('achieved'), goals('not-achieved')]).toEqual([5, 3, 1]);
    // Records counting in March: 20 intakes, 8 step-downs, 9 crisis discharges, 7 concern-routing records first sent.
    const feedback = row(march, 'person-feedback', 'feedback-score');
    expect(feedback.counts).toMatchObject({ 'initial-population': 44, 'measure-population': 4, 'measure-observation': 4 });
    expect(feedback.score).toBe(3.5);
    const stepDown = row(march, 'person-feedback', 'feedback-score', 'step-down');
    expect(stepDown.counts).toMatchObject({ 'initial-population': 8, 'measure-population': 4, 'measure-observation': 4 });
    expect(stepDown.score).toBe(3.5);
    expect(row(march, 'person-feedback', 'feedback-score', 'crisis-transition').counts).toMatchObject({
      'initial-population': 9,
      'measure-population': 0,
    });
  });

  it('role integrity in March: one clinical Task owned by a peer role; 3 blocked records by gate (a resend is not a second), 2 without escalation route', () => {
    expect(row(march, 'role-integrity', 'clinical-tasks-owned-by-peer-role').counts['initial-population']).toBe(1);
    expect(recordIds(march, 'role-integrity', 'clinical-tasks-owned-by-peer-role', 'initial-population')).toEqual(['legacy-import-1']);
    // Blocked records are dated by their recordedAt (12–14 March), not by the day the adapter saw them.
    expect(row(march, 'role-integrity', 'blocked-records').counts['initial-population']).toBe(3);
    const gate = (g: string) => row(march, 'role-integrity', 'blocked-records', g).counts['initial-population'];
    expect([gate('ee-escalation-route'), gate('cr-consent-aligned'), gate('sd-escalation-instructions'), gate('sd-time-limited')]).toEqual([
      1, 1, 1, 1,
    ]);
    expect(recordIds(march, 'role-integrity', 'records-without-escalation-route', 'initial-population')).toEqual(ids('B1', 'B3'));
  });

  it('documentation burden in March: the 3 blocked records from the cohort source, by gate and month', () => {
    expect(row(march, 'documentation-burden', 'blocked-records-by-source').counts['initial-population']).toBe(3);
    expect(
      row(march, 'documentation-burden', 'blocked-records-by-source', 'urn:example:governance-cohort').counts['initial-population'],
    ).toBe(3);
    expect(row(march, 'documentation-burden', 'blocked-records-by-source', '2025-03').counts['initial-population']).toBe(3);
    expect(row(march, 'documentation-burden', 'refused-records').counts['initial-population']).toBe(0);
  });

  it('on the day the records were sent, nothing is dated: blocked records count under their recordedAt', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const day = (d: number) => new Date(Date.parse(`${today}T00:00:00Z`) + d * 86_400_000).toISOString().slice(0, 10);
    const { body } = await measures(day(-1), day(1));
    expect(row(body, 'role-integrity', 'blocked-records').counts['initial-population']).toBe(0);
    expect(row(body, 'role-integrity', 'records-without-escalation-route').counts['initial-population']).toBe(0);
  });

  it('every counted case traces back to a recordId of the cohort source', () => {
    for (const e of march.entry ?? []) {
      for (const list of (e.resource?.contained ?? []) as List[]) {
        for (const entry of list.entry ?? []) {
          expect(entry.item.identifier?.system).toBe('urn:example:governance-cohort');
          expect(entry.item.identifier?.value).toMatch(/^[A-Za-z0-9\-._:]+\/.+/);
        }
      }
    }
  });
});

describe('GET /governance/measures edge cases', () => {
  it('an empty period has every count 0 and no score', async () => {
    const { status, body } = await measures('2024-01-01', '2024-01-31');
    expect(status).toBe(200);
    const rows = reportRows(body);
    expect(rows.length).toBeGreaterThan(10);
    for (const r of rows) {
      expect(Object.values(r.counts).every((n) => n === 0)).toBe(true);
      expect(r.score).toBeUndefined();
    }
  });

  it('a missing or malformed period is a 400 OperationOutcome naming the parameter', async () => {
    const { status, body } = await measures('2025-02-30', '');
    expect(status).toBe(400);
    expect(body.resourceType).toBe('OperationOutcome');
    expect(body.issue.map((i: any) => i.expression?.[0])).toEqual(['start', 'end']);
    const reversed = await measures('2025-03-31', '2025-03-01');
    expect(reversed.status).toBe(400);
  });

  it('needs the caller token', async () => {
    const res = await fetch(`${svc.url}/governance/measures?start=2025-03-01&end=2025-03-31`);
    expect(res.status).toBe(401);
  });

  it('publishes a Measure for each report, defining every group it reports', async () => {
    const res = await fetch(`${svc.url}/governance/Measure`, { headers: { Authorization: `Bearer ${testToken}` } });
    const bundle = await res.json();
    for (const e of march.entry ?? []) {
      const measure = bundle.entry.find((m: any) => m.resource.url === e.resource?.measure)?.resource;
      expect(measure?.description, e.resource?.id).toBeTruthy();
      const defined = measure.group.map((g: any) => g.code.coding[0].code);
      expect(defined).toEqual(e.resource?.group?.map((g) => g.code?.coding?.[0]?.code));
    }
  });
});
