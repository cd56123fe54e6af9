import {
  badRequest,
  evalFhirPath,
  globalSchema,
  matchesSearchRequest,
  Operator,
  OperationOutcomeError,
  parseSearchRequest,
  type Filter,
  type SearchRequest,
  type SortRule,
} from '@medplum/core';
import type { Reference, Resource } from '@medplum/fhirtypes';

// MemoryRepository's search semantics that @medplum/fhir-router 5.2.13 does not export (chained filters,
// sort), reproduced so the embedded repository's results stay identical to Medplum's.

/** A forward-chained filter (`subject:Patient.name=x`) resolved against its target type. */
export interface ChainedFilter {
  expression: string;
  targetType: string;
  chained: SearchRequest;
}

/** Splits a request's filters into plain ones (matchesSearchRequest) and forward chains, as Medplum does. */
export function chainedFilters<T extends Resource>(searchRequest: SearchRequest<T>): { plain: SearchRequest<T>; chains: ChainedFilter[] } {
  const plainFilters: Filter[] = [];
  const chains: ChainedFilter[] = [];
  for (const filter of searchRequest.filters ?? []) {
    const chain = parseChainedFilter(searchRequest.resourceType, filter);
    if (chain) chains.push(chain);
    else plainFilters.push(filter);
  }
  return { plain: chains.length ? { ...searchRequest, filters: plainFilters } : searchRequest, chains };
}

function parseChainedFilter(resourceType: string, filter: Filter): ChainedFilter | undefined {
  const dotIndex = filter.code.indexOf('.');
  if (dotIndex < 0 || filter.code.startsWith('_has:')) {
    return undefined;
  }
  if (filter.operator !== Operator.EQUALS) {
    throw new Error('MemoryRepository does not support this chained filter yet.');
  }
  const left = filter.code.slice(0, dotIndex);
  const chainedKey = filter.code.slice(dotIndex + 1);
  const colonIndex = left.indexOf(':');
  const refCode = colonIndex < 0 ? left : left.slice(0, colonIndex);
  const searchParam = globalSchema.types[resourceType]?.searchParams?.[refCode];
  if (colonIndex === -1 && searchParam?.target?.length !== 1) {
    throw new OperationOutcomeError(
      badRequest(`Unable to identify next resource type for search parameter: ${resourceType}?${refCode}`),
    );
  }
  const targetType = colonIndex < 0 ? searchParam?.target?.[0] : left.slice(colonIndex + 1);
  if (!searchParam?.expression || !targetType) {
    return undefined;
  }
  return { expression: searchParam.expression, targetType, chained: parseSearchRequest(targetType, { [chainedKey]: filter.value }) };
}

/** Whether every chain holds for resource; read gives the current version of a referenced resource. */
export function matchesChains(resource: Resource, chains: readonly ChainedFilter[], read: (type: string, id: string) => Resource | undefined): boolean {
  return chains.every((chain) => {
    for (const reference of evalFhirPath(chain.expression, resource) as (Reference | undefined)[]) {
      const [refType, refId] = reference?.reference?.split('/') ?? [];
      if (refType !== chain.targetType || !refId) continue;
      const target = read(refType, refId);
      if (target && matchesSearchRequest(target, chain.chained)) return true;
    }
    return false;
  });
}

// localeCompare with no locale is specified as this collator's compare; one collator is much faster.
const collator = new Intl.Collator();

/**
 * Medplum's sort: one stable sort per rule, in order, comparing JSON.stringify of the parameter's values
 * with localeCompare. The key of each item is computed once per rule rather than once per comparison.
 */
export function sortByRules<C extends { resource: Resource }>(items: C[], sortRules: readonly SortRule[] | undefined): C[] {
  let sorted = items;
  for (const rule of sortRules ?? []) {
    const first = sorted[0];
    const expression = first && globalSchema.types[first.resource.resourceType]?.searchParams?.[rule.code]?.expression;
    if (!expression) continue;
    const direction = rule.descending ? -1 : 1;
    const keyed = sorted.map((item) => ({ item, key: JSON.stringify(evalFhirPath(expression, item.resource)) }));
    keyed.sort((a, b) => collator.compare(a.key, b.key) * direction);
    sorted = keyed.map((k) => k.item);
  }
  return sorted;
}
