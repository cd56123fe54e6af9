import {
  convertToSearchableReferences,
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
 * Search parameters kept in hash indexes: the ones the adapter and EHRs run on every write
 * (conditional creates on identifier, worklists by patient/owner/code/status). Others fall back to a scan.
 */
export const INDEXED_SEARCH_PARAMS: readonly string[] = [
  '_id',
  'identifier',
  'patient',
  'subject',
  'for',
  'owner',
  'code',
  'status',
  // Every resource of a record carries the record tag: the status view and audit lookups search it.
  '_tag',
];

type Postings = Map<string, Set<string>>;

/**
 * Hash indexes from (resourceType, search parameter, key) to resource ids.
 * Keys are deliberately coarse (lower-cased token value, last reference segment) so a lookup
 * returns a superset of Medplum's matches; the caller still runs matchesSearchRequest on them.
 */
export class SearchIndex {
  private readonly postings = new Map<string, Map<string, Postings>>();
  private readonly keysByResource = new Map<string, [string, string][]>();

  /** Indexes the current version of a resource (replacing its previous keys). */
  add(resource: Resource & { id: string }): void {
    this.remove(resource.resourceType, resource.id);
    const entries: [string, string][] = [];
    for (const code of INDEXED_SEARCH_PARAMS) {
      const param = getSearchParameter(resource.resourceType, code);
      if (!param?.expression) {
        continue;
      }
      for (const key of resourceKeys(resource, code, param)) {
        entries.push([code, key]);
        this.postingsFor(resource.resourceType, code, key, true)?.add(resource.id);
      }
    }
    this.keysByResource.set(`${resource.resourceType}/${resource.id}`, entries);
  }

  /** Drops a resource from every index. */
  remove(resourceType: string, id: string): void {
    const ref = `${resourceType}/${id}`;
    for (const [code, key] of this.keysByResource.get(ref) ?? []) {
      const set = this.postingsFor(resourceType, code, key, false);
      set?.delete(id);
      if (set?.size === 0) {
        this.postings.get(resourceType)?.get(code)?.delete(key);
      }
    }
    this.keysByResource.delete(ref);
  }

  /**
   * Ids that may match the filters, or undefined when no filter can use an index.
   * Several indexable filters are intersected (filters are ANDed).
   */
  candidates(resourceType: string, filters: readonly Filter[] | undefined): Set<string> | undefined {
    let result: Set<string> | undefined;
    for (const filter of filters ?? []) {
      const keys = filterKeys(resourceType, filter);
      if (!keys) {
        continue;
      }
      const union = new Set<string>();
      for (const key of keys) {
        for (const id of this.postingsFor(resourceType, filter.code, key, false) ?? []) {
          union.add(id);
        }
      }
      result = result ? intersect(result, union) : union;
      if (result.size === 0) {
        return result;
      }
    }
    return result;
  }

  private postingsFor(resourceType: string, code: string, key: string, create: boolean): Set<string> | undefined {
    let byCode = this.postings.get(resourceType);
    if (!byCode) {
      if (!create) return undefined;
      byCode = new Map();
      this.postings.set(resourceType, byCode);
    }
    let byKey = byCode.get(code);
    if (!byKey) {
      if (!create) return undefined;
      byKey = new Map();
      byCode.set(code, byKey);
    }
    let ids = byKey.get(key);
    if (!ids && create) {
      ids = new Set();
      byKey.set(key, ids);
    }
    return ids;
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

function resourceKeys(resource: Resource & { id: string }, code: string, param: SearchParameter): Set<string> {
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
  }
  return keys;
}

/** Index keys for one filter, or undefined when the filter cannot be answered from the index. */
function filterKeys(resourceType: string, filter: Filter): string[] | undefined {
  if (filter.operator !== Operator.EQUALS || !INDEXED_SEARCH_PARAMS.includes(filter.code)) {
    return undefined;
  }
  const param = getSearchParameter(resourceType, filter.code);
  if (!param?.expression || (filter.code !== '_id' && param.type !== 'reference' && param.type !== 'token')) {
    return undefined;
  }
  const keys: string[] = [];
  for (const value of splitSearchOnComma(filter.value)) {
    let key: string;
    if (filter.code === '_id') {
      key = value.toLowerCase();
    } else if (param.type === 'reference') {
      key = lastSegment(value);
    } else {
      // `system|` (any code in a system) has no value to look up.
      key = (value.includes('|') ? (value.split('|')[1] ?? '') : value).toLowerCase();
    }
    if (!key) {
      return undefined;
    }
    keys.push(key);
  }
  return keys;
}

function lastSegment(reference: string): string {
  return reference.slice(reference.lastIndexOf('/') + 1);
}

function intersect(a: Set<string>, b: Set<string>): Set<string> {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  const out = new Set<string>();
  for (const id of small) {
    if (large.has(id)) out.add(id);
  }
  return out;
}
