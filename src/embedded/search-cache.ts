import type { SearchRequest } from '@medplum/core';

/**
 * Searches whose ordered matches are kept: a client reading a large result page by page (governance
 * reads ~10 searches in parallel) then pays for the search once, not once per page.
 */
export const MAX_CACHED_SEARCHES = 32;
/** Ids kept over all cached searches (~80 bytes each, read from the store): caps the cache at ~16 MB. */
export const MAX_CACHED_IDS = 200_000;

interface Cached {
  type: string;
  ids: string[];
}

/**
 * The ordered match ids of recent searches, dropped as soon as any resource of the searched type changes
 * (so a cached page is exactly what re-running the search would give), least recently used first.
 */
export class SearchResultCache {
  private readonly entries = new Map<string, Cached>();
  private ids = 0;

  /**
   * The key of a search's matches and their order: everything but paging, totals and includes. Filters
   * are all required (AND), so their order is not part of it: a server's `next` link lists them in its
   * own order, and must find the matches its first page cached.
   */
  static key(searchRequest: SearchRequest): string {
    const filters = (searchRequest.filters ?? []).map((f) => JSON.stringify([f.code, f.operator, f.value])).sort();
    return JSON.stringify([searchRequest.resourceType, filters, searchRequest.sortRules ?? []]);
  }

  /** The cached ordered ids, or undefined. */
  get(type: string, key: string): string[] | undefined {
    const cached = this.entries.get(key);
    if (!cached || cached.type !== type) {
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, cached);
    return cached.ids;
  }

  /** Keeps a search's ordered ids, evicting the least recently used beyond the limits. */
  set(type: string, key: string, ids: string[]): void {
    if (ids.length > MAX_CACHED_IDS) {
      return;
    }
    this.delete(key);
    this.entries.set(key, { type, ids });
    this.ids += ids.length;
    for (const [oldest] of this.entries) {
      if (this.entries.size <= MAX_CACHED_SEARCHES && this.ids <= MAX_CACHED_IDS) break;
      this.delete(oldest);
    }
  }

  /** Drops every cached search of a type (a resource of it was written). */
  invalidate(type: string): void {
    if (this.entries.size === 0) return;
    for (const [key, cached] of this.entries) {
      if (cached.type === type) this.delete(key);
    }
  }

  /** Drops everything. */
  clear(): void {
    this.entries.clear();
    this.ids = 0;
  }

  private delete(key: string): void {
    const cached = this.entries.get(key);
    if (cached) {
      this.ids -= cached.ids.length;
      this.entries.delete(key);
    }
  }
}
