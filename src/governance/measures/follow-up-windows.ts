import { contactsAfter, type PersonEvent } from '../facts.js';
import { foundOnce, nearestOf, timelineOf } from '../timeline.js';
import type { MeasureInput } from '../digest.js';
import { daysBetween, inPeriod } from '../period.js';
import { proportionGroup, windowOutcome, type MeasureResult, type Outcome } from '../result.js';
import { peerSupport, peerSupportStrata } from './engagement.js';

/** Windows of spec §6, in local calendar days after the index day (day 0); the last day is included. */
export const stepDownWindowDays = [30, 90] as const;
export const crisisRecontactDays = 30;
export const reconnectionDays = 14;

/** A case's outcome over a window: an event is the numerator when `eventIsGood`, else it fails the case. */
function windowed(days: number[], window: number, indexDate: string, today: string, eventIsGood: boolean): Outcome {
  const o = windowOutcome(days, window, daysBetween(indexDate, today));
  if (o === 'pending') return 'excluded';
  return (o === 'event') === eventIsGood ? 'numerator' : 'not-met';
}

/**
 * Step-downs (peer support starting in the period) with no clinical-review Task and no crisis re-contact
 * for the person within 30 / 90 days / step-downs. A window not over yet with no event so far is excluded.
 */
export function stepDownStability(input: MeasureInput): MeasureResult {
  const { facts, period, today } = input;
  const reviews = new Map<string, PersonEvent[]>();
  for (const t of facts.tasks) {
    if (t.code !== 'clinical-review' || !t.patient) continue;
    const event = { patient: t.patient, date: t.authored, case: t.case };
    const list = reviews.get(t.patient);
    if (list) list.push(event);
    else reviews.set(t.patient, [event]);
  }
  const longest = Math.max(...stepDownWindowDays);
  const found = foundOnce<[string, string]>();
  const cases = facts.stepDown
    .filter((s) => inPeriod(s.startDate, period) && s.patient)
    .map((s) => {
      const [patient, start] = [s.patient as string, s.startDate as string];
      return {
        ...s,
        ...found([patient, start], () => {
          const timelines = [timelineOf(reviews.get(patient)), timelineOf(facts.crisisEvents.get(patient))];
          const days = timelines.map((t) => t.nearest(start, 0)).filter((d): d is number => d !== undefined);
          return {
            nearest: days.length ? [Math.min(...days)] : [],
            evidence: timelines.flatMap((t) => t.within(start, 0, longest).map((f) => f.event.case)),
          };
        }),
      };
    });
  return {
    id: 'step-down-stability',
    groups: stepDownWindowDays.map((w) =>
      proportionGroup(`stable-${w}-days`, cases, (c) => windowed(c.nearest, w, c.startDate as string, today, false)),
    ),
    evidence: cases.flatMap((c) => c.evidence),
  };
}

/**
 * Crisis episodes (person + discharge date, spec §6) discharged in the period — of crisis-transition records,
 * and the EHR's crisis discharges with no crisis-transition record within 7 days — followed by a crisis
 * re-contact within 30 days: a later episode or crisis-contact Encounter (days 1–30), never the same one;
 * with and without completed peer contact (an EHR-only discharge is without).
 */
export function crisisRecontact(input: MeasureInput): MeasureResult {
  const { facts, period, today } = input;
  const cases = facts.episodes
    .filter((e) => inPeriod(e.dischargeDate, period))
    .map((e) => {
      const own = new Set(e.cases.map((c) => c.reference));
      const found = timelineOf(facts.crisisEvents.get(e.patient))
        .within(e.dischargeDate, 1, crisisRecontactDays)
        .filter((f) => !own.has(f.event.case.reference));
      return { ...e, found };
    });
  return {
    id: 'crisis-recontact',
    groups: [
      proportionGroup(
        'recontact-30-days',
        cases,
        (c) =>
          windowed(
            c.found.slice(0, 1).map((f) => f.days),
            crisisRecontactDays,
            c.dischargeDate,
            today,
            true,
          ),
        { code: 'peer-support', values: [...peerSupportStrata], of: peerSupport },
      ),
    ],
    evidence: cases.flatMap((c) => [...c.cases.slice(1), ...c.found.map((f) => f.event.case)]),
  };
}

/**
 * Concern-routing records (first sent in the period) with missed contacts, followed by a completed contact
 * (facts.ts contactsAfter: finished, after the report) within 14 days.
 */
export function missedContactReconnection(input: MeasureInput): MeasureResult {
  const { facts, period, today } = input;
  const found = foundOnce<[string, string | undefined, string | undefined]>();
  const cases = facts.concern
    .filter((c) => c.missedContacts > 0 && inPeriod(c.recorded, period) && c.patient)
    .map((c) => ({
      ...c,
      ...found([c.patient as string, c.recorded, c.recordedAt], () => {
        const after = contactsAfter(facts.peerContacts.get(c.patient as string), c, reconnectionDays);
        return { nearest: nearestOf(after), evidence: after.map((f) => f.case) };
      }),
    }));
  return {
    id: 'missed-contact-reconnection',
    groups: [
      proportionGroup('reconnected-14-days', cases, (c) => windowed(c.nearest, reconnectionDays, c.recorded as string, today, true)),
    ],
    evidence: cases.flatMap((c) => c.evidence),
  };
}
