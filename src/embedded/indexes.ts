import {
  convertToSearchableDates,
  convertToSearchableReferences,
  convertToSearchableStrings,
  convertToSearchableTokens,
  evalFhirPathTyped,
  getSearchParameter,
  getSearchParameterDetails,
  Operator,
  splitSearchOnComma,
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
  '_id', 'identifier', 'patient', 'subject', 'for', 'owner', 'code', 'status', '_tag', '_profile',
  'category', 'type', 'class', 'part-of', 'partof', 'focus',
];

/**
 * Date search parameters kept in the `search_date` lookup table, so that a search for one period reads
 * that period, not the whole history: `_lastUpdated`, Task `authored-on`/`modified`/`period`, the shared
 * `date` (CarePlan and Encounter period, AuditEvent recorded, Consent dateTime), Communication
 * `sent`/`received`, Goal `start-date`/`target-date`.
 */
export const DATE_SEARCH_PARAMS: readonly string[] = [
  '_lastUpdated', 'date', 'authored-on', 'modified', 'period', 'sent', 'received', 'start-date', 'target-date',
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
 * The lookup rows of a resource's current version. Keys are deliberately coarse (lower-cased token value
 * or uri, last reference segment) so that a lookup returns a superset of Medplum's matches; the caller
 * still runs Medplum's matchesSearchRequest on every candidate.
 */
export function lookupRows(resource: Resource & { id: string }): { tokens: TokenRow[]; dates: DateRow[] } {
  const tokens: TokenRow[] = [];
  const dates: DateRow[] = [];
  const type = resource.resourceType;
  for (const [code, param] of tokenParams(type)) {
    for (const key of tokenKeys(resource, code, param)) tokens.push({ code: `${type}.${code}`, key });
  }
  for (const [code, param] of dateParams(type)) {
    const values = evalFhirPathTyped(parsed(type, code, param), [toTypedValue(resource)]);
    for (const period of convertToSearchableDates(values)) {
      if (!period.start && !period.end) continue;
      dates.push({ code: `${type}.${code}`, low: period.start ?? '', high: period.end ?? '9999' });
    }
  }
  return { tokens, dates };
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
}

/** Usual selectivity of the token parameters, most selective first (an index into this list). */
const SELECTIVITY: readonly string[] = [
  '_id', 'identifier', '_tag', 'focus', 'part-of', 'partof', 'patient', 'subject', 'for', 'owner', 'code',
  // dates rank here (a period is usually a small part of the history)
  'category', 'type', 'class', '_profile', 'status',
];
const DATE_RANK = SELECTIVITY.indexOf('code') + 0.5;

/**
 * A condition selecting the rows that may match one filter (a superset), or undefined when the filter
 * cannot be answered from a lookup table (the search then reads every resource of the type).
 */
export function filterCondition(resourceType: string, filter: Filter): SqlCondition | undefined {
  if (TOKEN_SEARCH_PARAMS.includes(filter.code) && filter.operator === Operator.EQUALS) {
    return tokenCondition(resourceType, filter);
  }
  if (DATE_SEARCH_PARAMS.includes(filter.code)) {
    return dateCondition(resourceType, filter);
  }
  return undefined;
}

function tokenCondition(resourceType: string, filter: Filter): SqlCondition | undefined {
  const param = tokenParams(resourceType).find(([code]) => code === filter.code)?.[1];
  if (!param) return undefined;
  const keys: string[] = [];
  for (const value of splitSearchOnComma(filter.value)) {
    let key: string;
    if (filter.code === '_id') key = value.toLowerCase();
    else if (param.type === 'reference') key = lastSegment(value);
    else if (param.type === 'uri') key = value.toLowerCase();
    // `system|` (any code in a system) has no value to look up.
    else key = (value.includes('|') ? (value.split('|')[1] ?? '') : value).toLowerCase();
    if (!key) return undefined;
    keys.push(key);
  }
  const code = `${resourceType}.${filter.code}`;
  if (param.type === 'uri') {
    // Medplum matches a uri filter anywhere in the value (case-insensitive): look inside the keys.
    return {
      rows: `SELECT rid FROM search_token WHERE code = ? AND (${keys.map(() => 'instr(key, ?) > 0').join(' OR ')})`,
      params: [code, ...keys],
      rank: SELECTIVITY.indexOf(filter.code),
    };
  }
  return { rows: `SELECT rid FROM search_token WHERE code = ? AND key IN (${keys.map(() => '?').join(', ')})`, params: [code, ...keys], rank: SELECTIVITY.indexOf(filter.code) };
}

/** A day either side of a filter's bounds covers any time-zone reading of a date without one. */
const slackMs = 36 * 3_600_000;

function dateCondition(resourceType: string, filter: Filter): SqlCondition | undefined {
  const param = dateParams(resourceType).find(([code]) => code === filter.code)?.[1];
  if (!param || filter.value.includes(',')) return undefined;
  const bounds = valueBounds(filter.value);
  if (!bounds) return undefined;
  const code = `${resourceType}.${filter.code}`;
  const low = new Date(bounds.low - slackMs).toISOString();
  const high = new Date(bounds.high + slackMs).toISOString();
  switch (filter.operator) {
    case Operator.EQUALS:
    case Operator.APPROXIMATELY:
      return { rows: 'SELECT rid FROM search_date WHERE code = ? AND low <= ? AND high >= ?', params: [code, high, low], rank: DATE_RANK };
    case Operator.GREATER_THAN:
    case Operator.GREATER_THAN_OR_EQUALS:
      return { rows: 'SELECT rid FROM search_date WHERE code = ? AND high >= ?', params: [code, low], rank: DATE_RANK };
    // Medplum matches `sa` on the value's start (start > the filter's end) and `eb` on its end: an open
    // period is then no candidate, so "records starting in a period" reads that period, not every open one.
    case Operator.STARTS_AFTER:
      return { rows: 'SELECT rid FROM search_date WHERE code = ? AND low >= ?', params: [code, low], rank: DATE_RANK };
    case Operator.LESS_THAN:
    case Operator.LESS_THAN_OR_EQUALS:
      return { rows: 'SELECT rid FROM search_date WHERE code = ? AND low <= ?', params: [code, high], rank: DATE_RANK };
    case Operator.ENDS_BEFORE:
      return { rows: 'SELECT rid FROM search_date WHERE code = ? AND high <= ?', params: [code, high], rank: DATE_RANK };
    default:
      return undefined;
  }
}

/** The first and last instant (ms) a FHIR date/dateTime/instant search value covers, or undefined. */
function valueBounds(value: string): { low: number; high: number } | undefined {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(T.*)?$/.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, time] = m;
  if (time) {
    const t = Date.parse(value);
    return Number.isNaN(t) ? undefined : { low: t, high: t + 999 };
  }
  const start = Date.UTC(Number(y), mo ? Number(mo) - 1 : 0, d ? Number(d) : 1);
  const end = d ? Date.UTC(Number(y), Number(mo) - 1, Number(d) + 1) : mo ? Date.UTC(Number(y), Number(mo), 1) : Date.UTC(Number(y) + 1, 0, 1);
  return Number.isNaN(start) || Number.isNaN(end) ? undefined : { low: start, high: end - 1 };
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

function paramsOf(resourceType: string, codes: readonly string[], accept: (code: string, type: string) => boolean): [string, SearchParameter][] {
  const params: [string, SearchParameter][] = [];
  for (const code of codes) {
    const param = getSearchParameter(resourceType, code);
    if (param?.expression && accept(code, param.type ?? '')) params.push([code, param]);
  }
  return params;
}

function tokenKeys(resource: Resource & { id: string }, code: string, param: SearchParameter): Set<string> {
  const keys = new Set<string>();
  if (code === '_id') {
    keys.add(resource.id.toLowerCase());
    return keys;
  }
  const values = evalFhirPathTyped(parsed(resource.resourceType, code, param), [toTypedValue(resource)]);
  if (param.type === 'reference') {
    for (const ref of convertToSearchableReferences(values)) {
      if (ref) keys.add(lastSegment(ref));
    }
  } else if (param.type === 'token') {
    for (const token of convertToSearchableTokens(values)) {
      if (token.value) keys.add(token.value.toLowerCase());
    }
  } else if (param.type === 'uri') {
    for (const value of convertToSearchableStrings(values)) {
      if (value) keys.add(value.toLowerCase());
    }
  }
  return keys;
}

function lastSegment(reference: string): string {
  return reference.slice(reference.lastIndexOf('/') + 1);
}
