import {
  convertToSearchableReferences,
  convertToSearchableStrings,
  convertToSearchableTokens,
  evalFhirPathTyped,
  getSearchParameter,
  getSearchParameterDetails,
  Operator,
  splitSearchOnComma,
  toPeriod,
  toTypedValue,
  type FhirPathAtom,
  type Filter,
} from '@medplum/core';
import type { Resource, SearchParameter } from '@medplum/fhirtypes';

/**
 * Search parameters kept in the `search_token` lookup table: the ones the adapter and EHRs run on every
 * write (conditional creates on identifier, worklists by patient/owner/code/status), the status view and
 * audit lookups (`_tag`), governance (Goal by profile, CarePlan by category, Encounter by type or class,
 * AuditEvent by type) and EHR worklists (Encounter?part-of, Task?focus, Communication?part-of).
 */
export const TOKEN_SEARCH_PARAMS: readonly string[] = [
  '_id',
  'identifier',
  'patient',
  'subject',
  'for',
  'owner',
  'code',
  'status',
  '_tag',
  '_profile',
  'category',
  'type',
  'class',
  'part-of',
  'partof',
  'focus',
];

/**
 * Date search parameters kept in the `search_date` lookup table, so that a search for one period reads
 * that period, not the whole history: `_lastUpdated`, Task `authored-on`/`modified`/`period`, the shared
 * `date` (CarePlan and Encounter period, AuditEvent recorded, Consent dateTime), Communication
 * `sent`/`received`, Goal `start-date`/`target-date`.
 */
export const DATE_SEARCH_PARAMS: readonly string[] = [
  '_lastUpdated',
  'date',
  'authored-on',
  'modified',
  'period',
  'sent',
  'received',
  'start-date',
  'target-date',
];

/** Search parameter types whose equality filters the token table answers. */
const TOKEN_TYPES: readonly string[] = ['reference', 'token', 'uri'];

/** One row of `search_token`: the key is `Type.code`, so one B-tree serves every type. */
export interface TokenRow {
  code: string;
  key: string;
}

/** One row of `search_date`: the instants (ISO 8601 UTC) a value covers; open ends are '' and '9999'. */
export interface DateRow {
  code: string;
  low: string;
  high: string;
}

/**
 * Suffix of the code of a token parameter's `system|value` rows (`Task.code|`): the lower-cased system
 * (empty when none), `|`, the lower-cased value, of each token with a value. Codes never contain `|`.
 */
export const SYSTEM_SUFFIX = '|';

/**
 * The lookup rows of a resource's current version: the values Medplum's matcher compares, from the same
 * conversions (convertToSearchableTokens/Dates) of the parameter's expression narrowed to the type.
 * Token keys are the lower-cased value (and `system|value`, see SYSTEM_SUFFIX), references their last
 * segment, uris lower-cased; date rows the instants of Medplum's toPeriod, open ends '' and '9999'.
 */
export function lookupRows(resource: Resource & { id: string }): { tokens: TokenRow[]; dates: DateRow[] } {
  const tokens: TokenRow[] = [];
  const type = resource.resourceType;
  for (const [code, param] of tokenParams(type)) {
    const { keys, systemKeys } = tokenKeys(resource, code, param);
    for (const key of keys) tokens.push({ code: `${type}.${code}`, key });
    for (const key of systemKeys) tokens.push({ code: `${type}.${code}${SYSTEM_SUFFIX}`, key });
  }
  return { tokens, dates: dateRows(resource) };
}

/** The `search_date` rows of a resource (lookupRows), of every date parameter or only of those in `codes`. */
export function dateRows(resource: Resource & { id: string }, codes?: readonly string[]): DateRow[] {
  const dates: DateRow[] = [];
  const type = resource.resourceType;
  for (const [code, param] of dateParams(type)) {
    if (codes && !codes.includes(code)) continue;
    const values = evalFhirPathTyped(parsed(type, code, param), [toTypedValue(resource)]);
    for (const period of values.map((v) => datePeriod(v.value))) {
      if (!period || (!period.start && !period.end)) continue;
      dates.push({ code: `${type}.${code}`, low: period.start ?? '', high: period.end ?? '9999' });
    }
  }
  return dates;
}

/**
 * The rows that may match one filter: `rows` is a subquery of `rid`s (a superset of the matches) with
 * its parameters; `rank` orders conditions from the usually most selective (identifier) to the least
 * (status), so that the first drives the query and the others only check its rows.
 */
export interface SqlCondition {
  rows: string;
  params: string[];
  rank: number;
  /**
   * True when the rows are exactly the resources Medplum's matcher accepts for this filter (same values,
   * same comparison: see tokenCondition and dateCondition), so the filter need not be matched again.
   */
  exact: boolean;
  /**
   * True for a `:not` filter: `rows` are the resources its value list matches, and a resource matches the
   * filter when it is not among them (Medplum's matcher: no value of the list matches, and a resource
   * without the element matches). Such a condition never drives a query; it only excludes.
   */
  negated?: boolean;
}

/** Usual selectivity of the token parameters, most selective first (an index into this list). */
const SELECTIVITY: readonly string[] = [
  '_id',
  'identifier',
  '_tag',
  'focus',
  'part-of',
  'partof',
  'patient',
  'subject',
  'for',
  'owner',
  'code',
  // dates rank here (a period is usually a small part of the history)
  'category',
  'type',
  'class',
  '_profile',
  'status',
];
const DATE_RANK = SELECTIVITY.indexOf('code') + 0.5;

/**
 * A condition selecting the rows that may match one filter (a superset, or exactly the matches when
 * `exact`), or undefined when the filter cannot be answered from a lookup table (the search then reads
 * every resource of the type). systemKeys: whether the store holds the `system|value` rows of every
 * resource (database.ts SYSTEM_KEYS_MARK).
 */
export function filterCondition(resourceType: string, filter: Filter, systemKeys = false): SqlCondition | undefined {
  if (TOKEN_SEARCH_PARAMS.includes(filter.code) && filter.operator === Operator.EQUALS) {
    return tokenCondition(resourceType, filter, systemKeys);
  }
  if (TOKEN_SEARCH_PARAMS.includes(filter.code) && filter.operator === Operator.NOT) {
    // Medplum's `:not` is the negation of the same list's equality match, so only an exact equality
    // condition can be negated: a superset's complement would drop matches.
    const equal = tokenCondition(resourceType, { ...filter, operator: Operator.EQUALS }, systemKeys);
    return equal?.exact ? { ...equal, negated: true } : undefined;
  }
  if (DATE_SEARCH_PARAMS.includes(filter.code)) {
    return dateCondition(resourceType, filter);
  }
  return undefined;
}

/**
 * Medplum's token matching (match.ts matchesTokenValue), value by value: `[code]` compares the lower-cased
 * value whatever the system; `[system]|[code]` (split on every `|`, the first two parts kept, lower-cased)
 * also the system, `|[code]` no system. The `[code]` rows hold each token's lower-cased value, the
 * SYSTEM_SUFFIX rows `system|value`: a key with one `|` equals only a token whose system and value are
 * those two parts (a system or value holding a `|` gives a key with more, and Medplum's comparison fails
 * for it too), so on a token parameter both lookups are exact. `[system]|` (any code) and references or
 * uris (matched by suffix or substring) stay supersets, checked by the matcher.
 */
function tokenCondition(resourceType: string, filter: Filter, systemKeys: boolean): SqlCondition | undefined {
  const param = tokenParams(resourceType).find(([code]) => code === filter.code)?.[1];
  if (!param) return undefined;
  const rank = SELECTIVITY.indexOf(filter.code);
  const code = `${resourceType}.${filter.code}`;
  const values = splitSearchOnComma(filter.value);
  const plainToken = param.type === 'token' && filter.code !== '_id';
  if (plainToken && systemKeys && values.length && values.every((v) => v.includes('|'))) {
    const keys = values.map((v) => v.split('|').map((s) => s.toLowerCase()) as [string, string]);
    if (keys.every(([, value]) => value)) {
      const rows = `SELECT rid FROM search_token WHERE code = ? AND key IN (${keys.map(() => '?').join(', ')})`;
      return { rows, params: [code + SYSTEM_SUFFIX, ...keys.map(([system, value]) => `${system}|${value}`)], rank, exact: true };
    }
  }
  const keys: string[] = [];
  for (const value of values) {
    let key: string;
    if (filter.code === '_id') key = value.toLowerCase();
    else if (param.type === 'reference') key = lastSegment(value);
    else if (param.type === 'uri') key = value.toLowerCase();
    // `system|` (any code in a system) has no value to look up.
    else key = (value.includes('|') ? (value.split('|')[1] ?? '') : value).toLowerCase();
    if (!key) return undefined;
    keys.push(key);
  }
  if (param.type === 'uri') {
    // Medplum matches a uri filter anywhere in the value (case-insensitive): look inside the keys.
    return {
      rows: `SELECT rid FROM search_token WHERE code = ? AND (${keys.map(() => 'instr(key, ?) > 0').join(' OR ')})`,
      params: [code, ...keys],
      rank,
      exact: false,
    };
  }
  // `_id` is a token of no system (the id): `[code]` values are exact for it as for any token.
  const exact = param.type === 'token' && values.every((v) => !v.includes('|'));
  return {
    rows: `SELECT rid FROM search_token WHERE code = ? AND key IN (${keys.map(() => '?').join(', ')})`,
    params: [code, ...keys],
    rank,
    exact,
  };
}

/** A FHIR month (`YYYY-MM`), without a day. */
const MONTH = /^\d{4}-\d{2}$/;
/** A search date to the minute, without seconds (`2025-02-28T10:00Z`): the minute and its zone. */
const MINUTE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(Z|[+-]\d{2}:\d{2})?$/;

/**
 * The instants a FHIR date, dateTime or Period covers, as Medplum's toPeriod (and so its matcher) reads
 * them, but for a month: Medplum ends `2025-02` on its day 31, which JavaScript rolls over into March
 * (2025-03-03T23:59:59.999Z), so a search for February matched the first days of March and `sa2025-02`
 * missed them (outside tester). FHIR R4 (search.html#date) reads a month as its first to its last day, and
 * a search value to the minute as that minute. The
 * one reading of a date for both sides of a comparison: the resources' rows (dateRows) and the filters
 * (dateCondition). A date without a time zone is UTC, as in Medplum.
 */
export function datePeriod(value: unknown): { start?: string; end?: string } | undefined {
  const minute = typeof value === 'string' ? MINUTE.exec(value) : null;
  if (minute) {
    // A search value to the minute (FHIR allows one; an R4 dateTime does not): that minute's 60 seconds.
    // Medplum reads none, so it matched nothing, and a conditional create on it made a duplicate.
    const [, at, zone = ''] = minute;
    return { start: toPeriod(`${at}:00${zone}`)?.start, end: toPeriod(`${at}:59${zone}`)?.end };
  }
  const period = toPeriod(value);
  const end = typeof value === 'string' ? value : (value as { end?: unknown } | undefined)?.end;
  if (!period?.end || typeof end !== 'string' || !MONTH.test(end)) return period;
  const [year, month] = end.split('-').map(Number) as [number, number];
  return { ...period, end: new Date(Date.UTC(year, month, 0, 23, 59, 59, 999)).toISOString() };
}

/**
 * Medplum's matcher for one date filter (match.ts: some value of the resource against some value of the
 * filter, by the operator; `ne` and `:not` negate), with both sides read by datePeriod: the matcher's
 * answer for the filters the lookup tables do not decide (a date parameter without rows, a chained search's
 * end), so that a date is read one way everywhere. Undefined for a filter that is not
 * on a date parameter, and for `:missing` (Medplum's own).
 */
export function matchesDateFilter(resource: Resource, filter: Filter): boolean | undefined {
  const type = resource.resourceType;
  const param = getSearchParameter(type, filter.code);
  if (param?.type !== 'date' || filter.operator === Operator.MISSING || filter.operator === Operator.PRESENT) return undefined;
  const periods = evalFhirPathTyped(parsed(type, filter.code, param), [toTypedValue(resource)]).map((v) => datePeriod(v.value));
  const negated = filter.operator === Operator.NOT_EQUALS || filter.operator === Operator.NOT;
  // No value, no comparison, `ne` included (dateCondition).
  if (!periods.some((p) => p !== undefined)) return false;
  for (const value of splitSearchOnComma(filter.value)) {
    const wanted = datePeriod(value);
    if (!wanted?.start || !wanted.end) continue;
    const [s, e] = [wanted.start, wanted.end];
    for (const period of periods) {
      if (!period) continue;
      const [low, high] = [period.start ?? '0000', period.end ?? '9999'];
      let hit: boolean;
      switch (filter.operator) {
        case Operator.LESS_THAN:
          hit = low < s;
          break;
        case Operator.GREATER_THAN:
          hit = high > e;
          break;
        case Operator.LESS_THAN_OR_EQUALS:
          hit = low <= e;
          break;
        case Operator.GREATER_THAN_OR_EQUALS:
          hit = high >= s;
          break;
        case Operator.STARTS_AFTER:
          hit = low > e;
          break;
        case Operator.ENDS_BEFORE:
          hit = high < s;
          break;
        default:
          // eq, ap, ne and :not: the closed ranges overlap (dateCondition).
          hit = low <= e && high >= s;
      }
      if (hit) return !negated;
    }
  }
  return negated;
}

/**
 * Medplum's date matching (match.ts matchesDateValue) in SQL: the filter value read by datePeriod,
 * compared as strings with the rows' low/high (datePeriod of each value) by the same operator; `ne` as a
 * resource with rows of the parameter, none overlapping the value. A missing start is '' where Medplum reads
 * '0000', which orders the same against any instant toPeriod gives (four-digit years). Several values
 * (commas) stay with the matcher.
 */
function dateCondition(resourceType: string, filter: Filter): SqlCondition | undefined {
  const param = dateParams(resourceType).find(([code]) => code === filter.code)?.[1];
  if (!param || filter.value.includes(',')) return undefined;
  let period: ReturnType<typeof datePeriod>;
  try {
    period = datePeriod(filter.value);
  } catch {
    // An impossible date (2025-02-30): left to the matcher, which answers as Medplum does.
    return undefined;
  }
  const start = period?.start;
  const end = period?.end;
  if (!start || !end) return undefined;
  const where = (test: string, ...params: string[]): SqlCondition => ({
    rows: `SELECT rid FROM search_date WHERE code = ? AND ${test}`,
    params: [`${resourceType}.${filter.code}`, ...params],
    rank: DATE_RANK,
    exact: true,
  });
  switch (filter.operator) {
    case Operator.EQUALS:
    case Operator.APPROXIMATELY:
      // Both ranges closed (a range ends on its last millisecond, an instant is one): they overlap when
      // neither ends before the other starts. Medplum compares strictly, and lost an instant written to
      // the millisecond on the first one of the day searched (2025-03-01T00:00:00.000Z under eq2025-03-01).
      return where('low <= ? AND high >= ?', end, start);
    case Operator.NOT_EQUALS:
      // A resource with a value of the parameter, none of which overlaps: a resource without one matches no
      // date comparison (FHIR R4 search.html: that is what :missing is for), where Medplum's matcher took it.
      return where(
        'NOT EXISTS (SELECT 1 FROM search_date x WHERE x.rid = search_date.rid AND x.code = search_date.code AND x.low <= ? AND x.high >= ?)',
        end,
        start,
      );
    case Operator.LESS_THAN:
      return where('low < ?', start);
    case Operator.GREATER_THAN:
      return where('high > ?', end);
    case Operator.LESS_THAN_OR_EQUALS:
      return where('low <= ?', end);
    case Operator.GREATER_THAN_OR_EQUALS:
      return where('high >= ?', start);
    // `sa` on the value's start and `eb` on its end: an open period is no candidate, so "records starting
    // in a period" reads that period, not every open one.
    case Operator.STARTS_AFTER:
      return where('low > ?', end);
    case Operator.ENDS_BEFORE:
      return where('high < ?', start);
    default:
      return undefined;
  }
}

/**
 * Each search parameter's expression narrowed to one resource type, parsed once. The shared expressions
 * are unions over every type (`Account.identifier | … | Task.identifier`); evaluating the whole union
 * on each write made indexing the largest single cost of an adapter request (measured: ~20 %).
 */
const parsedExpressions = new Map<string, FhirPathAtom>();

function parsed(resourceType: string, code: string, param: SearchParameter): FhirPathAtom {
  const key = `${resourceType}|${code}`;
  let atom = parsedExpressions.get(key);
  if (!atom) {
    atom = getSearchParameterDetails(resourceType, param).parsedExpression;
    parsedExpressions.set(key, atom);
  }
  return atom;
}

const tokenParamsByType = new Map<string, [string, SearchParameter][]>();
const dateParamsByType = new Map<string, [string, SearchParameter][]>();

/** The token-table parameters that exist for a type (with an expression), looked up once per type. */
function tokenParams(resourceType: string): [string, SearchParameter][] {
  let params = tokenParamsByType.get(resourceType);
  if (!params) {
    params = paramsOf(resourceType, TOKEN_SEARCH_PARAMS, (code, type) => code === '_id' || TOKEN_TYPES.includes(type));
    tokenParamsByType.set(resourceType, params);
  }
  return params;
}

/** The date-table parameters that exist for a type, looked up once per type. */
function dateParams(resourceType: string): [string, SearchParameter][] {
  let params = dateParamsByType.get(resourceType);
  if (!params) {
    params = paramsOf(resourceType, DATE_SEARCH_PARAMS, (_code, type) => type === 'date');
    dateParamsByType.set(resourceType, params);
  }
  return params;
}

function paramsOf(
  resourceType: string,
  codes: readonly string[],
  accept: (code: string, type: string) => boolean,
): [string, SearchParameter][] {
  const params: [string, SearchParameter][] = [];
  for (const code of codes) {
    const param = getSearchParameter(resourceType, code);
    if (param?.expression && accept(code, param.type ?? '')) params.push([code, param]);
  }
  return params;
}

function tokenKeys(
  resource: Resource & { id: string },
  code: string,
  param: SearchParameter,
): { keys: Set<string>; systemKeys: Set<string> } {
  const keys = new Set<string>();
  const systemKeys = new Set<string>();
  if (code === '_id') {
    keys.add(resource.id.toLowerCase());
    return { keys, systemKeys };
  }
  const values = evalFhirPathTyped(parsed(resource.resourceType, code, param), [toTypedValue(resource)]);
  if (param.type === 'reference') {
    for (const ref of convertToSearchableReferences(values)) {
      if (ref) keys.add(lastSegment(ref));
    }
  } else if (param.type === 'token') {
    for (const token of convertToSearchableTokens(values)) {
      if (!token.value) continue;
      const value = token.value.toLowerCase();
      keys.add(value);
      systemKeys.add(`${(token.system ?? '').toLowerCase()}|${value}`);
    }
  } else if (param.type === 'uri') {
    for (const value of convertToSearchableStrings(values)) {
      if (value) keys.add(value.toLowerCase());
    }
  }
  return { keys, systemKeys };
}

function lastSegment(reference: string): string {
  return reference.slice(reference.lastIndexOf('/') + 1);
}
