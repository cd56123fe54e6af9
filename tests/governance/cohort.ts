import type { Encounter, Task } from '@medplum/fhirtypes';
import { fixture } from '../harness.js';

/**
 * A generated cohort with known outcomes (tests/governance/measures.test.ts holds the hand-computed
 * expected values). The seed moves what must not change any measure — posting order, free days inside
 * the period, hours, contact modes — so that the same expected values hold for every seed.
 */
export const cohortSource = 'urn:example:governance-cohort';
export const period = { start: '2025-03-01', end: '2025-03-31' };
const clinician = { reference: 'PractitionerRole/example-clinician' };

/** mulberry32: a small, well-known seeded generator. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

type EE = [key: string, eligible: boolean, offered: boolean, preference: string, contact: boolean, appointment: string];
const earlyEngagement: EE[] = [
  ...[1, 2, 3, 4, 5, 6].map((n): EE => [`E${n}`, true, true, 'accepted', true, 'attended']),
  ['E7', true, true, 'accepted', true, 'missed'],
  ['E8', true, true, 'accepted', true, 'missed'],
  ['E9', true, true, 'accepted', false, 'missed'],
  ['E10', true, true, 'accepted', false, 'missed'],
  ['E11', true, true, 'accepted', false, 'attended'],
  ['E12', true, true, 'declined', false, 'attended'],
  ['E13', true, true, 'declined', false, 'missed'],
  ['E14', true, true, 'declined', false, 'missed'],
  ['E15', true, false, 'undecided', false, 'booked'],
  ['E16', true, false, 'undecided', false, 'booked'],
  ['E17', false, true, 'accepted', true, 'attended'],
  ['E18', false, false, 'declined', false, 'not-booked'],
  ['E19', false, false, 'declined', false, 'not-booked'],
  ['E20', true, true, 'accepted', true, 'booked'],
];

type CT = [key: string, person: string, discharge: string | undefined, contact: boolean, appointment: string];
const crisis: CT[] = [
  ['C1', 'E1', undefined, true, 'attended'],
  ['C2', 'C2', undefined, true, 'attended'],
  ['C3', 'C3', undefined, true, 'attended'],
  ['C4', 'C4', undefined, true, 'attended'],
  ['C5', 'C5', '2025-03-10', true, 'missed'],
  ['C6', 'C6', '2025-03-01', false, 'missed'],
  ['C6b', 'C6', '2025-04-01', true, 'attended'],
  ['C7', 'C7', '2025-03-02', false, 'attended'],
  ['C7b', 'C7', '2025-03-12', true, 'attended'],
  ['C8', 'C8', '2025-03-15', false, 'booked'],
  ['C9', 'C9', '2025-02-10', true, 'attended'],
];

type SD = [key: string, start: string | undefined, goals: string[], feedback: number | undefined, missed: number];
const stepDown: SD[] = [
  ['S1', '2025-03-03', ['achieved', 'in-progress'], 5, 0],
  ['S2', undefined, ['in-progress'], 4, 0],
  ['S3', undefined, ['not-achieved'], undefined, 0],
  ['S4', undefined, ['achieved'], 2, 1],
  ['S5', '2025-03-05', ['in-progress'], 3, 0],
  ['S6', '2025-03-06', ['achieved'], undefined, 0],
  ['S7', '2025-03-07', ['in-progress'], undefined, 0],
  ['S8', '2025-03-08', ['in-progress'], undefined, 0],
  ['S9', '2025-04-10', ['achieved'], 1, 0],
];

type CR = [key: string, person: string, date: string | undefined, missed: number, contact: boolean, concern: string];
const concernRouting: CR[] = [
  ['R1', 'R1', '2025-03-04', 2, true, 'clinical-deterioration'],
  ['R2', 'R2', '2025-03-05', 1, false, 'practical-needs'],
  ['R2b', 'R2', '2025-03-19', 0, true, 'housing'],
  ['R3', 'R3', '2025-03-10', 3, false, 'substance-use'],
  ['R3b', 'R3', '2025-03-25', 0, true, 'practical-needs'],
  ['R4', 'R4', undefined, 0, true, 'housing'],
  ['R5', 'R5', '2025-03-20', 1, false, 'safety'],
  ['RS6', 'S6', '2025-05-05', 0, false, 'clinical-deterioration'],
];

/** Everyone in the cohort (each gets a Patient), plus the person of the peer-owned Task. */
export const cohortPersons: string[] = [
  ...new Set([
    ...earlyEngagement.map((e) => e[0]),
    'E21',
    ...crisis.map((c) => c[1]),
    ...stepDown.map((s) => s[0]),
    ...concernRouting.map((c) => c[1]),
    'B1',
    'B2',
    'B3',
    'X1',
  ]),
];

/** What a test posts and writes: records (in order), resends, EHR-side Encounters and Tasks, Task moves. */
export interface Cohort {
  records: any[];
  resends: any[];
  encounters: Encounter[];
  tasks: Task[];
  /** Tasks a clinician moved on: found by the slot identifier value, with when work began. */
  taskMoves: { value: string; status: Task['status']; hoursAfterRecord: number }[];
}

/** Builds the cohort for a seed; `patient(key)` is the `Patient/<id>` created for a person. */
export function generateCohort(seed: number, patient: (key: string) => string): Cohort {
  const rnd = random(seed);
  const day = (from: number, to: number) => `2025-03-${String(from + Math.floor(rnd() * (to - from + 1))).padStart(2, '0')}`;
  const at = (date: string) => `${date}T${String(9 + Math.floor(rnd() * 8)).padStart(2, '0')}:00:00Z`;
  const mode = () => (['in-person', 'phone', 'video', 'text'] as const)[Math.floor(rnd() * 4)];
  const base = (name: string, recordId: string, person: string, recordedAt: string) => {
    const r = fixture(name, `gov-${recordId}`);
    r.source = { system: cohortSource };
    r.person = { reference: patient(person) };
    r.recordedAt = recordedAt;
    // The fixtures' consents were recorded in 2026; these records are dated earlier, and a consent recorded
    // after a disclosure grants nothing (spec §3.5): leave its recording time out, as a sender may.
    delete r.consent.recordedAt;
    delete r.peerNotes;
    return r;
  };

  const ee = (key: string, eligible: boolean, offered: boolean, preference: string, contact: boolean, status: string, intake: string) => {
    const r = base('early-engagement', key, key, at(addDays(intake, 8)));
    r.intake = { ...r.intake, date: intake, eligible };
    r.peerSupportOffer = offered
      ? { offered: true, offeredAt: addDays(intake, 1) }
      : { offered: false, reasonNotOffered: 'no peer capacity this week' };
    r.personPreference = preference;
    r.peerContact = contact
      ? { completed: true, date: addDays(intake, 3), mode: mode(), attempts: 1 }
      : { completed: false, attempts: preference === 'accepted' ? 2 : 0 };
    r.nextAppointment = { ...r.nextAppointment, date: addDays(intake, 8), status };
    r.followUpAction = { ...r.followUpAction, due: addDays(intake, 7) };
    return r;
  };
  const records: any[] = earlyEngagement.map(([k, el, of, pref, c, st]) => ee(k, el, of, pref, c, st, day(1, 18)));
  records.find((r) => r.recordId === 'gov-E12').safety = { immediateConcernDisclosed: true, disclosedAt: '2025-03-20T10:00:00Z' };
  records.push(ee('E21', true, true, 'accepted', true, 'attended', '2025-02-10'));
  const resent = ee('E20', true, true, 'accepted', true, 'attended', records.find((r) => r.recordId === 'gov-E20').intake.date);

  for (const [key, person, discharge = day(3, 20), contact, status] of crisis) {
    const r = base('crisis-transition', key, person, at(addDays(discharge, 2)));
    r.transitionSource = { ...r.transitionSource, dischargedAt: discharge };
    r.firstAppointment = { ...r.firstAppointment, date: addDays(discharge, 5), status };
    r.peerContact = contact
      ? { completed: true, date: addDays(discharge, 1), outcome: 'reached-and-prepared' }
      : { completed: false, outcome: 'not-reached' };
    r.clinicalFollowUp = { ...r.clinicalFollowUp, date: addDays(discharge, 5) };
    r.receivingClinicianNotification = { ...r.receivingClinicianNotification, at: r.recordedAt };
    if (key === 'C6') {
      r.consent.categories.push('clinical-concerns');
      r.concernsRouted = [{ category: 'clinical-deterioration', routedTo: clinician, routedAt: r.recordedAt }];
    }
    records.push(r);
  }

  for (const [key, start = day(1, 25), goals, feedback, missed] of stepDown) {
    const r = base('step-down', key, key, `${start}T13:00:00Z`);
    r.peerSupportPeriod = { start, end: addDays(start, 84) };
    r.clinicalReviewDate = addDays(start, 28);
    r.recoveryGoals = goals.map((status, i) => ({ description: `Recovery goal ${i + 1}`, status }));
    r.monitoring = { missedTherapySessions: missed, worseningSymptomsReported: false };
    if (feedback !== undefined) r.personFeedback = { score: feedback, collectedAt: `${addDays(start, 20)}T10:00:00Z` };
    records.push(r);
  }

  for (const [key, person, date = day(1, 28), missed, contact, concern] of concernRouting) {
    const r = base('concern-routing', key, person, at(date));
    r.consent.categories = ['clinical-concerns', 'housing', 'practical-needs', 'substance-use'];
    r.concerns = [{ category: concern, summary: `A ${concern} concern noticed in peer support.` }];
    r.missedContacts = missed;
    r.lastEngagedAt = addDays(date, -7);
    if (contact) r.peerContact = { completed: true, date: r.recordedAt, mode: mode() };
    else delete r.peerContact;
    if (concern === 'safety') {
      r.safety = { immediateConcernDisclosed: true, disclosedAt: r.recordedAt };
      r.personAware = { informed: false, agreesToSharing: false };
    }
    records.push(r);
  }

  // Blocked records: no escalation route (with a safety disclosure), consent not covering a concern, no instructions nor end.
  const b1 = base('early-engagement', 'B1', 'B1', '2025-03-12T10:00:00Z');
  delete b1.escalationRoute;
  b1.safety = { immediateConcernDisclosed: true, disclosedAt: '2025-03-12T10:00:00Z' };
  const b2 = base('concern-routing', 'B2', 'B2', '2025-03-13T10:00:00Z');
  b2.consent.categories = ['clinical-concerns'];
  b2.concerns = [{ category: 'housing', summary: 'Housing is at risk.' }];
  const b3 = base('step-down', 'B3', 'B3', '2025-03-14T10:00:00Z');
  delete b3.escalationRoute.instructions;
  delete b3.peerSupportPeriod.end;
  records.push(b1, b2, b3);

  const encounter = (person: string, date: string, cls: string, type: { system: string; code: string }): Encounter => ({
    resourceType: 'Encounter',
    status: 'finished',
    subject: { reference: patient(person) },
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: cls },
    type: [{ coding: [type] }],
    period: { start: `${date}T03:00:00Z` },
  });
  const ed = { system: 'http://snomed.info/sct', code: '4525004' };
  const other = { system: 'http://snomed.info/sct', code: '185347001' };
  const startOf = (key: string) => records.find((r) => r.recordId === `gov-${key}`).peerSupportPeriod.start as string;
  return {
    records: shuffle(records, rnd),
    resends: [resent, structuredClone(b2)],
    encounters: [
      encounter('C5', addDays('2025-03-10', 30), 'EMER', other),
      encounter('C8', addDays('2025-03-15', 5), 'AMB', ed),
      encounter('S5', addDays(startOf('S5'), 45), 'EMER', other),
      encounter('S7', addDays(startOf('S7'), 30), 'EMER', other),
      encounter('S8', addDays(startOf('S8'), 31), 'EMER', other),
      // Not a crisis contact: an ordinary outpatient visit of a stable step-down.
      encounter('S1', addDays(startOf('S1'), 10), 'AMB', other),
    ],
    tasks: [
      {
        resourceType: 'Task',
        status: 'requested',
        intent: 'order',
        authoredOn: '2025-03-15T09:00:00Z',
        identifier: [{ system: cohortSource, value: 'legacy-import-1/task/outcome-review' }],
        code: { coding: [{ system: 'http://peer-pathways.example.org/fhir/CodeSystem/peer-pathway', code: 'outcome-review' }] },
        for: { reference: patient('X1') },
        requester: clinician,
        owner: { reference: 'PractitionerRole/example-peer' },
      },
    ],
    taskMoves: [
      { value: 'gov-R1/task/clinical-review', status: 'in-progress', hoursAfterRecord: 2 },
      { value: 'gov-R3/task/clinical-review', status: 'completed', hoursAfterRecord: 72 },
      { value: 'gov-R5/task/safety-review', status: 'completed', hoursAfterRecord: 0.5 },
      { value: 'gov-R2/task/care-coordination-review', status: 'accepted', hoursAfterRecord: 10 },
    ],
  };
}

function shuffle<T>(items: T[], rnd: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
