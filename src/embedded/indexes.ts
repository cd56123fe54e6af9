import {
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
  // Governance reads (Goal by profile, CarePlan by category, Encounter and AuditEvent by type) and EHR
  // worklists (Encounter?part-of, Task?focus, Communication?part-of).
  '_profile',
  'category',
  'type',
  'part-of',
  'partof',
  'focus',
];

/**
 * Ids under each key: a bare id while a key has one resource (identifiers, _id: most keys), a Set beyond.
 * A Set per key cost ~1 KB per stored resource at 100,000 resources.
 */
type Posting = string | Set<string>;
type Postings = Map<string, Posting>;

/**
 * Hash indexes from (resourceType, search parameter, key) to resource ids.
 * Keys are deliberately coarse (lower-cased token value or uri, last reference segment) so a lookup
 * returns a superset of Medplum's matches; the caller still runs matchesSearchRequest on them.
 * No per-resource list of keys is kept (it cost more memory than the postings): a resource's keys are
 * recomputed from the version that was indexed when it is removed.
 */
export class SearchIndex {
  private readonly postings = new Map<string, Map<string, Postings>>();

  /** Indexes a resource's current version; the caller removes the version it replaces first. */
  add(resource: Resource & { id: string }): void {
    for (const [code, param] of indexedParams(resource.resourceType)) {
      for (const key of resourceKeys(resource, code, param)) {
        const byKey = this.keysOf(resource.resourceType, code, true) as Postings;
        const ids = byKey.get(key);
        if (ids === undefined) byKey.set(key, resource.id);
        else if (typeof ids !== 'string') ids.add(resource.id);
        else if (ids !== resource.id) byKey.set(key, new Set([ids, resource.id]));
      }
    }
  }

  /** Drops the version of a resource that was indexed (the same object or a copy of it) from every index. */
  remove(resource: Resource & { id: string }): void {
    for (const [code, param] of indexedParams(resource.resourceType)) {
      for (const key of resourceKeys(resource, code, param)) {
        const byKey = this.keysOf(resource.resourceType, code, false);
        const ids = byKey?.get(key);
        if (ids === resource.id) {
          byKey?.delete(key);
        } else if (ids !== undefined && typeof ids !== 'string') {
          ids.delete(resource.id);
          if (ids.size === 1) byKey?.set(key, ids.values().next().value as string);
        }
      }
    }
  }

  /** Forgets every index. */
  clear(): void {
    this.postings.clear();
  }

  /**
   * Ids that may match the filters, or undefined when no filter can use an index.
   * Several indexable filters are intersected (filters are ANDed).
   */
  candidates(resourceType: string, filters: readonly Filter[] | undefined): Set<string> | undefined {
    // Each filter's postings are looked at in place; only the smallest filter's ids are copied, so a
    // broad filter (status=requested over 100k Tasks) costs membership checks, not a copy.
    const groups: Posting[][] = [];
    for (const filter of filters ?? []) {
      const keys = filterKeys(resourceType, filter);
      if (!keys) {
        continue;
      }
      const postings: Posting[] = [];
      if (keys.kind === 'contains') {
        // Medplum matches a uri filter anywhere in the value (case-insensitive): scan the distinct values.
        for (const [key, ids] of this.postings.get(resourceType)?.get(filter.code) ?? []) {
          if (keys.values.some((v) => key.includes(v))) postings.push(ids);
        }
      } else {
        for (const key of keys.values) {
          const ids = this.keysOf(resourceType, filter.code, false)?.get(key);
          if (ids !== undefined) postings.push(ids);
        }
      }
      groups.push(postings);
    }
    if (!groups.length) {
      return undefined;
    }
    groups.sort((a, b) => sizeOf(a) - sizeOf(b));
    const result = new Set<string>();
    for (const ids of groups[0] ?? []) {
      if (typeof ids === 'string') result.add(ids);
      else for (const id of ids) result.add(id);
    }
    for (const group of groups.slice(1)) {
      for (const id of result) {
        if (!group.some((ids) => (typeof ids === 'string' ? ids === id : ids.has(id)))) result.delete(id);
      }
      if (result.size === 0) break;
    }
    return result;
  }

  private keysOf(resourceType: string, code: string, create: boolean): Postings | undefined {
    let byCode = this.postings.get(resourceType);
    if (!byCode) {
      if (!create) return undefined;
      byCode = new Map();
      this.postings.set(resourceType, byCode);
    }
    let byKey = byCode.get(code);
    if (!byKey && create) {
      byKey = new Map();
      byCode.set(code, byKey);
    }
    return byKey;
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

/** The indexed parameters that exist for a type (with an expression), looked up once per type. */
const paramsByType = new Map<string, [string, SearchParameter][]>();

function indexedParams(resourceType: string): [string, SearchParameter][] {
  let params = paramsByType.get(resourceType);
  if (!params) {
    params = [];
    for (const code of INDEXED_SEARCH_PARAMS) {
      const param = getSearchParameter(resourceType, code);
      if (param?.expression && (code === '_id' || INDEXABLE_TYPES.includes(param.type ?? ''))) {
        params.push([code, param]);
      }
    }
    paramsByType.set(resourceType, params);
  }
  return params;
}

/** Search parameter types whose equality filters the indexes answer. */
const INDEXABLE_TYPES: readonly string[] = ['reference', 'token', 'uri'];

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
  } else if (param.type === 'uri') {
    for (const value of convertToSearchableStrings(values)) {
      if (value) keys.add(value.toLowerCase());
    }
  }
  return keys;
}

/** How a filter's keys are looked up: as exact keys, or as parts of the indexed values (uri). */
interface FilterKeys {
  kind: 'exact' | 'contains';
  values: string[];
}

/** Index keys for one filter, or undefined when the filter cannot be answered from the index. */
function filterKeys(resourceType: string, filter: Filter): FilterKeys | undefined {
  if (filter.operator !== Operator.EQUALS || !INDEXED_SEARCH_PARAMS.includes(filter.code)) {
    return undefined;
  }
  const param = indexedParams(resourceType).find(([code]) => code === filter.code)?.[1];
  if (!param) {
    return undefined;
  }
  const keys: string[] = [];
  for (const value of splitSearchOnComma(filter.value)) {
    let key: string;
    if (filter.code === '_id') {
      key = value.toLowerCase();
    } else if (param.type === 'reference') {
      key = lastSegment(value);
    } else if (param.type === 'uri') {
      key = value.toLowerCase();
    } else {
      // `system|` (any code in a system) has no value to look up.
      key = (value.includes('|') ? (value.split('|')[1] ?? '') : value).toLowerCase();
    }
    if (!key) {
      return undefined;
    }
    keys.push(key);
  }
  return { kind: param.type === 'uri' ? 'contains' : 'exact', values: keys };
}

function lastSegment(reference: string): string {
  return reference.slice(reference.lastIndexOf('/') + 1);
}

/** How many ids a filter's postings hold (an upper bound of their union). */
function sizeOf(postings: Posting[]): number {
  return postings.reduce((n, ids) => n + (typeof ids === 'string' ? 1 : ids.size), 0);
}
