import type { PagingOptions } from '../fhir/lookup/search-all.js';

/**
 * The follow-up jobs' bounds for the one paging loop (fhir/lookup/search-all.ts searchAll): 100 resources a
 * page, large enough that one page is the usual open worklist; at most 50 pages a search, so one tick stays
 * bounded (50 × 100 open review Tasks is far beyond a site's worklist; a longer one is reported truncated).
 */
export const followUpPaging: PagingOptions = { pageSize: 100, maxPages: 50 };
