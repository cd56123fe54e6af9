import { formatSearchQuery, parseSearchRequest, type SearchRequest } from '@medplum/core';
import type { FhirRequest } from '@medplum/fhir-router';
import type { Bundle, BundleLink, Resource } from '@medplum/fhirtypes';

/**
 * Adds to a searchset Bundle the paging links a Medplum or HAPI server gives (`self`, `first`, and `next`
 * and `previous` when they exist), absolute under fhirBase (`https://host/fhir/R4/`). Medplum's FhirRouter
 * and MemoryRepository give none, which left clients paging with `_offset` guesses. Any other answer is
 * returned unchanged.
 */
export function withSearchLinks(req: Pick<FhirRequest, 'method' | 'url' | 'body'>, resource: Resource, fhirBase: string): Resource {
  if (resource.resourceType !== 'Bundle' || resource.type !== 'searchset') {
    return resource;
  }
  const searchRequest = searchOf(req);
  if (!searchRequest) {
    return resource;
  }
  const url = (request: SearchRequest) => `${fhirBase}${request.resourceType}${formatSearchQuery(request)}`;
  const link: BundleLink[] = [{ relation: 'self', url: url(searchRequest) }];
  const count = searchRequest.count;
  if (count !== undefined && count > 0) {
    const offset = searchRequest.offset ?? 0;
    link.push({ relation: 'first', url: url({ ...searchRequest, offset: 0 }) });
    if (resource.total !== undefined && offset + count < resource.total) {
      link.push({ relation: 'next', url: url({ ...searchRequest, offset: offset + count }) });
    }
    if (offset > 0) {
      link.push({ relation: 'previous', url: url({ ...searchRequest, offset: Math.max(0, offset - count) }) });
    }
  }
  return { ...(resource as Bundle), link } satisfies Bundle;
}

/** The type search a request ran (GET Type?… or POST Type/_search with form fields), or undefined. */
function searchOf(req: Pick<FhirRequest, 'method' | 'url' | 'body'>): SearchRequest | undefined {
  const [path = '', query = ''] = req.url.split('?', 2);
  const segments = path.replace(/^\/|\/$/g, '').split('/');
  const type = segments[0];
  if (!type || !/^[A-Z][A-Za-z]+$/.test(type)) {
    return undefined;
  }
  if (req.method === 'GET' && segments.length === 1) {
    return parseSearchRequest(`${type}?${query}`);
  }
  if (req.method === 'POST' && segments.length === 2 && segments[1] === '_search') {
    const params = new URLSearchParams(query);
    if (req.body && typeof req.body === 'object') {
      for (const [k, v] of Object.entries(req.body as Record<string, unknown>)) if (typeof v === 'string') params.append(k, v);
    }
    return parseSearchRequest(`${type}?${params.toString()}`);
  }
  return undefined;
}
