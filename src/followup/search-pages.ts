import type { Resource } from '@medplum/fhirtypes';
import type { FhirClient } from '../fhir/client.js';

/** Resources per search page: large enough that one page is the usual open worklist. */
export const pageSize = 100;
/**
 * Pages read per search, so one tick stays bounded. 50 × 100 open review Tasks is far beyond a site's
 * worklist; a longer one is reported (truncated) rather than read without end.
 */
export const maxPages = 50;

/**
 * Every match of a search, page by page. Follows the server's `next` link when it gives one; the
 * embedded server gives none, so a full page without a link is followed by `_offset`.
 */
export async function searchPages<T extends Resource>(fhir: FhirClient, type: string, query: Record<string, string>): Promise<{ resources: T[]; truncated: boolean }> {
  const resources: T[] = [];
  let bundle = await fhir.search(type, { ...query, _count: String(pageSize) });
  for (let page = 1; ; page++) {
    const entries = (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource as T] : []));
    resources.push(...entries);
    const next = bundle.link?.find((l) => l.relation === 'next')?.url;
    if (!next && entries.length < pageSize) return { resources, truncated: false };
    if (page >= maxPages) return { resources, truncated: true };
    bundle = next ? await fhir.page(next) : await fhir.search(type, { ...query, _count: String(pageSize), _offset: String(page * pageSize) });
  }
}
