import { describe, expect, it } from 'vitest';
import type { Facts } from '../../src/governance/digest.js';
import type { Case, ConcernFacts, CrisisEpisode, PeerContact, PersonEvent, StepDownFacts, TaskFacts } from '../../src/governance/facts.js';
import { crisisRecontact, missedContactReconnection, stepDownStability } from '../../src/governance/measures/follow-up-windows.js';
import { addDays, daysBetween } from '../../src/governance/period.js';
import type { MeasureResult } from '../../src/governance/result.js';
import { Timeline } from '../../src/governance/timeline.js';

/**
 * One person holding hundreds of records (as a bench store does: every record for one Patient): the
 * follow-up windows read each person's events through a sorted timeline and find each window once per
 * person and day (timeline.ts). The counts must be those of the definitions read plainly, case by case.
 */
const patient = 'Patient/one';
const period = { start: '2026-01-01', end: '2026-01-31', timeZone: 'UTC' };
const today = '2026-03-10';
const c = (ref: string, recordId = ref.split('/')[1]): Case => ({
  reference: ref,
  identifier: { system: 'urn:test', value: `${recordId}/x` },
});
/** A day of January 2026 and around it, from a counter (deterministic, uneven). */
const day = (i: number) => addDays('2025-12-20', (i * 7) % 80);

function facts(part: Partial<Facts>): Facts {
  return {
    stepDown: [],
    concern: [],
    episodes: [],
    tasks: [],
    crisisEvents: new Map(),
    peerContacts: new Map(),
    ...part,
  } as unknown as Facts;
}

function counts(result: MeasureResult, group: string): Record<string, number> {
  const g = result.groups.find((x) => x.code === group);
  return Object.fromEntries((g?.populations ?? []).map((p) => [p.code, p.cases.length]));
}

/** Proportion counts of cases read one by one: `event` days (relative to each case) decide within `window`. */
function plain(indexDates: string[], eventDays: (index: string) => number[], window: number, eventIsGood: boolean) {
  let excluded = 0;
  let numerator = 0;
  for (const index of indexDates) {
    const found = eventDays(index).some((d) => d >= 0 && d <= window);
    if (!found && daysBetween(index, today) <= window) excluded++;
    else if (found === eventIsGood) numerator++;
  }
  return { 'initial-population': indexDates.length, 'denominator-exclusion': excluded, numerator };
}

describe('governance windows for one person with many records', () => {
  const reviews: TaskFacts[] = Array.from({ length: 400 }, (_, i) => ({
    case: c(`Task/r${i}`),
    task: { resourceType: 'Task', status: 'requested', intent: 'order' },
    code: 'clinical-review',
    patient,
    // A few on a step-down's own start day (day 0 of its window), the rest weeks later.
    authored: i % 100 === 0 ? '2026-01-10' : addDays('2026-02-12', i % 15),
  }));
  const crisis: PersonEvent[] = Array.from({ length: 300 }, (_, i) => ({
    patient,
    date: addDays('2026-02-16', i % 20),
    case: c(`Encounter/e${i}`),
  }));

  it('step-down stability: 600 step-downs of one person, 400 reviews and 300 crisis contacts — every case counted as by itself', () => {
    const stepDown: StepDownFacts[] = Array.from({ length: 600 }, (_, i) => ({
      case: c(`CarePlan/s${i}`),
      pathway: 'step-down',
      patient,
      startDate: day(i),
      hasEscalationRoute: true,
      goals: [],
    }));
    const result = stepDownStability({
      today,
      period,
      facts: facts({ stepDown, tasks: reviews, crisisEvents: new Map([[patient, crisis]]) }),
    });
    const inPeriod = stepDown.map((s) => s.startDate as string).filter((d) => d >= period.start && d <= period.end);
    const events = [...reviews.map((r) => r.authored as string), ...crisis.map((e) => e.date as string)];
    for (const w of [30, 90]) {
      expect(counts(result, `stable-${w}-days`)).toMatchObject(
        plain(inPeriod, (index) => events.map((e) => daysBetween(index, e)), w, false),
      );
    }
    // Some stable within 30 days, some not: the windows decide, not the first case of the person.
    const { numerator, 'initial-population': all } = counts(result, 'stable-30-days');
    expect(numerator).toBeGreaterThan(0);
    expect(numerator).toBeLessThan(all as number);
    // Evidence: every review or contact within 90 days of some step-down, each listed (once or more).
    const expected = new Set(
      [
        ...reviews.map((r) => ({ date: r.authored as string, ref: r.case.reference })),
        ...crisis.map((e) => ({ date: e.date as string, ref: e.case.reference })),
      ]
        .filter((e) => inPeriod.some((index) => daysBetween(index, e.date) >= 0 && daysBetween(index, e.date) <= 90))
        .map((e) => e.ref),
    );
    expect(new Set(result.evidence.map((e) => e.reference))).toEqual(expected);
  });

  it('crisis re-contact: a later crisis contact of the same person within 1–30 days, never the episode itself', () => {
    const dates = [...new Set(Array.from({ length: 200 }, (_, i) => day(i * 11)))];
    const episodes: CrisisEpisode[] = dates.map((d, i) => ({
      case: c(`CarePlan/ct${i}`),
      cases: [c(`CarePlan/ct${i}`)],
      patient,
      dischargeDate: d,
      contactCompleted: i % 2 === 0,
      source: 'crisis-transition',
    }));
    const events: PersonEvent[] = [...episodes.map((e) => ({ patient, date: e.dischargeDate, case: e.case })), ...crisis.slice(0, 50)];
    const result = crisisRecontact({ today, period, facts: facts({ episodes, crisisEvents: new Map([[patient, events]]) }) });
    const inPeriod = episodes.filter((e) => e.dischargeDate >= period.start && e.dischargeDate <= period.end);
    expect(counts(result, 'recontact-30-days')).toMatchObject(
      plain(
        inPeriod.map((e) => e.dischargeDate),
        (index) => events.map((e) => daysBetween(index, e.date as string)).filter((d) => d >= 1),
        30,
        true,
      ),
    );
  });

  it('missed-contact reconnection: 500 reports of one person at a few instants, 300 contacts — contacts after each report within 14 days', () => {
    const concern: ConcernFacts[] = Array.from({ length: 500 }, (_, i) => {
      const recorded = day(i % 9);
      return {
        case: c(`CarePlan/cr${i}`),
        pathway: 'concern-routing',
        patient,
        recorded,
        recordedAt: `${recorded}T${i % 2 ? '09' : '15'}:00:00Z`,
        hasEscalationRoute: true,
        missedContacts: i % 4 ? 1 : 0,
      };
    });
    const contacts: PeerContact[] = Array.from({ length: 300 }, (_, i) => {
      const date = day(i % 13);
      return { patient, date, start: i % 3 ? `${date}T12:00:00Z` : date, finished: i % 5 !== 0, case: c(`Encounter/p${i}`) };
    });
    const result = missedContactReconnection({
      today,
      period,
      facts: facts({ concern, peerContacts: new Map([[patient, contacts]]) }),
    });
    const cases = concern.filter(
      (r) => r.missedContacts > 0 && (r.recorded as string) >= period.start && (r.recorded as string) <= period.end,
    );
    let excluded = 0;
    let numerator = 0;
    for (const r of cases) {
      const found = contacts.some((k) => {
        const after =
          k.start && k.start.length > 10
            ? Date.parse(k.start) > Date.parse(r.recordedAt as string)
            : (k.date as string) > (r.recorded as string);
        const d = daysBetween(r.recorded as string, k.date as string);
        return k.finished && after && d >= 0 && d <= 14;
      });
      if (found) numerator++;
      else if (daysBetween(r.recorded as string, today) <= 14) excluded++;
    }
    expect(numerator).toBeGreaterThan(0);
    expect(counts(result, 'reconnected-14-days')).toMatchObject({
      'initial-population': cases.length,
      'denominator-exclusion': excluded,
      numerator,
    });
  });
});

describe('Timeline', () => {
  const events: PersonEvent[] = ['2026-01-05', '2026-01-01', undefined, '2026-01-03', 'not-a-date', '2026-01-03', '2025-12-31'].map(
    (date, i) => ({
      patient,
      date,
      case: c(`Encounter/t${i}`),
    }),
  );
  const timeline = new Timeline(events);

  it('finds the events of a window in the order they were listed, with daysBetween as their day; undated or unparsable ones in none', () => {
    for (const [from, to] of [
      [0, 4],
      [-1, 2],
      [2, 2],
      [5, 9],
      [-400, 400],
    ] as const) {
      const plainly = events
        .filter((e) => e.date !== undefined)
        .map((e) => ({ days: daysBetween('2026-01-01', e.date as string), event: e }))
        .filter((f) => f.days >= from && f.days <= to);
      expect(timeline.within('2026-01-01', from, to)).toEqual(plainly);
    }
    expect(timeline.nearest('2026-01-02', 0)).toBe(1);
    expect(timeline.nearest('2026-01-06', 0)).toBeUndefined();
    expect(timeline.within('garbage', -400, 400)).toEqual([]);
  });
});
