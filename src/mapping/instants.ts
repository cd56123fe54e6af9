import { AdapterError, issue, outcome } from '../outcomes/index.js';

/**
 * The one place record dates become instants (spec §8). A date-time is the instant it names, kept in
 * its own offset; a date-only value (`2026-11-21`) stands for that calendar day in the site's time zone
 * (`mappings/site.json` `timeZone`), so it starts at that local midnight, and a time computed from it (a
 * due time) counts from there. Results stay FHIR `instant`s: years 0001–9999 (R4 §2.24); a computed time
 * beyond year 9999 is a 400 naming the record field it came from, never an invalid resource.
 */

const dateOnly = /^(\d{4})-(\d{2})-(\d{2})$/;
const offsetOf = /(Z|[+-]\d{2}:\d{2})$/;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True when `timeZone` is an IANA zone this runtime knows. */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

function utcMs(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day); // setUTCFullYear, not Date.UTC: years 0–99 stay themselves
  d.setUTCHours(hour, minute, second, 0);
  return d.getTime();
}

/** The zone's offset from UTC at an instant, in minutes (east positive). */
export function zoneOffsetMinutes(ms: number, timeZone: string): number {
  const parts = Object.fromEntries(
    formatter(timeZone)
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  const year = parts.era === 'BC' ? 1 - Number(parts.year) : Number(parts.year);
  const local = utcMs(year, Number(parts.month), Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return Math.round((local - (ms - (((ms % 1000) + 1000) % 1000))) / 60_000);
}

/** The instant a local midnight of `date` (YYYY-MM-DD) is in `timeZone`. */
export function startOfLocalDay(date: string, timeZone: string): number {
  const [, y, m, d] = dateOnly.exec(date)!;
  const midnight = utcMs(Number(y), Number(m), Number(d));
  const day = 86_400_000;
  // The offsets around that day (they differ on a day the clocks change): the earliest instant that is
  // on that local day is its start — 01:00 where midnight itself is skipped.
  const candidates = [
    ...new Set([
      zoneOffsetMinutes(midnight - day, timeZone),
      zoneOffsetMinutes(midnight, timeZone),
      zoneOffsetMinutes(midnight + day, timeZone),
    ]),
  ]
    .map((off) => midnight - off * 60_000)
    .filter((ms) => format(ms, zoneOffsetMinutes(ms, timeZone))?.slice(0, 10) === date)
    .sort((a, b) => a - b);
  return candidates[0] ?? midnight - zoneOffsetMinutes(midnight, timeZone) * 60_000;
}

/** Milliseconds since the epoch of a record date or date-time (a date: the start of that local day). */
export function instantMs(value: string, timeZone: string): number {
  return dateOnly.test(value) ? startOfLocalDay(value, timeZone) : Date.parse(value);
}

function pad(n: number, width = 2): string {
  return String(Math.abs(n)).padStart(width, '0');
}

function offsetText(minutes: number): string {
  if (minutes === 0) return 'Z';
  return `${minutes < 0 ? '-' : '+'}${pad(Math.trunc(Math.abs(minutes) / 60))}:${pad(Math.abs(minutes) % 60)}`;
}

function offsetMinutesOf(text: string): number {
  if (text === 'Z') return 0;
  const sign = text.startsWith('-') ? -1 : 1;
  return sign * (Number(text.slice(1, 3)) * 60 + Number(text.slice(4, 6)));
}

/** An instant written in a given offset, as a FHIR instant; undefined when its year is outside 0001–9999. */
function format(ms: number, offsetMinutes: number): string | undefined {
  const local = new Date(ms + offsetMinutes * 60_000);
  const year = local.getUTCFullYear();
  if (year < 1 || year > 9999) return undefined;
  return `${pad(year, 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}.${pad(local.getUTCMilliseconds(), 3)}${offsetText(offsetMinutes)}`;
}

function outOfRange(field: string): AdapterError {
  return new AdapterError(
    400,
    outcome([
      issue(
        'schema-invalid',
        'value',
        `"${field}": a time computed from it falls after the year 9999, which FHIR cannot hold; check the date.`,
        [field],
      ),
    ]),
  );
}

/** Record dates and due times in one site's time zone. */
export class SiteTime {
  constructor(readonly timeZone: string) {}

  /** Milliseconds since the epoch of a record date or date-time. */
  ms(value: string): number {
    return instantMs(value, this.timeZone);
  }

  /** `hours` after a record date or date-time, as a FHIR instant in the value's own offset (a date: the site's). */
  addHours(value: string, hours: number, field: string): string {
    const at = this.ms(value) + hours * 3_600_000;
    const given = offsetOf.exec(value)?.[1];
    const out = format(at, given !== undefined ? offsetMinutesOf(given) : zoneOffsetMinutes(at, this.timeZone));
    if (!out) throw outOfRange(field);
    return out;
  }

  /**
   * `days` calendar days after a record date or date-time: a date stays a date (the same local day, so a
   * day the clocks change does not shift it by an hour); a date-time moves by whole days of 24 hours.
   */
  addDays(value: string, days: number, field: string): string {
    if (!dateOnly.test(value)) return this.addHours(value, days * 24, field);
    const d = new Date(utcMs(Number(value.slice(0, 4)), Number(value.slice(5, 7)), Number(value.slice(8, 10)) + days));
    const year = d.getUTCFullYear();
    if (year < 1 || year > 9999) throw outOfRange(field);
    return `${pad(year, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  }

  /** The instant a record date or date-time stands for, as a FHIR instant (a date-time with its time is one already). */
  instant(value: string, field: string): string {
    return dateOnly.test(value) ? this.addHours(value, 0, field) : value;
  }

  /**
   * Where a validity that ends at `value` stops, exclusive, in ms: a date-only value covers its whole local
   * day (FHIR Period.end "includes any matching date/time", R4 §2.24.0.11), so it stops at the next local
   * midnight; a date-time stops at that instant. `consent.expires: "2026-11-21"` still grants on the 21st.
   */
  endMs(value: string): number {
    if (!dateOnly.test(value)) return Date.parse(value);
    const next = new Date(utcMs(Number(value.slice(0, 4)), Number(value.slice(5, 7)), Number(value.slice(8, 10)) + 1));
    return startOfLocalDay(next.toISOString().slice(0, 10), this.timeZone);
  }

  /** endMs as a FHIR instant in the site's zone (a date-time is returned as given). */
  endInstant(value: string, field: string): string {
    if (!dateOnly.test(value)) return value;
    const at = this.endMs(value);
    const out = format(at, zoneOffsetMinutes(at, this.timeZone));
    if (!out) throw outOfRange(field);
    return out;
  }

  /** The end of a date-only due date in the site's zone (nobody is overdue before that local day is over). */
  dueMs(value: string): number {
    return dateOnly.test(value) ? this.ms(value) + 24 * 3_600_000 - 1 : Date.parse(value);
  }
}
