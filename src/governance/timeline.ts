import type { Case, PersonEvent } from './facts.js';

const dayMs = 86_400_000;

/** A local date's midnight as period.ts daysBetween reads it (ms since the epoch; NaN when it is no date). */
function midnight(date: string): number {
  return Date.parse(`${date}T00:00:00Z`);
}

/** An event of a timeline, with the day it falls on relative to the index date asked about. */
export interface EventOnDay<T extends PersonEvent> {
  /** Whole local days from the index date to the event's date (period.ts daysBetween). */
  days: number;
  event: T;
}

/**
 * One person's dated events (a list as digest.ts builds it), sorted by date once, so that a follow-up
 * window of spec §6 — the events `from` to `to` local days after an index date — is found by binary search
 * instead of by reading every event of the person for every case: one person may hold thousands of
 * records, and a report would then be quadratic in them. Days are period.ts daysBetween's exactly (the
 * same rounding of the same parse), which grows with the date, so a window is one run of the sorted events.
 * An event without a date, or with one that does not parse, lies in no window (daysBetween gives NaN).
 */
export class Timeline<T extends PersonEvent> {
  /** Midnights of the dated events, ascending. */
  private readonly midnights: number[] = [];
  /** The dated events in the same order, each with its position in the list it was made from. */
  private readonly sorted: { position: number; event: T }[] = [];

  constructor(events: readonly T[]) {
    const dated: { at: number; position: number; event: T }[] = [];
    events.forEach((event, position) => {
      const at = event.date === undefined ? NaN : midnight(event.date);
      if (!Number.isNaN(at)) dated.push({ at, position, event });
    });
    dated.sort((a, b) => a.at - b.at || a.position - b.position);
    for (const d of dated) {
      this.midnights.push(d.at);
      this.sorted.push({ position: d.position, event: d.event });
    }
  }

  /** The events `from` to `to` days (both included) after the index date, in the order of the list it was made from. */
  within(indexDate: string, from: number, to: number): EventOnDay<T>[] {
    const base = midnight(indexDate);
    if (Number.isNaN(base)) return [];
    const first = this.firstIndex(base, from);
    const end = this.firstIndex(base, to + 1);
    const found: { position: number; days: number; event: T }[] = [];
    for (let i = first; i < end; i++) {
      const { position, event } = this.sorted[i]!;
      found.push({ position, days: daysFrom(base, this.midnights[i]!), event });
    }
    return found.sort((a, b) => a.position - b.position).map(({ days, event }) => ({ days, event }));
  }

  /** The fewest days after the index date, at least `from`, on which any event falls; undefined when none does. */
  nearest(indexDate: string, from: number): number | undefined {
    const base = midnight(indexDate);
    if (Number.isNaN(base)) return undefined;
    const i = this.firstIndex(base, from);
    return i < this.midnights.length ? daysFrom(base, this.midnights[i]!) : undefined;
  }

  /** The first sorted event at least `days` days after the midnight `base`. */
  private firstIndex(base: number, days: number): number {
    let lo = 0;
    let hi = this.midnights.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (daysFrom(base, this.midnights[mid]!) < days) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function daysFrom(base: number, at: number): number {
  return Math.round((at - base) / dayMs);
}

const timelines = new WeakMap<readonly PersonEvent[], Timeline<PersonEvent>>();

/**
 * The timeline of a person's events, made once per list (digest.ts builds each list once and no one
 * changes it afterwards): every measure that asks about the same person shares it.
 */
export function timelineOf<T extends PersonEvent>(events: readonly T[] | undefined): Timeline<T> {
  if (!events) return new Timeline<T>([]);
  let timeline = timelines.get(events);
  if (!timeline) {
    timeline = new Timeline<PersonEvent>(events);
    timelines.set(events, timeline);
  }
  return timeline as Timeline<T>;
}

/** What a case's window found: its nearest event day (windowOutcome needs no other), and the events to list as evidence. */
export interface Found {
  /** The fewest days after the index date on which an event falls, when any does (at most one element). */
  nearest: number[];
  /** The cases of the events in the window, in the order of the person's events. */
  evidence: Case[];
}

/** The fewest days of events found (at most one element): what windowOutcome reads of them. */
export function nearestOf(found: { days: number }[]): number[] {
  return found.length ? [found.reduce((min, f) => Math.min(min, f.days), Infinity)] : [];
}

/**
 * Found once per key (a person and an index day, say): the cases of one person with the same key find the
 * same events, and one person may hold thousands of records. A repeated key's evidence is left out: it is
 * listed already, and the report lists each resource once (report.ts evaluated).
 */
export function foundOnce<K>(): (key: K, find: () => Found) => Found {
  const known = new Map<string, Found>();
  return (key, find) => {
    const k = JSON.stringify(key);
    const seen = known.get(k);
    if (seen) return { nearest: seen.nearest, evidence: [] };
    const found = find();
    known.set(k, found);
    return found;
  };
}
