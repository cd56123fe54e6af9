import type { Resource } from '@medplum/fhirtypes';
import type { FhirClient } from '../fhir/client.js';
import { searchAll } from '../fhir/lookup/search-all.js';

/** Resources per search page: large enough that one page is the usual open worklist. */
export const pageSize = 100;
/**
 * Pages read per search, so one tick stays bounded. 50 × 100 open review Tasks is far beyond a site's
 * worklist; a longer one is reported (truncated) rather than read without end.
 */
export const maxPages = 50;

/** Every match of a search (fhir/search-all.ts), with the follow-up jobs' bounds. */
export async function searchPages<T extends Resource>(fhir: FhirClient, type: string, query: Record<string, string>): Promise<{ resources: T[]; truncated: boolean }> {
  const { matches, truncated } = await searchAll<T>(fhir, type, query, { pageSize, maxPages });
  return { resources: matches, truncated };
}
