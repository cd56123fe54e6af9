import type { AuditEvent, Bundle, Encounter, MeasureReport, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportRows, type ReportRow } from '../../src/governance/rows.js';
import { contactsAfter, peerContactOf } from '../../src/governance/facts.js';
import { localDate } from '../../src/governance/period.js';
import { measureReports, newPatient, sourcedRecord } from './service.js';
import { startTestService, type TestService } from '../harness.js';

/**
 * The definitions of spec §6 "Definitions that hold across measures", one small case each, on the real
 * embedded server through POST /pathway-records. Each case has its own people and its own month, so the
 * cases never meet; every expected value is worked out by hand in the case's comment.
 */
const source = 'urn:example:governance-definitions';
const otherSource = 'urn:example:ehr-peer-module';
const clinician = { reference: 'PractitionerRole/example-clinician' };
const caseManager = { reference: 'PractitionerRole/example-case-manager' };
const pathway = 'http://peer-pathways.example.org/fhir/CodeSystem/peer-pathway';
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '0' });
});
afterAll(async () => {
  await svc?.close();
});

const person = () => newPatient(svc);

/** A fixture record of this file's source, for a person, made at `recordedAt`. */
const record = (name: string, recordId: string, patient: string, recordedAt: string, change?: (r: any) => void) =>
  sourcedRecord(source, name, recordId, patient, recordedAt, change);

async function post(r: unknown, status: number): Promise<any> {
  const res = await svc.post(r);
  expect(res.status, JSON.stringify(res.body?.issue ?? res.body?.operationOutcome?.issue ?? '')).toBe(status);
  return res.body;
}

async function create<T extends Task | Encounter>(resource: T): Promise<void> {
  const res = await svc.fhirRaw(resource.resourceType, { method: 'POST', body: JSON.stringify(resource) });
  expect(res.status).toBe(201);
}

const report = (start: string, end: string) => measureReports(svc, start, end);

function row(bundle: Bundle<MeasureReport>, measure: string, group: string, stratum = ''): ReportRow {
  const found = reportRows(bundle).find((r) => r.measure === measure && r.group === group && r.stratum === stratum);
  if (!found) throw new Error(`no row ${measure}/${group}/${stratum}`);
  return found;
}

const count = (bundle: Bundle<MeasureReport>, measure: string, group: string, stratum = '') =>
  row(bundle, measure, group, stratum).counts['initial-population'];
/** [initial-population, denominator-exclusion, numerator] of a proportion row. */
const prop = (bundle: Bundle<MeasureReport>, measure: string, group: string, stratum = '') => {
  const r = row(bundle, measure, group, stratum);
  return [r.counts['initial-population'], r.counts['denominator-exclusion'], r.counts.numerator];
};

const ehrEncounter = (
  patient: string,
  start: string,
  status: Encounter['status'],
  coding: { system: string; code: string },
  cls = 'AMB',
): Encounter => ({
  resourceType: 'Encounter',
  status,
  subject: { reference: patient },
  class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: cls },
  type: [{ coding: [coding] }],
  period: { start },
});

describe('spec §6: definitions that hold across measures, one case each', () => {
  it('a record is dated by its first send: a concern-routing record made on 29 September and resent on 2 October stays in September', async () => {
    const p = await person();
    const r = record('concern-routing', 'def-cr-boundary', p, '2021-09-29T10:00:00Z', (x) => {
      delete x.peerContact;
    });
    await post(r, 201);
    // September: 1 record with missed contacts; 2 routed concerns (clinical deterioration, housing).
    const before = await report('2021-09-01', '2021-09-30');
    expect(count(before, 'missed-contact-reconnection', 'reconnected-14-days')).toBe(1);
    expect(count(before, 'escalation-use', 'routed')).toBe(2);
    await post({ ...r, recordedAt: '2021-10-02T10:00:00Z', lastEngagedAt: '2021-09-25' }, 200);
    const after = await report('2021-09-01', '2021-09-30');
    expect(count(after, 'missed-contact-reconnection', 'reconnected-14-days')).toBe(1);
    expect(count(after, 'escalation-use', 'routed')).toBe(2);
    expect(count(after, 'person-feedback', 'feedback-score', 'concern-routing')).toBe(1);
    const october = await report('2021-10-01', '2021-10-31');
    expect(count(october, 'missed-contact-reconnection', 'reconnected-14-days')).toBe(0);
    expect(count(october, 'escalation-use', 'routed')).toBe(0);
  });

  it("one episode sent by two source systems counts once, and neither is the other's re-contact: 0 of 1", async () => {
    const p = await person();
    const ct = (recordId: string, system: string) =>
      record('crisis-transition', recordId, p, '2021-11-11T10:00:00Z', (x) => {
        x.source = { system };
        x.transitionSource.dischargedAt = '2021-11-10';
        x.firstAppointment = { ...x.firstAppointment, date: '2021-11-15', status: 'attended' };
        x.peerContact = { completed: true, date: '2021-11-11', outcome: 'reached-and-prepared' };
        x.clinicalFollowUp.date = '2021-11-15';
        x.receivingClinicianNotification.at = '2021-11-11T10:00:00Z';
      });
    await post(ct('def-episode-a', source), 201);
    await post(ct('def-episode-b', otherSource), 201);
    const nov = await report('2021-11-01', '2021-11-30');
    expect(prop(nov, 'crisis-recontact', 'recontact-30-days')).toEqual([1, 0, 0]);
    expect(prop(nov, 'crisis-recontact', 'recontact-30-days', 'with-peer-support')).toEqual([1, 0, 0]);
    // One episode, one first appointment.
    expect(prop(nov, 'first-appointment-attendance', 'first-appointment-attended')).toEqual([1, 0, 1]);
  });

  it("a same-day pair is one episode and not each other's re-contact; a discharge 15 days later is: 1 of 2", async () => {
    const p = await person();
    const ct = (recordId: string, discharge: string) =>
      record('crisis-transition', recordId, p, `${discharge}T18:00:00Z`, (x) => {
        x.transitionSource.dischargedAt = discharge;
        x.firstAppointment = { ...x.firstAppointment, date: discharge, status: 'booked' };
        x.peerContact = { completed: false, outcome: 'not-reached' };
        x.clinicalFollowUp.date = discharge;
        x.receivingClinicianNotification.at = `${discharge}T18:00:00Z`;
      });
    await post(ct('def-sameday-1', '2022-01-05'), 201);
    await post(ct('def-sameday-2', '2022-01-05'), 201);
    await post(ct('def-sameday-later', '2022-01-20'), 201);
    const jan = await report('2022-01-01', '2022-01-31');
    expect(prop(jan, 'crisis-recontact', 'recontact-30-days')).toEqual([2, 0, 1]);
    expect(prop(jan, 'crisis-recontact', 'recontact-30-days', 'without-peer-support')).toEqual([2, 0, 1]);
  });

  it('"without peer support" includes a crisis discharge the EHR holds with no crisis-transition record within 7 days', async () => {
    const [ehrOnly, withRecord] = [await person(), await person()];
    const emergency = { system: 'http://snomed.info/sct', code: '4525004' };
    await create(ehrEncounter(ehrOnly, '2022-03-10T02:00:00Z', 'finished', emergency, 'EMER'));
    // The EHR's own encounter of the crisis a transition record was sent for (a day before its discharge): the same episode.
    await create(ehrEncounter(withRecord, '2022-03-11T02:00:00Z', 'finished', emergency, 'EMER'));
    await post(
      record('crisis-transition', 'def-ehr-covered', withRecord, '2022-03-12T12:00:00Z', (x) => {
        x.transitionSource.dischargedAt = '2022-03-12';
        x.firstAppointment = { ...x.firstAppointment, date: '2022-03-16', status: 'attended' };
        x.peerContact = { completed: true, date: '2022-03-13', outcome: 'reached-and-prepared' };
        x.clinicalFollowUp.date = '2022-03-16';
        x.receivingClinicianNotification.at = '2022-03-12T12:00:00Z';
      }),
      201,
    );
    const mar = await report('2022-03-01', '2022-03-31');
    expect(prop(mar, 'crisis-recontact', 'recontact-30-days')).toEqual([2, 0, 0]);
    expect(prop(mar, 'crisis-recontact', 'recontact-30-days', 'without-peer-support')).toEqual([1, 0, 0]);
    expect(prop(mar, 'crisis-recontact', 'recontact-30-days', 'with-peer-support')).toEqual([1, 0, 0]);
  });

  it('a cancelled peer-contact Encounter is not a completed contact; a finished one after the report is: 1 of 2', async () => {
    const [cancelled, finished] = [await person(), await person()];
    const peerContact = { system: pathway, code: 'peer-support-contact' };
    for (const [p, id] of [
      [cancelled, 'def-cancelled'],
      [finished, 'def-finished'],
    ] as const) {
      await post(
        record('concern-routing', id, p, '2022-05-03T10:00:00Z', (x) => {
          delete x.peerContact;
          x.missedContacts = 2;
        }),
        201,
      );
    }
    await create(ehrEncounter(cancelled, '2022-05-06T10:00:00Z', 'cancelled', peerContact));
    await create(ehrEncounter(finished, '2022-05-06T10:00:00Z', 'finished', peerContact));
    const may = await report('2022-05-01', '2022-05-31');
    expect(prop(may, 'missed-contact-reconnection', 'reconnected-14-days')).toEqual([2, 0, 1]);
  });

  it('a clinical-review Task without a reason is reported as unspecified, not as a routed concern', async () => {
    const p = await person();
    await create({
      resourceType: 'Task',
      status: 'requested',
      intent: 'order',
      authoredOn: '2022-07-15T09:00:00Z',
      code: { coding: [{ system: pathway, code: 'clinical-review' }] },
      for: { reference: p },
      owner: clinician,
    });
    const jul = await report('2022-07-01', '2022-07-31');
    expect(count(jul, 'escalation-use', 'routed')).toBe(1);
    expect(count(jul, 'escalation-use', 'routed', 'unspecified')).toBe(1);
    expect(count(jul, 'escalation-use', 'routed', 'concern-routed')).toBe(0);
    expect(count(jul, 'escalation-use', 'clinical-review-by-status', 'requested')).toBe(1);
  });

  it('a goal sent without a status is reported as unknown, not in progress', async () => {
    const p = await person();
    await post(
      record('step-down', 'def-goal', p, '2022-09-05T10:00:00Z', (x) => {
        x.peerSupportPeriod = { start: '2022-09-05', end: '2022-12-01' };
        x.clinicalReviewDate = '2022-10-01';
        x.recoveryGoals = [{ description: 'Walk to the shop with a friend' }];
      }),
      201,
    );
    const sep = await report('2022-09-01', '2022-09-30');
    expect(count(sep, 'recovery-goal-progress', 'goals-by-status', 'unknown')).toBe(1);
    expect(count(sep, 'recovery-goal-progress', 'goals-by-status', 'in-progress')).toBe(0);
  });

  it('engagement after intake counts a contact on or before the first appointment, not one after it: 1 of 2', async () => {
    const [late, early] = [await person(), await person()];
    const ee = (id: string, p: string, contact: string) =>
      record('early-engagement', id, p, '2022-11-25T10:00:00Z', (x) => {
        x.intake = { ...x.intake, date: '2022-11-02' };
        x.peerSupportOffer = { offered: true, offeredAt: '2022-11-03' };
        x.personPreference = 'accepted';
        x.peerContact = { completed: true, date: contact, mode: 'phone', attempts: 1 };
        x.informationShared = [];
        x.nextAppointment = { ...x.nextAppointment, date: '2022-11-15', status: 'attended' };
        x.followUpAction = { ...x.followUpAction, due: '2022-11-30' };
      });
    await post(ee('def-contact-late', late, '2022-11-20'), 201);
    await post(ee('def-contact-early', early, '2022-11-10'), 201);
    const nov = await report('2022-11-01', '2022-11-30');
    expect(prop(nov, 'engagement-after-intake', 'engaged-after-accepted-offer')).toEqual([2, 0, 1]);
  });

  it('a housing concern routed at a crisis transition counts in escalation use (care coordination), and person feedback counts there too', async () => {
    const p = await person();
    await post(
      record('crisis-transition', 'def-ct-housing', p, '2023-01-10T12:00:00Z', (x) => {
        x.transitionSource.dischargedAt = '2023-01-09';
        x.firstAppointment = { ...x.firstAppointment, date: '2023-01-16', status: 'booked' };
        x.peerContact = { completed: true, date: '2023-01-10', outcome: 'reached-concerns-raised' };
        x.clinicalFollowUp.date = '2023-01-16';
        x.receivingClinicianNotification.at = '2023-01-10T12:00:00Z';
        x.consent.categories.push('housing');
        x.consent.recipients.push('case-manager');
        x.concernsRouted = [{ category: 'housing', routedTo: caseManager, routedAt: '2023-01-10T12:00:00Z' }];
        x.personFeedback = { score: 4, collectedAt: '2023-01-10T12:00:00Z' };
      }),
      201,
    );
    const jan = await report('2023-01-01', '2023-01-31');
    expect(count(jan, 'escalation-use', 'routed')).toBe(1);
    expect(count(jan, 'escalation-use', 'routed', 'concern-routed')).toBe(1);
    expect(count(jan, 'escalation-use', 'routed', 'care-coordination-review')).toBe(1);
    const feedback = row(jan, 'person-feedback', 'feedback-score', 'crisis-transition');
    expect(feedback.counts).toMatchObject({ 'initial-population': 1, 'measure-population': 1, 'measure-observation': 1 });
    expect(feedback.score).toBe(4);
  });

  it('a blocked record is dated by its recordedAt and counted per source, month and gate', async () => {
    const p = await person();
    await post(
      record('early-engagement', 'def-blocked', p, '2023-03-10T10:00:00Z', (x) => {
        delete x.escalationRoute;
        x.informationShared = [];
      }),
      422,
    );
    const mar = await report('2023-03-01', '2023-03-31');
    expect(count(mar, 'role-integrity', 'blocked-records')).toBe(1);
    expect(count(mar, 'role-integrity', 'records-without-escalation-route')).toBe(1);
    expect(count(mar, 'documentation-burden', 'blocked-records-by-source', source)).toBe(1);
    expect(count(mar, 'documentation-burden', 'blocked-records-by-source', '2023-03')).toBe(1);
    expect(count(mar, 'documentation-burden', 'blocked-records-by-source', 'ee-escalation-route')).toBe(1);
  });

  it('an EHR crisis Encounter that did not happen (cancelled, planned, entered-in-error, unknown) is neither a crisis discharge nor a re-contact', async () => {
    const [notHappened, later] = [await person(), await person()];
    const emergency = { system: 'http://snomed.info/sct', code: '4525004' };
    // Four EHR crisis Encounters that never happened: no "without peer support" episode.
    for (const status of ['cancelled', 'planned', 'entered-in-error', 'unknown'] as const) {
      await create(ehrEncounter(notHappened, '2023-06-05T02:00:00Z', status, emergency, 'EMER'));
    }
    // A crisis-transition record on 2023-06-02; a cancelled crisis Encounter 10 days later is no re-contact: 0 of 1.
    await post(
      record('crisis-transition', 'def-ehr-cancelled-recontact', later, '2023-06-02T12:00:00Z', (x) => {
        x.transitionSource.dischargedAt = '2023-06-02';
        x.firstAppointment = { ...x.firstAppointment, date: '2023-06-06', status: 'attended' };
        x.peerContact = { completed: true, date: '2023-06-03', outcome: 'reached-and-prepared' };
        x.clinicalFollowUp.date = '2023-06-06';
        x.receivingClinicianNotification.at = '2023-06-02T12:00:00Z';
      }),
      201,
    );
    await create(ehrEncounter(later, '2023-06-12T02:00:00Z', 'cancelled', emergency, 'EMER'));
    const jun = await report('2023-06-01', '2023-06-30');
    expect(prop(jun, 'crisis-recontact', 'recontact-30-days')).toEqual([1, 0, 0]);
    expect(prop(jun, 'crisis-recontact', 'recontact-30-days', 'without-peer-support')).toEqual([0, 0, 0]);
  });

  it('a blocked record resent still blocked a month later (another gate too) stays one record in the month of its first send, under both gates', async () => {
    const p = await person();
    const blocked = record('early-engagement', 'def-blocked-resent', p, '2023-08-30T10:00:00Z', (x) => {
      delete x.escalationRoute;
      x.informationShared = [];
    });
    await post(blocked, 422);
    await post({ ...blocked, recordedAt: '2023-09-05T10:00:00Z' }, 422);
    await post({ ...blocked, recordedAt: '2023-09-06T10:00:00Z', nextAppointment: { ...blocked.nextAppointment, owner: undefined } }, 422);
    const audits = await svc.fhir<AuditEvent>(
      `AuditEvent?type=${encodeURIComponent(`${pathway}|record-blocked`)}&_tag=${encodeURIComponent(`${source}|def-blocked-resent`)}&_count=100`,
    );
    // One event per distinct set of gates failed, each dated by the first send.
    expect(audits).toHaveLength(2);
    expect(audits.map((a) => a.period?.start)).toEqual(['2023-08-30T10:00:00Z', '2023-08-30T10:00:00Z']);
    const aug = await report('2023-08-01', '2023-08-31');
    expect(count(aug, 'role-integrity', 'blocked-records')).toBe(1);
    expect(count(aug, 'documentation-burden', 'blocked-records-by-source', '2023-08')).toBe(1);
    expect(count(aug, 'documentation-burden', 'blocked-records-by-source', 'ee-escalation-route')).toBe(1);
    expect(count(aug, 'documentation-burden', 'blocked-records-by-source', 'ee-appointment-owner')).toBe(1);
    const sep = await report('2023-09-01', '2023-09-30');
    expect(count(sep, 'role-integrity', 'blocked-records')).toBe(0);
    expect(count(sep, 'documentation-burden', 'blocked-records-by-source')).toBe(0);
  });

  it('a contact dated by day only on the day the missed contacts were reported is not after the report; one the next day is: 1 of 2', async () => {
    const [sameDay, nextDay] = [await person(), await person()];
    const cr = (id: string, p: string, date: string) =>
      record('concern-routing', id, p, '2023-10-10T11:00:00Z', (x) => {
        x.missedContacts = 1;
        x.peerContact = { completed: true, date, mode: 'phone' };
      });
    await post(cr('def-contact-same-day', sameDay, '2023-10-10'), 201);
    await post(cr('def-contact-next-day', nextDay, '2023-10-11'), 201);
    const oct = await report('2023-10-01', '2023-10-31');
    expect(prop(oct, 'missed-contact-reconnection', 'reconnected-14-days')).toEqual([2, 0, 1]);
  });

  it('a contact dated by day only is after a report only on a later local day of the site, in any time zone', () => {
    const recordedAt = '2026-09-10T11:00:00Z';
    const contact = (start: string, timeZone: string) =>
      peerContactOf(
        {
          resourceType: 'Encounter',
          status: 'finished',
          class: { code: 'AMB' },
          subject: { reference: 'Patient/p' },
          period: { start },
        },
        timeZone,
      );
    // 11:00Z is 10 September in each of these zones: a contact dated 10 September is that same day, not after.
    for (const tz of ['UTC', 'America/New_York', 'Asia/Tokyo', 'Pacific/Auckland']) {
      const report = { recorded: localDate(recordedAt, tz), recordedAt };
      expect(contactsAfter([contact('2026-09-10', tz)], report, 14), tz).toEqual([]);
      expect(
        contactsAfter([contact('2026-09-11', tz)], report, 14).map((c) => c.days),
        tz,
      ).toEqual([1]);
      // Dated to the minute, the same day after the report counts (day 0); before it does not.
      expect(
        contactsAfter([contact('2026-09-10T11:30:00Z', tz), contact('2026-09-10T10:30:00Z', tz)], report, 14).map((c) => c.days),
        tz,
      ).toEqual([0]);
    }
    // At UTC+14, 11:00Z is already 11 September: a contact dated 11 September by day only is that same day.
    const kiritimati = { recorded: localDate(recordedAt, 'Pacific/Kiritimati'), recordedAt };
    expect(contactsAfter([contact('2026-09-11', 'Pacific/Kiritimati')], kiritimati, 14)).toEqual([]);
  });

  it("a housing concern routed at a crisis transition is judged by its owner's care-coordination Task: acted on in time 1 of 1, not acted on 0 of 1", async () => {
    const [acted, notActed] = [await person(), await person()];
    const ct = (id: string, p: string) =>
      record('crisis-transition', id, p, '2023-11-10T12:00:00Z', (x) => {
        x.transitionSource.dischargedAt = '2023-11-09';
        x.firstAppointment = { ...x.firstAppointment, date: '2023-11-16', status: 'booked' };
        x.peerContact = { completed: true, date: '2023-11-10', outcome: 'reached-concerns-raised' };
        x.clinicalFollowUp.date = '2023-11-16';
        x.receivingClinicianNotification.at = '2023-11-10T12:00:00Z';
        x.consent.categories.push('housing');
        x.consent.recipients.push('case-manager');
        x.concernsRouted = [{ category: 'housing', routedTo: caseManager, routedAt: '2023-11-10T12:00:00Z' }];
      });
    await post(ct('def-ct-housing-acted', acted), 201);
    await post(ct('def-ct-housing-not-acted', notActed), 201);
    const [task] = await svc.fhir<Task>(`Task?code=${encodeURIComponent(`${pathway}|care-coordination-review`)}&subject=${acted}`);
    expect(task?.identifier?.[0]?.value).toBe(`def-ct-housing-acted/task/care-coordination-review/${caseManager.reference}`);
    const put = await svc.fhirRaw(`Task/${task!.id}`, {
      method: 'PUT',
      body: JSON.stringify({ ...task, status: 'in-progress', executionPeriod: { start: '2023-11-10T13:00:00Z' } }),
    });
    expect(put.status).toBe(200);
    const nov = await report('2023-11-01', '2023-11-30');
    expect(prop(nov, 'escalation-use', 'routed-acted-on-within-due-time')).toEqual([2, 0, 1]);
  });

  it('a refused record is recorded by field path, never content, per source (unknown without one) and month; the same refusal again is one', async () => {
    const p = await person();
    const refused = record('early-engagement', 'def-refused', p, '2023-05-10T10:00:00Z', (x) => {
      x.informationShared = [];
      x.peerContact.mode = 'carrier-pigeon';
      x['John Smith said he would hurt himself'] = true;
    });
    expect((await svc.post(refused)).status).toBe(400);
    expect((await svc.post(refused)).status).toBe(400);
    const anonymous = record('early-engagement', 'def-refused-2', p, '2023-05-11T10:00:00Z', (x) => {
      delete x.source;
      x.informationShared = [];
    });
    expect((await svc.post(anonymous)).status).toBe(400);
    const may = await report('2023-05-01', '2023-05-31');
    expect(count(may, 'documentation-burden', 'refused-records')).toBe(2);
    expect(count(may, 'documentation-burden', 'refused-records', source)).toBe(1);
    expect(count(may, 'documentation-burden', 'refused-records', 'unknown')).toBe(1);
    expect(count(may, 'documentation-burden', 'refused-records', '2023-05')).toBe(2);
    expect(count(may, 'documentation-burden', 'refused-records', 'peerContact.mode')).toBe(1);
    expect(count(may, 'documentation-burden', 'refused-records', '(unknown)')).toBe(1);
    expect(count(may, 'documentation-burden', 'refused-records', 'source')).toBe(1);
    const audits = await svc.fhir<AuditEvent>(`AuditEvent?type=${encodeURIComponent(`${pathway}|record-refused`)}&_count=100`);
    expect(audits).toHaveLength(2);
    const text = JSON.stringify(audits);
    for (const content of ['carrier-pigeon', 'John Smith', 'hurt', p]) expect(text).not.toContain(content);
  });

  it('a record refused again a month later with other faults stays one refused record in the month it was first refused, under both field paths', async () => {
    const p = await person();
    const refused = record('early-engagement', 'def-refused-resent', p, '2023-12-20T10:00:00Z', (x) => {
      x.informationShared = [];
      x.peerContact.mode = 'carrier-pigeon';
    });
    expect((await svc.post(refused)).status).toBe(400);
    expect((await svc.post({ ...refused, recordedAt: '2024-01-05T10:00:00Z', personPreference: 'maybe' })).status).toBe(400);
    const dec = await report('2023-12-01', '2023-12-31');
    expect(count(dec, 'documentation-burden', 'refused-records', source)).toBe(1);
    expect(count(dec, 'documentation-burden', 'refused-records', 'peerContact.mode')).toBe(1);
    expect(count(dec, 'documentation-burden', 'refused-records', 'personPreference')).toBe(1);
    const jan = await report('2024-01-01', '2024-01-31');
    expect(count(jan, 'documentation-burden', 'refused-records')).toBe(0);
  });
});
