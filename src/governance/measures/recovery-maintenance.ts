import { contactsAfter, recordKeyOf, type Case, type PersonEvent } from '../facts.js';
import type { MeasureInput } from '../digest.js';
import { daysBetween, inPeriod } from '../period.js';
import { foundOnce, nearestOf, timelineOf } from '../timeline.js';
import { proportionGroup, windowOutcome, type MeasureResult, type Outcome } from '../result.js';

/** Windows of spec §3.6 / §6, in local calendar days after the index day (day 0); the last day is included. */
export const reEntryWindowDays = 90;
export const checkInReconnectionDays = 14;

interface Found {
  days: number;
  case: Case;
}

function eventDays(events: PersonEvent[] | undefined, indexDate: string): Found[] {
  return (events ?? []).filter((e) => e.date !== undefined).map((e) => ({ days: daysBetween(indexDate, e.date as string), case: e.case }));
}

/** Proportion outcome of one case over its window, from the days of its events: an event is the numerator; no event yet in an open window is excluded. */
function outcomeOf(days: number[], window: number, indexDate: string, today: string): Outcome {
  const o = windowOutcome(days, window, daysBetween(indexDate, today));
  if (o === 'pending') return 'excluded';
  return o === 'event' ? 'numerator' : 'not-met';
}

function within(found: Found[], window: number): Found[] {
  return found.filter((f) => f.days >= 0 && f.days <= window);
}

/**
 * Recovery maintenance (spec §3.6, §6): records whose check-ins start in the period; within 90 days,
 * re-entered care through the route (this record's own `re-entry-review` Task completed, dated by its
 * completion: executionPeriod.end, else lastModified, else the server's lastUpdated) and crisis re-contact instead (a crisis re-contact with no completed re-entry review before it;
 * lower is better); and records reporting missed check-ins followed by a completed check-in (facts.ts
 * contactsAfter: a finished peer-contact Encounter after the report) within 14 days of the record.
 */
export function recoveryMaintenance(input: MeasureInput): MeasureResult {
  const { facts, period, today } = input;
  // By record, not by person: another record's completed review is not this record's re-entry.
  const reEntries = new Map<string, PersonEvent[]>();
  for (const t of facts.tasks.filter((x) => x.code === 're-entry-review' && x.task.status === 'completed')) {
    const key = recordKeyOf(t.case);
    if (!key || !t.completed) continue;
    const event = { patient: t.patient, date: t.completed, case: t.case };
    const list = reEntries.get(key);
    if (list) list.push(event);
    else reEntries.set(key, [event]);
  }
  // Records of one person starting on one day find the same crisis re-contacts, the contacts after reports made at one instant the same contacts.
  const crisisFound = foundOnce<[string, string, number]>();
  const contactsFound = foundOnce<[string, string | undefined, string | undefined]>();
  const cases = facts.recoveryMaintenance
    .filter((r) => inPeriod(r.startDate, period) && r.patient)
    .map((r) => {
      const start = r.startDate as string;
      const key = recordKeyOf(r.case);
      const reEntered = eventDays(key ? reEntries.get(key) : undefined, start).filter((f) => f.days >= 0);
      const firstReEntry = Math.min(...reEntered.map((f) => f.days));
      // A crisis re-contact counts "instead" only when no completed re-entry review came before it.
      // Only its window's days matter for the outcome and the evidence (timeline.ts).
      const crisis = crisisFound([r.patient as string, start, firstReEntry], () => {
        const found = timelineOf(facts.crisisEvents.get(r.patient as string))
          .within(start, 0, reEntryWindowDays)
          .filter((f) => f.days < firstReEntry);
        return { nearest: nearestOf(found), evidence: found.map((f) => f.event.case) };
      });
      return { ...r, reEntered, crisis };
    });
  const missed = facts.recoveryMaintenance
    .filter((r) => r.missedCheckIns > 0 && inPeriod(r.recorded, period) && r.patient)
    .map((r) => ({
      ...r,
      found: contactsFound([r.patient as string, r.recorded, r.recordedAt], () => {
        const after = contactsAfter(facts.peerContacts.get(r.patient as string), r, checkInReconnectionDays);
        return { nearest: nearestOf(after), evidence: after.map((f) => f.case) };
      }),
    }));
  return {
    id: 'recovery-maintenance',
    groups: [
      proportionGroup(`re-entered-${reEntryWindowDays}-days`, cases, (c) =>
        outcomeOf(
          c.reEntered.map((f) => f.days),
          reEntryWindowDays,
          c.startDate as string,
          today,
        ),
      ),
      proportionGroup(`crisis-instead-${reEntryWindowDays}-days`, cases, (c) =>
        outcomeOf(c.crisis.nearest, reEntryWindowDays, c.startDate as string, today),
      ),
      proportionGroup(`check-in-after-missed-${checkInReconnectionDays}-days`, missed, (c) =>
        outcomeOf(c.found.nearest, checkInReconnectionDays, c.recorded as string, today),
      ),
    ],
    evidence: [
      ...cases.flatMap((c) => [...within(c.reEntered, reEntryWindowDays).map((f) => f.case), ...c.crisis.evidence]),
      ...missed.flatMap((c) => c.found.evidence),
    ],
  };
}
