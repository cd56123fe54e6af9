import type { SearchRequest } from '@medplum/core';

/**
 * Searches whose ordered matches are kept: a client reading a large result page by page (a governance
 * report reads ~20 searches, each in pages of 250) then pays for the search once, not once per page.
 */
export const MAX_CACHED_SEARCHES = 32;
/** Matches kept over all cached searches (a row id each, 8 bytes at most): caps the cache at ~2 MB. */
export const MAX_CACHED_MATCHES = 200_000;

interface Cached {
  type: string;
  /** The matches' row ids in the store (`resources.rid`), in the search's order. */
  rids: number[];
}

/**
 * The ordered matches (row ids) of recent searches, dropped as soon as any resource of the searched type
 * changes, here or in another process (repository.ts followOtherProcesses), so that a cached page is exactly
 * what re-running the search would give; least recently used first.
 */
export class SearchResultCache {
  private readonly entries = new Map<string, Cached>();
  private matches = 0;

  /**
   * The key of a search's matches and their order: everything but paging, totals and includes. Filters
   * are all required (AND), so their order is not part of it: a server's `next` link lists them in its
   * own order, and must find the matches its first page cached.
   */
  static key(searchRequest: SearchRequest): string {
    const filters = (searchRequest.filters ?? []).map((f) => JSON.stringify([f.code, f.operator, f.value])).sort();
    return JSON.stringify([searchRequest.resourceType, filters, searchRequest.sortRules ?? []]);
  }

  /** The cached ordered row ids, or undefined. */
  get(type: string, key: string): number[] | undefined {
    const cached = this.entries.get(key);
    if (!cached || cached.type !== type) {
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, cached);
    return cached.rids;
  }

  /** Keeps a search's ordered row ids, evicting the least recently used beyond the limits. */
  set(type: string, key: string, rids: number[]): void {
    if (rids.length > MAX_CACHED_MATCHES) {
      return;
    }
    this.delete(key);
    this.entries.set(key, { type, rids });
    this.matches += rids.length;
    for (const [oldest] of this.entries) {
      if (this.entries.size <= MAX_CACHED_SEARCHES && this.matches <= MAX_CACHED_MATCHES) break;
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
    this.matches = 0;
  }

  private delete(key: string): void {
    const cached = this.entries.get(key);
    if (cached) {
      this.matches -= cached.rids.length;
      this.entries.delete(key);
    }
  }
}
