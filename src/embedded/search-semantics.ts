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
import { matchesDateFilter } from './indexes.js';

// MemoryRepository's search semantics that @medplum/fhir-router 5.2.13 does not export (chained filters,
// sort), reproduced so the embedded repository's results stay identical to Medplum's.

/** A forward-chained filter (`subject:Patient.name=x`) resolved against its target type. */
export interface ForwardChain {
  kind?: undefined;
  expression: string;
  targetType: string;
  chained: SearchRequest;
}

/**
 * A token filter (`identifier`, `_tag`, `code`…) whose value uses FHIR's search escapes (`\|`, `\,`, `\$`,
 * `\\`: R4 search §3.1.1.x). Medplum 5.2.13's in-memory matcher drops every backslash and then splits on
 * `|`, so `sys|A-7\|B` would match the identifier `A-7` of `sys`, and its index looks up the wrong key:
 * such filters are taken out of the plain ones and matched here by FHIR's rules instead (the same
 * case-insensitive comparison Medplum makes, on the unescaped system and code).
 */
export interface EscapedTokenFilter {
  kind: 'escaped-token';
  expression: string;
  negated: boolean;
  /** OR-ed alternatives: `system` undefined for `[code]`, '' for `|[code]`; `code` '' for `[system]|`. */
  alternatives: { system?: string; code: string }[];
}

export type ChainedFilter = ForwardChain | EscapedTokenFilter;

/** Splits a request's filters into plain ones (matchesSearchRequest), forward chains (as Medplum does) and escaped tokens. */
export function chainedFilters<T extends Resource>(searchRequest: SearchRequest<T>): { plain: SearchRequest<T>; chains: ChainedFilter[] } {
  const plainFilters: Filter[] = [];
  const chains: ChainedFilter[] = [];
  for (const filter of searchRequest.filters ?? []) {
    const chain = escapedTokenFilter(searchRequest.resourceType, filter) ?? parseChainedFilter(searchRequest.resourceType, filter);
    if (chain) chains.push(chain);
    else plainFilters.push(filter);
  }
  return { plain: chains.length ? { ...searchRequest, filters: plainFilters } : searchRequest, chains };
}

/** Splits on a separator not escaped by a backslash, and unescapes each part. */
function splitEscaped(value: string, separator: string, limit = Infinity): string[] {
  const parts: string[] = [];
  let current = '';
  let raw = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) {
      current += value[i + 1];
      raw += c + value[i + 1];
      i++;
    } else if (c === separator && parts.length < limit - 1) {
      parts.push(separator === ',' ? raw : current);
      current = '';
      raw = '';
    } else {
      current += c;
      raw += c;
    }
  }
  parts.push(separator === ',' ? raw : current);
  return parts;
}

function escapedTokenFilter(resourceType: string, filter: Filter): EscapedTokenFilter | undefined {
  if (
    !filter.value.includes('\\') ||
    (filter.operator !== Operator.EQUALS && filter.operator !== Operator.NOT_EQUALS && filter.operator !== Operator.NOT)
  ) {
    return undefined;
  }
  const param = globalSchema.types[resourceType]?.searchParams?.[filter.code];
  if (param?.type !== 'token' || !param.expression) return undefined;
  // Commas first (each alternative keeps its own escapes), then the first unescaped `|` of each.
  const alternatives = splitEscaped(filter.value, ',').map((alt) => {
    const parts = splitEscaped(alt, '|', 2);
    return parts.length === 2 ? { system: parts[0]!, code: parts[1]! } : { code: parts[0]! };
  });
  return { kind: 'escaped-token', expression: param.expression, negated: filter.operator !== Operator.EQUALS, alternatives };
}

function matchesEscapedToken(resource: Resource, filter: EscapedTokenFilter): boolean {
  const lower = (s: string | undefined) => s?.toLowerCase();
  const values = evalFhirPath(filter.expression, resource) as unknown[];
  const codings = values.flatMap((v): { system?: string; code?: string }[] => {
    if (typeof v === 'string') return [{ code: v }];
    if (!v || typeof v !== 'object') return [];
    const o = v as { system?: string; code?: string; value?: string; coding?: { system?: string; code?: string }[] };
    if (o.coding) return o.coding;
    return [{ system: o.system, code: o.code ?? o.value }];
  });
  const hit = filter.alternatives.some((alt) =>
    codings.some((c) => {
      if (alt.system !== undefined && (alt.system === '' ? c.system !== undefined : lower(c.system) !== lower(alt.system))) return false;
      return alt.code === '' || lower(c.code) === lower(alt.code);
    }),
  );
  return filter.negated ? !hit : hit;
}

function parseChainedFilter(resourceType: string, filter: Filter): ForwardChain | undefined {
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
    throw new OperationOutcomeError(badRequest(`Unable to identify next resource type for search parameter: ${resourceType}?${refCode}`));
  }
  const targetType = colonIndex < 0 ? searchParam?.target?.[0] : left.slice(colonIndex + 1);
  if (!searchParam?.expression || !targetType) {
    return undefined;
  }
  return { expression: searchParam.expression, targetType, chained: parseSearchRequest(targetType, { [chainedKey]: filter.value }) };
}

/**
 * Medplum's matchesSearchRequest, with date filters read as the lookup tables read them (indexes.ts
 * matchesDateFilter: a month runs to its last day).
 */
export function matchesFilters(resource: Resource, request: SearchRequest): boolean {
  if (resource.resourceType !== request.resourceType) return false;
  const others: Filter[] = [];
  for (const filter of request.filters ?? []) {
    const date = matchesDateFilter(resource, filter);
    if (date === false) return false;
    if (date === undefined) others.push(filter);
  }
  return matchesSearchRequest(resource, { ...request, filters: others });
}

/** Whether every chain holds for resource; read gives the current version of a referenced resource. */
export function matchesChains(
  resource: Resource,
  chains: readonly ChainedFilter[],
  read: (type: string, id: string) => Resource | undefined,
): boolean {
  return chains.every((chain) => {
    if (chain.kind === 'escaped-token') return matchesEscapedToken(resource, chain);
    for (const reference of evalFhirPath(chain.expression, resource) as (Reference | undefined)[]) {
      const [refType, refId] = reference?.reference?.split('/') ?? [];
      if (refType !== chain.targetType || !refId) continue;
      const target = read(refType, refId);
      if (target && matchesFilters(target, chain.chained)) return true;
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
