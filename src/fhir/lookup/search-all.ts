import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { FhirClient } from '../client.js';

/** What one search found over all its pages. */
export interface SearchResult<T extends Resource = Resource> {
  /** The matches (search.mode match, or no mode), in the server's order. */
  matches: T[];
  /** Resources added by `_include`, by `Type/id`. */
  included: Map<string, Resource>;
  /** True when `maxPages` ended the reading while the server still had more. */
  truncated: boolean;
}

export interface PagingOptions {
  /** `_count` of each page. */
  pageSize: number;
  /** Pages read at most: a server whose next links never end must not hang the caller. */
  maxPages: number;
}

/** Search parameters; a parameter given several times (`date=ge…&date=le…`, both bounds of a period) is a list. */
export type SearchQuery = Record<string, string | readonly string[]>;

/** The query with paging parameters added: a plain record, or URLSearchParams when a parameter repeats. */
function withParams(query: SearchQuery, paging: Record<string, string>): Record<string, string> | URLSearchParams {
  const all = { ...query, ...paging };
  if (!Object.values(all).some((v) => Array.isArray(v))) return all as Record<string, string>;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(all)) for (const v of typeof value === 'string' ? [value] : value) params.append(name, v);
  return params;
}

function nextLink(bundle: Bundle): string | undefined {
  return bundle.link?.find((l) => l.relation === 'next')?.url;
}

/** What a search's pages held besides the matches handed to the visitor (visitAll). */
export interface VisitResult {
  /** Resources added by `_include`, by `Type/id`. */
  included: Map<string, Resource>;
  /** True when `maxPages` ended the reading while the server still had more. */
  truncated: boolean;
}

/**
 * Every page of one search (FHIR R4 §3.1.1.5 paging), each match handed to `visit` as its page arrives: a
 * caller that keeps a few facts of each match never holds every resource of a large result at once. The
 * server's `next` link when it gives one; a server that gives none (the embedded one) is paged with
 * `_offset` while it says there is more — its `total`, or without a total a full page. The one paging loop
 * of the adapter: governance and the follow-up jobs use it.
 */
export async function visitAll(
  fhir: Pick<FhirClient, 'search' | 'page'>,
  type: string,
  query: SearchQuery,
  options: PagingOptions,
  visit: (match: Resource) => void,
): Promise<VisitResult> {
  const { pageSize, maxPages } = options;
  const result: VisitResult = { included: new Map(), truncated: false };
  let matched = 0;
  let bundle = await fhir.search(type, withParams(query, { _count: String(pageSize) }));
  for (let page = 1; ; page++) {
    const entries = bundle.entry ?? [];
    let matchedHere = 0;
    for (const e of entries) {
      if (!e.resource) continue;
      if (e.search?.mode === 'include') result.included.set(`${e.resource.resourceType}/${e.resource.id}`, e.resource);
      else {
        visit(e.resource);
        matchedHere++;
      }
    }
    matched += matchedHere;
    const next = nextLink(bundle);
    const more = next !== undefined || (bundle.total !== undefined ? matched < bundle.total && matchedHere > 0 : matchedHere >= pageSize);
    if (!more) return result;
    if (page >= maxPages) return { ...result, truncated: true };
    bundle = next
      ? await fhir.page(next)
      : await fhir.search(type, withParams(query, { _count: String(pageSize), _offset: String(matched) }));
  }
}

/** Every page of one search (visitAll), its matches kept in the server's order. */
export async function searchAll<T extends Resource = Resource>(
  fhir: Pick<FhirClient, 'search' | 'page'>,
  type: string,
  query: SearchQuery,
  options: PagingOptions,
): Promise<SearchResult<T>> {
  const matches: T[] = [];
  const { included, truncated } = await visitAll(fhir, type, query, options, (match) => matches.push(match as T));
  return { matches, included, truncated };
}
