import { DEFAULT_MAX_SEARCH_COUNT, getSearchParameter, isResourceType } from '@medplum/core';

// How the embedded server reads a search's parameters and a conditional write's criteria before Medplum's
// router sees them (fhir-exchange.ts): what it refuses, what it rewrites, how it pages.

/** The most resources one search page holds: a Medplum server's own cap (DEFAULT_MAX_SEARCH_COUNT, @medplum/core). */
export const maxPageSize = DEFAULT_MAX_SEARCH_COUNT;

/** A type-level or compartment search path (`Task?…`, `Patient/1/Task?…`): the requests searchOf takes. */
const searchPath = /^(?:[A-Z][A-Za-z]+\/[^/?]+\/)?[A-Z][A-Za-z]+(?:\?|$)/;

/**
 * A search as the embedded server takes it. `_count` as a Medplum server takes it: a whole number; a page holds
 * at most maxPageSize (a larger `_count`, or none, is served as maxPageSize pages with `next` links); `_offset`
 * is a whole number. Without the cap one `_count=100000` read, and answered, every resource of a type in one page
 * (a 100,000-resource store's peak memory came from one such read); a negative `_count` returned every match.
 * `_summary=count` is a count alone (`_count=0`: the cap had turned it into a page of 1,000 resources). Its
 * parameters are checked (searchParamsProblem) and a reference's `:[Type]` written as Medplum matches it.
 */
export function searchOf(path: string): { path: string } | { problem: string; param: string } {
  if (!searchPath.test(path)) return { path };
  const q = path.indexOf('?');
  const base = q < 0 ? path : path.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : path.slice(q + 1));
  const type = base.split('/').at(-1) as string;
  const problem = searchParamsProblem(type, params);
  if (problem) return problem;
  for (const param of ['_count', '_offset']) {
    const values = params.getAll(param);
    const value = values.at(-1);
    if (value !== undefined && !/^\d+$/.test(value)) {
      return {
        problem: `${param} must be a whole number, 0 or more (a page holds at most ${maxPageSize}), not "${value.slice(0, 20)}"`,
        param,
      };
    }
  }
  const typed = withTypedReferences(type, params);
  if (params.get('_summary') === 'count') {
    params.set('_count', '0');
    return { path: `${base}?${params.toString()}` };
  }
  const counts = params.getAll('_count');
  const count = counts.at(-1);
  if (count !== undefined && counts.length === 1 && Number(count) <= maxPageSize)
    return typed ? { path: `${base}?${params.toString()}` } : { path };
  params.set('_count', String(Math.min(count === undefined ? maxPageSize : Number(count), maxPageSize)));
  return { path: `${base}?${params.toString()}` };
}

/**
 * The modifiers FHIR R4 defines for each search parameter type (https://hl7.org/fhir/R4/search.html#modifiers);
 * a reference also takes a resource type (`subject:Patient`), and chains (`subject:Patient.name`).
 */
const modifiersByType: Record<string, readonly string[]> = {
  string: ['missing', 'exact', 'contains'],
  token: ['missing', 'text', 'not', 'above', 'below', 'in', 'not-in', 'of-type'],
  reference: ['missing', 'identifier', 'above', 'below'],
  uri: ['missing', 'above', 'below'],
  date: ['missing'],
  number: ['missing'],
  quantity: ['missing'],
  composite: ['missing'],
  special: ['missing'],
};

/** Parameters that shape a search's answer, not its matches: no part of the criteria of a conditional write. */
const resultParams = [
  '_count',
  '_offset',
  '_include',
  '_revinclude',
  '_sort',
  '_elements',
  '_summary',
  '_total',
  '_contained',
  '_containedType',
];

export type ParamProblem = { problem: string; param: string };

/**
 * What the embedded server refuses in a search's parameters, or (`conditional`) in the criteria of a
 * conditional write. Medplum's router ignored each of these and answered as if it were not there, so a
 * conditional write acted on the wrong resources (outside testers):
 * - a modifier FHIR R4 does not define for the parameter's type, or spelled otherwise (`:NOT`):
 *   `code:NOT=x` gave the matches of `code=x`, `DELETE Flag?identifier:NOT=x` deleted x. R4: a server
 *   refuses a modifier it does not support. Parameters Medplum does not know are left to it;
 * - a modifier at the end of a chain (`subject:Patient.identifier:NOT=…`), which Medplum ignores;
 * - a reference's `:[Type]` with a value naming another type (`owner:Patient=PractitionerRole/p1`);
 * - `_has` (reverse chaining), which this server does not support: it answered no match;
 * - in a conditional write, result parameters (`_offset`, `_include`, …): `If-None-Exist: identifier=x&_offset=1`
 *   created a duplicate.
 */
function searchParamsProblem(resourceType: string, params: URLSearchParams, conditional = false): ParamProblem | undefined {
  for (const key of new Set(params.keys())) {
    if (key === '_has' || key.startsWith('_has:')) {
      return {
        problem: 'The embedded FHIR server does not support _has (reverse chaining): search the other type and read its references.',
        param: '_has',
      };
    }
    const bare = key.split(':')[0] as string;
    if (conditional && resultParams.includes(bare)) {
      return {
        problem: `${bare} shapes a search's answer and has no place in the criteria of a conditional write.`,
        param: key.slice(0, 80),
      };
    }
    const [first, ...chained] = key.split('.');
    if (chained.some((segment) => segment.includes(':'))) {
      return {
        problem: `A modifier on a chained parameter (${key.slice(0, 80)}) is not supported: put the modifier on the first link only.`,
        param: key.slice(0, 80),
      };
    }
    const colon = (first as string).indexOf(':');
    if (colon < 0) continue;
    const [name, modifier] = [(first as string).slice(0, colon), (first as string).slice(colon + 1)];
    const param = getSearchParameter(resourceType, name);
    if (!param?.type) continue;
    if (param.type === 'reference' && /^[A-Z][A-Za-z]+$/.test(modifier) && isResourceType(modifier)) {
      const other = params
        .getAll(key)
        .flatMap((v) => v.split(','))
        .find((one) => one.includes('/') && !one.startsWith(`${modifier}/`));
      if (other && !chained.length) {
        return {
          problem: `${key.slice(0, 80)} limits ${name} to ${modifier}, but "${other.slice(0, 80)}" names another type.`,
          param: key.slice(0, 80),
        };
      }
      continue;
    }
    const allowed = modifiersByType[param.type] ?? ['missing'];
    if (!allowed.includes(modifier)) {
      return {
        problem: `Search parameter ${name} (${param.type}) has no modifier ":${modifier.slice(0, 40)}"; FHIR R4 defines ${allowed.map((m) => `:${m}`).join(', ')}${param.type === 'reference' ? ' and a resource type' : ''} (modifiers are lower case).`,
        param: key.slice(0, 80),
      };
    }
  }
  return undefined;
}

/**
 * A reference parameter with a resource type modifier (`owner:PractitionerRole=p1`, R4 search.html#reference)
 * as the equivalent `owner=PractitionerRole/p1`: Medplum's matcher compared the bare id with the full
 * reference and found nothing, in searches and in conditional writes (which then created duplicates;
 * outside testers). Rewrites params in place; true when it changed one.
 */
function withTypedReferences(resourceType: string, params: URLSearchParams): boolean {
  let changed = false;
  for (const key of [...new Set(params.keys())]) {
    const m = /^([^:.]+):([A-Z][A-Za-z]+)$/.exec(key);
    if (!m || getSearchParameter(resourceType, m[1] as string)?.type !== 'reference' || !isResourceType(m[2] as string)) continue;
    const values = params.getAll(key).map((v) =>
      v
        .split(',')
        .map((one) => (one.includes('/') ? one : `${m[2]}/${one}`))
        .join(','),
    );
    params.delete(key);
    for (const v of values) params.append(m[1] as string, v);
    changed = true;
  }
  return changed;
}

/**
 * The criteria of a conditional write (`PUT|PATCH|DELETE Type?…`, If-None-Exist), checked as a search's
 * parameters are (searchParamsProblem) and with a reference's `:[Type]` written as Medplum matches it
 * (withTypedReferences): the request's url and If-None-Exist as Medplum should read them, or the problem.
 */
export function conditionalCriteria(
  method: string | undefined,
  url: unknown,
  ifNoneExist: unknown,
): ParamProblem | { url: unknown; ifNoneExist: unknown } {
  if (typeof url !== 'string') return { url, ifNoneExist };
  const path = url.replace(/^\//, '');
  const q = path.indexOf('?');
  const base = q < 0 ? path : path.slice(0, q);
  const type = base.split('/')[0] as string;
  let criteria = { url, ifNoneExist };
  if ((method === 'PUT' || method === 'PATCH' || method === 'DELETE') && q >= 0) {
    const params = new URLSearchParams(path.slice(q + 1));
    const problem = searchParamsProblem(type, params, true);
    if (problem) return problem;
    if (withTypedReferences(type, params)) criteria = { ...criteria, url: `${base}?${params.toString()}` };
  }
  if (method === 'POST' && typeof ifNoneExist === 'string' && ifNoneExist) {
    const params = new URLSearchParams(ifNoneExist.replace(/^[^?]*\?/, ''));
    const problem = searchParamsProblem(type, params, true);
    if (problem) return problem;
    if (withTypedReferences(type, params)) criteria = { ...criteria, ifNoneExist: params.toString() };
  }
  return criteria;
}
