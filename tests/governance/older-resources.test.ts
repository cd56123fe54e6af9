import type { AuditEvent, CarePlan } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extensions, indexMonthSystem, recordMonthSystem } from '../../src/contract/vocabulary.js';
import { reportRows } from '../../src/governance/rows.js';
import { comparableReports, fromToday, measureReports, newPatient, sourcedRecord } from './service.js';
import { startTestService, type TestService } from '../harness.js';

/**
 * Governance reads a pathway's CarePlans by their index-month tag and, for CarePlans an older version wrote
 * without it (no tag, no index-date extension), by their period — the second search leaving out what the
 * first reads (fetch.ts notTagged); blocked-record audits likewise by their record-month tag and by when
 * they were audited. Each resource must count exactly once whichever search finds it: the report of a
 * period is the same before and after the tags are taken off, as an older version would have written them.
 */
const source = 'urn:example:governance-older';
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '0' });
});
afterAll(async () => {
  await svc?.close();
});

// Recent dates: an audit without its record-month tag is found by when it was audited (now).
const day = fromToday;
const at = (n: number) => `${day(n)}T10:00:00Z`;
const period = { start: day(-45), end: day(0) };

const person = () => newPatient(svc);

const record = (name: string, recordId: string, patient: string, change: (r: any) => void) =>
  sourcedRecord(source, name, recordId, patient, at(-20), change);

const report = () => measureReports(svc, period.start, period.end);
const comparable = comparableReports;

/**
 * Writes a resource back as an older version wrote it: without the tag of `system` (and for a CarePlan, the
 * index-date extension). A CarePlan through the FHIR API; an AuditEvent, which the API keeps append-only,
 * straight into the embedded store.
 */
async function asOlder(type: 'CarePlan' | 'AuditEvent', id: string, system: string): Promise<void> {
  const current = (await (await svc.fhirRaw(`${type}/${id}`)).json()) as CarePlan | AuditEvent;
  expect(current.meta?.tag?.some((t) => t.system === system)).toBe(true);
  const older = {
    ...current,
    meta: { ...current.meta, tag: current.meta?.tag?.filter((t) => t.system !== system) },
    ...(current.resourceType === 'CarePlan' ? { extension: current.extension?.filter((e) => e.url !== extensions.indexDate) } : {}),
  } as CarePlan | AuditEvent;
  if (type === 'CarePlan') {
    const res = await svc.fhirRaw(`${type}/${id}`, { method: 'PUT', body: JSON.stringify(older) });
    expect(res.status, await res.clone().text()).toBe(200);
  } else {
    await svc.service.embedded!.repo.updateResource(older);
  }
  const written = (await (await svc.fhirRaw(`${type}/${id}`)).json()) as CarePlan | AuditEvent;
  expect(written.meta?.tag?.some((t) => t.system === system)).toBe(false);
}

describe('resources written before the index-month and record-month tags', () => {
  it('count once, found by their dates: the same report with the tags as without them', async () => {
    const [sd, ct, ee, rm, blocked] = [await person(), await person(), await person(), await person(), await person()];
    const records = [
      record('step-down', 'older-sd', sd, (x) => {
        x.peerSupportPeriod = { start: day(-20), end: day(60) };
        x.clinicalReviewDate = day(10);
      }),
      record('crisis-transition', 'older-ct', ct, (x) => {
        x.transitionSource.dischargedAt = day(-21);
        x.firstAppointment = { ...x.firstAppointment, date: day(-14), status: 'attended' };
        x.peerContact = { completed: true, date: day(-20), outcome: 'reached-and-prepared' };
        x.clinicalFollowUp.date = day(-14);
        x.receivingClinicianNotification.at = at(-20);
      }),
      record('early-engagement', 'older-ee', ee, (x) => {
        x.intake = { ...x.intake, date: day(-25) };
        x.peerSupportOffer = { offered: true, offeredAt: day(-24) };
        x.personPreference = 'accepted';
        x.peerContact = { completed: true, date: day(-23), mode: 'phone', attempts: 1 };
        x.informationShared = [];
        x.nextAppointment = { ...x.nextAppointment, date: day(-21), status: 'attended' };
        x.followUpAction = { ...x.followUpAction, due: day(-10) };
      }),
      record('recovery-maintenance', 'older-rm', rm, (x) => {
        x.discharge = { ...x.discharge, date: day(-30) };
        x.personAgreement.recordedAt = at(-30);
        x.checkIns = { ...x.checkIns, start: day(-28), reviewDate: day(60) };
        x.monitoring = { since: day(-28), missedCheckIns: 2, warningSignsObserved: [] };
        delete x.lastCheckIn;
      }),
    ];
    for (const r of records) {
      const res = await svc.post(r);
      expect(res.status, `${r.recordId}: ${JSON.stringify(res.body?.issue ?? '')}`).toBe(201);
    }
    const block = record('early-engagement', 'older-blocked', blocked, (x) => {
      x.intake = { ...x.intake, date: day(-25) };
      delete x.escalationRoute;
      x.informationShared = [];
    });
    expect((await svc.post(block)).status).toBe(422);

    const before = await report();
    const rows = reportRows(before);
    const count = (measure: string, group?: string) =>
      rows.find((r) => r.measure === measure && (!group || r.group === group) && !r.stratum)?.counts['initial-population'];
    // Something to compare: each pathway's record and the block are in the period.
    expect(count('engagement-after-intake')).toBe(1);
    expect(count('step-down-stability')).toBe(1);
    expect(count('crisis-recontact')).toBe(1);
    expect(count('recovery-maintenance')).toBe(1);
    expect(count('documentation-burden', 'blocked-records-by-source')).toBe(1);

    const plans = await svc.fhirAll<CarePlan>(`CarePlan?subject=${[sd, ct, ee, rm].join(',')}`);
    expect(plans).toHaveLength(4);
    for (const plan of plans) await asOlder('CarePlan', plan.id as string, indexMonthSystem);
    const audits = await svc.fhirAll<AuditEvent>(`AuditEvent?_tag=${encodeURIComponent(`${source}|older-blocked`)}`);
    const blockAudits = audits.filter((a) => a.type?.code === 'record-blocked');
    expect(blockAudits).toHaveLength(1);
    await asOlder('AuditEvent', blockAudits[0]?.id as string, recordMonthSystem);

    expect(comparable(await report())).toBe(comparable(before));
  });
});
