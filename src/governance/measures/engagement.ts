import type { Appointment, EarlyEngagementFacts } from '../facts.js';
import type { MeasureInput } from '../digest.js';
import { inPeriod } from '../period.js';
import { proportionGroup, type MeasureResult, type Outcome } from '../result.js';

/** Strata of the measures that compare outcomes with and without (completed) peer contact. */
export const peerSupportStrata = ['with-peer-support', 'without-peer-support'] as const;

/** Whether a case had completed peer contact: the strata of the with/without comparisons. */
export function peerSupport(item: { contactCompleted: boolean }): string {
  return item.contactCompleted ? 'with-peer-support' : 'without-peer-support';
}

function intakesInPeriod(input: MeasureInput): EarlyEngagementFacts[] {
  return input.facts.earlyEngagement.filter((f) => inPeriod(f.intakeDate, input.period));
}

/** Accepted offers (intake in the period) with a completed peer contact on or before the first appointment's date / accepted offers. */
export function engagementAfterIntake(input: MeasureInput): MeasureResult {
  const accepted = intakesInPeriod(input).filter((f) => f.offered && f.preference === 'accepted');
  return {
    id: 'engagement-after-intake',
    groups: [proportionGroup('engaged-after-accepted-offer', accepted, (f) => (f.contactCompleted ? 'numerator' : 'not-met'))],
    evidence: [],
  };
}

/** Eligible intakes offered peer support / eligible intakes; and offers made to ineligible intakes. */
export function offeredByCriteria(input: MeasureInput): MeasureResult {
  const intakes = intakesInPeriod(input);
  const offered = (f: EarlyEngagementFacts): Outcome => (f.offered ? 'numerator' : 'not-met');
  return {
    id: 'offered-by-criteria',
    groups: [
      proportionGroup(
        'eligible-offered',
        intakes.filter((f) => f.eligible),
        offered,
      ),
      proportionGroup(
        'ineligible-offered',
        intakes.filter((f) => !f.eligible),
        offered,
      ),
    ],
    evidence: [],
  };
}

/** An appointment's outcome: attended, not (missed, cancelled), or not known yet (booked, rescheduled). */
function attendance(a: Appointment | undefined): Outcome {
  if (a?.status === 'attended') return 'numerator';
  return a?.status === 'missed' || a?.status === 'cancelled' ? 'not-met' : 'excluded';
}

/**
 * Attended / first appointments due in the period (early-engagement next appointments, and the first
 * appointment of each crisis episode: two records of one episode are one appointment), with and without
 * completed peer contact.
 */
export function firstAppointmentAttendance(input: MeasureInput): MeasureResult {
  const { facts, period } = input;
  const due = [...facts.earlyEngagement, ...facts.episodes.filter((e) => e.source === 'crisis-transition')].filter(
    (f) => f.appointment && f.appointment.status !== 'not-booked' && inPeriod(f.appointment.date, period),
  );
  return {
    id: 'first-appointment-attendance',
    groups: [
      proportionGroup('first-appointment-attended', due, (f) => attendance(f.appointment), {
        code: 'peer-support',
        values: [...peerSupportStrata],
        of: peerSupport,
      }),
    ],
    evidence: [],
  };
}
