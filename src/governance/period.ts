import { AdapterError, issue, outcome } from '../outcomes/index.js';

/** Longest period one report covers: a decade is surely a typo. */
export const maxPeriodDays = 3660;

/** The longest follow-up window of any measure, in days after its index day (step-down stability, recovery maintenance). */
export const followUpDays = 90;

/**
 * How long before the period a record may have started and still count for a date in the period: a first
 * appointment in the period after an intake or crisis discharge, a missed check-in reported in the period
 * on a recovery-maintenance record whose check-ins began earlier. Evidence older than this is not read.
 */
export const lookBackDays = 120;

const datePattern = /^\d{4}-\d{2}-\d{2}$/;

/** A reporting period: whole local days, both ends included, in the site's time zone. */
export interface Period {
  start: string;
  end: string;
  timeZone: string;
}

function validDate(value: string): boolean {
  const at = Date.parse(`${value}T00:00:00Z`);
  // Date.parse rolls 2025-02-30 over to March: a date is valid only when it reads back unchanged.
  return datePattern.test(value) && !Number.isNaN(at) && new Date(at).toISOString().startsWith(value);
}

/**
 * Checks `start` and `end` (YYYY-MM-DD, start ≤ end); a bad period is a 400 naming the parameter, under
 * the names the caller used (`start`/`end` of GET /governance/measures, `periodStart`/`periodEnd` of
 * $evaluate-measure).
 */
export function parsePeriod(
  start: unknown,
  end: unknown,
  timeZone: string,
  names: { start: string; end: string } = { start: 'start', end: 'end' },
): Period {
  const problems = (['start', 'end'] as const)
    .filter((key, i) => typeof [start, end][i] !== 'string' || !validDate([start, end][i] as string))
    .map((key) =>
      issue(
        'schema-invalid',
        'invalid',
        `"${names[key]}" must be a calendar date YYYY-MM-DD (a whole day in the site's time zone ${timeZone}).`,
        [names[key]],
      ),
    );
  if (problems.length) throw new AdapterError(400, outcome(problems));
  const p = { start: start as string, end: end as string, timeZone };
  if (p.end < p.start)
    throw new AdapterError(
      400,
      outcome([issue('schema-invalid', 'invalid', `"${names.end}" must not be before "${names.start}".`, [names.end])]),
    );
  if (daysBetween(p.start, p.end) > maxPeriodDays) {
    throw new AdapterError(
      400,
      outcome([issue('schema-invalid', 'invalid', `A period may cover at most ${maxPeriodDays} days.`, [names.end])]),
    );
  }
  return p;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/**
 * The local calendar date (YYYY-MM-DD) of a FHIR date or dateTime in a time zone. A bare date is already
 * local; an instant with an offset is moved into the zone, so 23:30Z may be the next day in Europe/Paris.
 */
export function localDate(value: string | undefined, timeZone: string): string | undefined {
  if (!value) return undefined;
  if (value.length <= 10) return value.length === 10 ? value : undefined;
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) return undefined;
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timeZone, f);
  }
  return f.format(at);
}

/** A local date moved by whole days. */
export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

/**
 * The dates a period's evidence lies in: from the look-back before it to the longest window after it,
 * a day wider each side so that any time zone's reading of an instant falls inside.
 */
export function evidenceRange(p: Period): { from: string; to: string } {
  return { from: addDays(p.start, -lookBackDays - 1), to: addDays(p.end, followUpDays + 1) };
}

/** Whole days from local date `a` to local date `b` (negative when b is earlier). */
export function daysBetween(a: string, b: string): number {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86_400_000);
}

/** True when a local date lies in the period (both ends included). */
export function inPeriod(date: string | undefined, p: Period): boolean {
  return date !== undefined && date >= p.start && date <= p.end;
}

/** Today's local date in the site's time zone. */
export function today(timeZone: string, now: Date = new Date()): string {
  return localDate(now.toISOString(), timeZone) as string;
}
