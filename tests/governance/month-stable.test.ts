import type { Bundle, CarePlan, MeasureReport } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportRows } from '../../src/governance/rows.js';
import { comparableReports, measureReports, newPatient, sourcedRecord } from './service.js';
import { startTestService, type TestService } from '../harness.js';

/**
 * Spec §6: "a month once reported does not change". July 2023 is reported; then every record is resent
 * later (new recordedAt, changed wording), the blocked one too, and later records are added for the same
 * people — outside July's windows — and July is reported again: the same reports, case for case.
 */
const source = 'urn:example:governance-month';
const otherSource = 'urn:example:governance-month-ehr';
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '0' });
});
afterAll(async () => {
  await svc?.close();
});

const person = () => newPatient(svc);

const record = (name: string, recordId: string, patient: string, recordedAt: string, change: (r: any) => void) =>
  sourcedRecord(source, name, recordId, patient, recordedAt, change);

async function send(r: any, ...status: number[]): Promise<void> {
  const res = await svc.post(r);
  expect(status, `${r.recordId}: ${JSON.stringify(res.body?.issue ?? res.body?.operationOutcome?.issue ?? '')}`).toContain(res.status);
}

const report = (start: string, end: string) => measureReports(svc, start, end);

const july = () => report('2023-07-01', '2023-07-31');

const comparable = comparableReports;

describe('a reported month does not change', () => {
  it('July, reported, then every record resent 45 days later and later records added: July again is equal', async () => {
    const [sd, cr, ct, ee, rm, blocked] = [await person(), await person(), await person(), await person(), await person(), await person()];
    const later = (at: string) => new Date(Date.parse(at) + 45 * 86_400_000).toISOString();
    const records = [
      // A step-down whose clinical review is triggered on its first day (a missed session): not stable.
      record('step-down', 'month-sd', sd, '2023-07-03T10:00:00Z', (x) => {
        x.peerSupportPeriod = { start: '2023-07-03', end: '2023-09-25' };
        x.clinicalReviewDate = '2023-08-01';
        x.monitoring = { missedTherapySessions: 1, worseningSymptomsReported: false };
        x.personFeedback = { score: 2, collectedAt: '2023-07-20T10:00:00Z' };
      }),
      // A concern-routing record made on the last days of July, with missed contacts.
      record('concern-routing', 'month-cr', cr, '2023-07-29T10:00:00Z', (x) => {
        delete x.peerContact;
        x.missedContacts = 2;
      }),
      // One crisis episode, sent by two systems.
      ...[source, otherSource].map((system, i) =>
        record('crisis-transition', `month-ct-${i}`, ct, '2023-07-11T10:00:00Z', (x) => {
          x.source = { system };
          x.transitionSource.dischargedAt = '2023-07-10';
          x.firstAppointment = { ...x.firstAppointment, date: '2023-07-17', status: 'attended' };
          x.peerContact = { completed: true, date: '2023-07-11', outcome: 'reached-and-prepared' };
          x.clinicalFollowUp.date = '2023-07-17';
          x.receivingClinicianNotification.at = '2023-07-11T10:00:00Z';
        }),
      ),
      record('early-engagement', 'month-ee', ee, '2023-07-12T10:00:00Z', (x) => {
        x.intake = { ...x.intake, date: '2023-07-05' };
        x.peerSupportOffer = { offered: true, offeredAt: '2023-07-06' };
        x.personPreference = 'accepted';
        x.peerContact = { completed: true, date: '2023-07-08', mode: 'phone', attempts: 1 };
        x.informationShared = [];
        x.nextAppointment = { ...x.nextAppointment, date: '2023-07-12', status: 'attended' };
        x.followUpAction = { ...x.followUpAction, due: '2023-07-20' };
      }),
      record('recovery-maintenance', 'month-rm', rm, '2023-07-10T10:00:00Z', (x) => {
        x.discharge = { ...x.discharge, date: '2023-07-03' };
        x.personAgreement.recordedAt = '2023-07-03T10:00:00Z';
        x.checkIns = { ...x.checkIns, start: '2023-07-10', reviewDate: '2023-10-02' };
        x.monitoring = { since: '2023-07-10', missedCheckIns: 2, warningSignsObserved: [] };
        delete x.lastCheckIn;
      }),
    ];
    const block = record('early-engagement', 'month-blocked', blocked, '2023-07-20T10:00:00Z', (x) => {
      delete x.escalationRoute;
      x.informationShared = [];
    });
    for (const r of records) await send(r, 201);
    await send(block, 422);
    const reported = await july();
    // Something to compare: the month holds cases.
    const rows = reportRows(reported);
    const ip = (m: string, g: string) => rows.find((r) => r.measure === m && r.group === g && !r.stratum)?.counts['initial-population'];
    expect([
      ip('step-down-stability', 'stable-30-days'),
      ip('crisis-recontact', 'recontact-30-days'),
      ip('missed-contact-reconnection', 'reconnected-14-days'),
      ip('escalation-use', 'routed'),
      ip('role-integrity', 'blocked-records'),
      ip('recovery-maintenance', 'check-in-after-missed-14-days'),
    ]).toEqual([1, 1, 1, 3, 1, 1]);
    expect(rows.find((r) => r.measure === 'step-down-stability' && r.group === 'stable-30-days' && !r.stratum)?.counts.numerator).toBe(0);

    // Resent 45 days later with the wording changed (and the concern routed again): nothing July counted moves.
    for (const r of records) {
      await send(
        {
          ...r,
          recordedAt: later(r.recordedAt),
          ...(r.pathway === 'step-down'
            ? { recoveryGoals: [{ ...r.recoveryGoals[0], description: 'Join the Thursday walking group again' }] }
            : {}),
        },
        200,
      );
    }
    await send({ ...block, recordedAt: later(block.recordedAt) }, 422);
    // Later records of the same people, outside every July window.
    await send(
      record('crisis-transition', 'month-ct-later', ct, '2023-11-02T10:00:00Z', (x) => {
        x.transitionSource.dischargedAt = '2023-11-01';
        x.firstAppointment = { ...x.firstAppointment, date: '2023-11-06' };
        x.peerContact = { completed: true, date: '2023-11-02', outcome: 'reached-and-prepared' };
        x.clinicalFollowUp.date = '2023-11-06';
        x.receivingClinicianNotification.at = '2023-11-02T10:00:00Z';
      }),
      201,
    );
    await send(
      record('concern-routing', 'month-cr-later', cr, '2023-09-01T10:00:00Z', (x) => {
        delete x.peerContact;
        x.missedContacts = 1;
      }),
      201,
    );
    await send(
      record('step-down', 'month-sd-later', sd, '2023-11-15T10:00:00Z', (x) => {
        x.peerSupportPeriod = { start: '2023-11-15', end: '2024-02-01' };
        x.clinicalReviewDate = '2023-12-10';
      }),
      201,
    );

    expect(comparable(await july())).toBe(comparable(reported));
  });

  it('a resend weeks later that moves the index date (intake, start of peer support, discharge, start of check-ins) leaves the record in its first month', async () => {
    const [sd, ct, ee, rm] = [await person(), await person(), await person(), await person()];
    const records = [
      record('step-down', 'moved-sd', sd, '2024-02-05T10:00:00Z', (x) => {
        x.peerSupportPeriod = { start: '2024-02-05', end: '2024-05-01' };
        x.clinicalReviewDate = '2024-03-01';
      }),
      record('crisis-transition', 'moved-ct', ct, '2024-02-06T10:00:00Z', (x) => {
        x.transitionSource.dischargedAt = '2024-02-05';
        x.firstAppointment = { ...x.firstAppointment, date: '2024-02-12', status: 'attended' };
        x.peerContact = { completed: true, date: '2024-02-06', outcome: 'reached-and-prepared' };
        x.clinicalFollowUp.date = '2024-02-12';
        x.receivingClinicianNotification.at = '2024-02-06T10:00:00Z';
      }),
      record('early-engagement', 'moved-ee', ee, '2024-02-08T10:00:00Z', (x) => {
        x.intake = { ...x.intake, date: '2024-02-05' };
        x.peerSupportOffer = { offered: true, offeredAt: '2024-02-06' };
        x.personPreference = 'accepted';
        x.peerContact = { completed: true, date: '2024-02-07', mode: 'phone', attempts: 1 };
        x.informationShared = [];
        x.nextAppointment = { ...x.nextAppointment, date: '2024-02-20', status: 'booked' };
        x.followUpAction = { ...x.followUpAction, due: '2024-02-20' };
      }),
      record('recovery-maintenance', 'moved-rm', rm, '2024-02-10T10:00:00Z', (x) => {
        x.discharge = { ...x.discharge, date: '2024-02-03' };
        x.personAgreement.recordedAt = '2024-02-03T10:00:00Z';
        x.checkIns = { ...x.checkIns, start: '2024-02-10', reviewDate: '2024-05-02' };
        x.monitoring = { since: '2024-02-10', missedCheckIns: 0, warningSignsObserved: [] };
        delete x.lastCheckIn;
      }),
    ];
    for (const r of records) await send(r, 201);
    const february = await report('2024-02-01', '2024-02-29');
    const ip = (b: Bundle<MeasureReport>, m: string, g: string) =>
      reportRows(b).find((r) => r.measure === m && r.group === g && !r.stratum)?.counts['initial-population'];
    const counted = (b: Bundle<MeasureReport>) => [
      ip(b, 'step-down-stability', 'stable-30-days'),
      ip(b, 'crisis-recontact', 'recontact-30-days'),
      ip(b, 'engagement-after-intake', 'engaged-after-accepted-offer'),
      ip(b, 'recovery-maintenance', 're-entered-90-days'),
    ];
    // Each record counts in February, once.
    expect(counted(february)).toEqual([1, 1, 1, 1]);

    // Six weeks later, each is resent with its index date moved into April.
    const [sdR, ctR, eeR, rmR] = records;
    await send({ ...sdR, recordedAt: '2024-03-20T10:00:00Z', peerSupportPeriod: { start: '2024-04-02', end: '2024-06-01' } }, 200);
    await send(
      { ...ctR, recordedAt: '2024-03-20T10:00:00Z', transitionSource: { ...ctR.transitionSource, dischargedAt: '2024-04-02' } },
      200,
    );
    await send({ ...eeR, recordedAt: '2024-03-20T10:00:00Z', intake: { ...eeR.intake, date: '2024-04-02' } }, 200);
    await send({ ...rmR, recordedAt: '2024-03-20T10:00:00Z', checkIns: { ...rmR.checkIns, start: '2024-04-02' } }, 200);

    // The content shows the corrected dates; the date each counts under stays the first send's.
    const [plan] = await svc.fhir<CarePlan>(`CarePlan?identifier=${encodeURIComponent(`${source}|moved-sd/careplan`)}`);
    expect(plan?.period?.start).toBe('2024-04-02');
    expect(plan?.extension?.find((e) => e.url.endsWith('/index-date'))?.valueDateTime).toBe('2024-02-05');
    expect(plan?.meta?.tag?.find((t) => t.system?.endsWith('/index-month'))?.code).toBe('2024-02');
    expect(comparable(await report('2024-02-01', '2024-02-29'))).toBe(comparable(february));
    expect(counted(await report('2024-04-01', '2024-04-30'))).toEqual([0, 0, 0, 0]);
  });
});
