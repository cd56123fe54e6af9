import { AsyncLocalStorage } from 'node:async_hooks';
import {
  allOk,
  badRequest,
  created,
  generateId,
  matchesSearchRequest,
  multipleMatches,
  notFound,
  OperationOutcomeError,
  preconditionFailed,
  stringify,
  validateResource,
  type SearchRequest,
  type WithId,
} from '@medplum/core';
import {
  getExtraEntries,
  MemoryRepository,
  type CreateResourceOptions,
  type DeleteResourceOptions,
  type ReadHistoryOptions,
  type SearchOptions,
  type UpdateResourceOptions,
} from '@medplum/fhir-router';
import type { Bundle, BundleEntry, OperationOutcome, Resource, ResourceType } from '@medplum/fhirtypes';
import { SearchIndex } from './indexes.js';
import type { Journal, JournalOp } from './journal.js';
import { Mutex } from './mutex.js';
import { chainedFilters, matchesChains, sortByRules, type ChainedFilter } from './search-semantics.js';
import { SearchResultCache } from './search-cache.js';

type Stored = WithId<Resource>;

/**
 * One resource id of one type. Every version is held once, as its JSON text (a parsed FHIR resource takes
 * 3-4 times its JSON size on the V8 heap, and each search or read returns a fresh copy anyway).
 */
interface Entry {
  /** Creation order, the order of unsorted search results (Medplum's storage order). */
  seq: number;
  /** JSON text of every version, oldest first; unless deleted, the last one is the current version. */
  versions: string[];
  deleted: boolean;
}

/** What an id looked like before the running unit first touched it. */
interface UndoEntry {
  resourceType: string;
  id: string;
  /** The entry object itself (its versions array is only ever appended to), undefined if there was none. */
  entry: Entry | undefined;
  seq: number;
  length: number;
  deleted: boolean;
}

/** One write unit in progress: a single write or a whole transaction. */
interface Unit {
  undo: Map<string, UndoEntry>;
  /** The unit's journal ops, already serialized. */
  ops: string[];
}

/** A search match with its creation order, for ordering like Medplum's storage. */
interface Candidate {
  id: string;
  seq: number;
  resource: Stored;
}

const unitContext = new AsyncLocalStorage<Unit>();

/**
 * Medplum's MemoryRepository API with what a server holding real data needs: atomic, serialized write
 * units (rolled back on any error), validation on write, a durable journal, hash indexes, a cache of
 * recent search results (paging costs a page, not a search) and compact storage. Every storage method is
 * overridden: MemoryRepository's own maps stay empty (they kept a second full copy of every version), and
 * its search semantics (match, chained filters, sort, _count/_offset/total) are reproduced exactly.
 */
export class EmbeddedRepository extends MemoryRepository {
  private readonly store = new Map<string, Map<string, Entry>>();
  private readonly index = new SearchIndex();
  private readonly results = new SearchResultCache();
  private readonly writes = new Mutex();
  private nextSeq = 0;
  private seedingNow = false;

  /** journal: where committed units go; none keeps everything in memory. */
  constructor(private readonly journal?: Journal) {
    super();
  }

  /** Replays committed units from the journal without validating or re-journaling them. */
  async replay(units: JournalOp[][]): Promise<void> {
    for (const unit of units) {
      for (const op of unit) {
        if (op.op === 'put') {
          this.put(op.resource as Stored, JSON.stringify(op.resource));
        } else if (op.op === 'delete') {
          this.markDeleted(op.resourceType, op.id);
        } else {
          for (const id of op.ids) this.drop(op.resourceType, id);
        }
      }
    }
  }

  /** Number of current (not deleted) resources, all types. */
  count(): number {
    let n = 0;
    for (const byId of this.store.values()) {
      for (const entry of byId.values()) if (!entry.deleted) n++;
    }
    return n;
  }

  /** Number of stored versions, all resources (history size). */
  versionCount(): number {
    let n = 0;
    for (const byId of this.store.values()) {
      for (const entry of byId.values()) n += entry.versions.length;
    }
    return n;
  }

  /** Forgets everything (as MemoryRepository.clear); not journaled. */
  override clear(): void {
    this.store.clear();
    this.index.clear();
    this.results.clear();
  }

  /** Runs fn with client-given meta.versionId/lastUpdated kept (as MemoryRepository.withSeeding). */
  override async withSeeding<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.seedingNow) {
      return fn();
    }
    this.seedingNow = true;
    try {
      return await fn();
    } finally {
      this.seedingNow = false;
    }
  }

  /** Creates a resource; a client-supplied id is ignored unless the router assigned it (as on a real server). */
  override createResource<T extends Resource>(
    resource: T,
    options?: CreateResourceOptions,
    update = false,
  ): Promise<WithId<T>> {
    return this.inUnit(async () => {
      const input = update || options?.assignedId ? resource : { ...resource, id: undefined };
      validate(input);
      // As MemoryRepository: a JSON round trip, then the server's id and meta.
      const parsed = JSON.parse(stringify(input)) as T;
      const result = { ...parsed, id: parsed.id ?? this.generateId(), meta: parsed.meta ?? {} } as WithId<T>;
      const meta = result.meta as NonNullable<Resource['meta']>;
      if (!this.seedingNow) {
        delete meta.versionId;
        delete meta.lastUpdated;
      }
      meta.versionId ??= generateId();
      meta.lastUpdated ??= new Date().toISOString();
      if (!update && this.currentText(result.resourceType, result.id) !== undefined) {
        throw new OperationOutcomeError(badRequest('Assigned ID is already in use'));
      }
      const text = JSON.stringify(result);
      this.remember(result.resourceType, result.id);
      this.put(result, text);
      this.unit().ops.push(`{"op":"put","resource":${text}}`);
      return result;
    });
  }

  /** Updates (or creates with the given id) a resource, honouring ifMatch, atomically. */
  override updateResource<T extends Resource>(resource: T, options?: UpdateResourceOptions): Promise<WithId<T>> {
    return this.inUnit(async () => {
      if (!resource.id) {
        throw new OperationOutcomeError(badRequest('Missing id'));
      }
      if (options?.ifMatch) {
        const existing = this.current(resource.resourceType, resource.id);
        if (!existing) {
          throw new OperationOutcomeError(notFound);
        }
        if (existing.meta?.versionId !== options.ifMatch) {
          throw new OperationOutcomeError(preconditionFailed);
        }
      }
      return this.createResource(resource, undefined, true);
    });
  }

  /** Patches a resource; the patched result is validated like any update. */
  override patchResource<T extends Resource>(
    ...args: Parameters<MemoryRepository['patchResource']>
  ): Promise<WithId<T>> {
    return this.inUnit(() => super.patchResource<T>(...args));
  }

  /** The current version (a fresh copy). */
  override async readResource<T extends Resource>(resourceType: string, id: string): Promise<T> {
    const resource = this.current(resourceType, id);
    if (!resource) {
      throw new OperationOutcomeError(notFound);
    }
    return resource as unknown as T;
  }

  /** Deletes a resource (its history stays, as in Medplum). */
  override deleteResource(resourceType: string, id: string, options?: DeleteResourceOptions): Promise<void> {
    return this.inUnit(async () => {
      const existing = this.current(resourceType, id);
      if (!existing) {
        throw new OperationOutcomeError(notFound);
      }
      if (options?.ifMatch && existing.meta?.versionId !== options.ifMatch) {
        throw new OperationOutcomeError(preconditionFailed);
      }
      this.remember(resourceType, id);
      this.markDeleted(resourceType, id);
      this.unit().ops.push(JSON.stringify({ op: 'delete', resourceType: resourceType as ResourceType, id } satisfies JournalOp));
    });
  }

  /** Removes resources and their history for good. */
  override expungeResources(resourceType: string, ids: string[]): Promise<void> {
    return this.inUnit(async () => {
      for (const id of ids) {
        this.remember(resourceType, id);
        this.drop(resourceType, id);
      }
      this.unit().ops.push(JSON.stringify({ op: 'expunge', resourceType: resourceType as ResourceType, ids } satisfies JournalOp));
    });
  }

  /** Conditional create (If-None-Exist) with an indexed lookup, serialized with every other write. */
  override conditionalCreate<T extends Resource>(
    resource: T,
    search: SearchRequest<T>,
    options?: CreateResourceOptions,
  ): Promise<{ resource: WithId<T>; outcome: OperationOutcome }> {
    if (search.resourceType !== resource.resourceType) {
      throw new OperationOutcomeError(badRequest('Search type must match resource type for conditional update'));
    }
    return this.inUnit(async () => {
      const matches = (await this.search({ ...search, count: 2, sortRules: undefined })).entry ?? [];
      if (matches.length > 1) {
        throw new OperationOutcomeError(multipleMatches);
      }
      const existing = matches[0]?.resource as WithId<T> | undefined;
      if (existing) {
        if (!options?.assignedId && resource.id && resource.id !== existing.id) {
          throw new OperationOutcomeError(badRequest('Resource ID did not match resolved ID', resource.resourceType + '.id'));
        }
        return { resource: existing, outcome: allOk };
      }
      return { resource: await this.createResource(resource, options), outcome: created };
    });
  }

  /** Runs the callback as one atomic unit: on any error every change it made is undone. */
  override withTransaction<TResult>(callback: (repo: this) => Promise<TResult>): Promise<TResult> {
    return this.inUnit(() => callback(this));
  }

  /** History newest first. */
  override async readHistory<T extends Resource>(
    resourceType: string,
    id: string,
    options?: ReadHistoryOptions,
  ): Promise<Bundle<WithId<T>>> {
    await this.readResource(resourceType, id);
    const offset = options?.offset ?? 0;
    const all = [...(this.store.get(resourceType)?.get(id)?.versions ?? [])].reverse();
    const page = all.slice(offset, options?.limit === undefined ? undefined : offset + options.limit);
    const entry = page.map((text) => ({ resource: JSON.parse(text) as WithId<T> }));
    return { resourceType: 'Bundle', type: 'history', ...(entry.length ? { entry } : undefined) };
  }

  /** One version of a resource. */
  override async readVersion<T extends Resource>(resourceType: string, id: string, versionId: string): Promise<T> {
    await this.readResource(resourceType, id);
    for (const text of this.store.get(resourceType)?.get(id)?.versions ?? []) {
      const version = JSON.parse(text) as T;
      if (version.meta?.versionId === versionId) {
        return version;
      }
    }
    throw new OperationOutcomeError(notFound);
  }

  /**
   * MemoryRepository.search's results, computed faster: candidates come from the hash indexes when a filter
   * allows it, sort keys are evaluated once per resource, and the ordered matches of a search that has
   * more pages are cached until a resource of its type changes, so each further page costs only itself.
   */
  override async search<T extends Resource>(
    searchRequest: SearchRequest<T>,
    _options?: SearchOptions,
  ): Promise<Bundle<WithId<T>>> {
    const { plain, chains } = chainedFilters(searchRequest);
    const offset = searchRequest.offset ?? 0;
    const end = searchRequest.count === undefined ? undefined : offset + searchRequest.count;
    const type = searchRequest.resourceType;
    // A chained filter reads other types, whose changes the cache does not follow.
    const cacheKey = chains.length ? undefined : SearchResultCache.key(searchRequest);
    let page: Stored[];
    let total: number;
    const cached = cacheKey === undefined ? undefined : this.results.get(type, cacheKey);
    if (cached) {
      total = cached.length;
      page = cached.slice(offset, end).map((id) => this.current(type, id) as Stored);
    } else {
      const matched = this.matches(plain, chains);
      total = matched.length;
      page = matched.slice(offset, end).map((m) => m.resource);
      if (cacheKey !== undefined && end !== undefined && end < total) {
        this.results.set(type, cacheKey, matched.map((m) => m.id));
      }
    }
    const entry = page.map((resource): BundleEntry<WithId<T>> => ({ search: { mode: 'match' }, resource: resource as WithId<T> }));
    const bundle: Bundle<WithId<T>> = {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: entry.length ? entry : undefined,
      total,
    };
    if ((searchRequest.include || searchRequest.revInclude) && bundle.entry?.length) {
      // As in Medplum, `total` counts only the matches.
      const entries = bundle.entry as BundleEntry[];
      await getExtraEntries(this, searchRequest, entries.map((e) => e.resource as WithId<T>), entries);
      bundle.entry = entries as BundleEntry<WithId<T>>[];
    }
    return bundle;
  }

  /** Every match of a search in Medplum's order: storage order, then each sort rule in turn. */
  private matches(plain: SearchRequest, chains: ChainedFilter[]): Candidate[] {
    const byId = this.store.get(plain.resourceType);
    if (!byId) {
      return [];
    }
    const ids = this.index.candidates(plain.resourceType, plain.filters);
    const found: Candidate[] = [];
    const consider = (id: string, entry: Entry): void => {
      if (entry.deleted) return;
      const resource = JSON.parse(entry.versions[entry.versions.length - 1] as string) as Stored;
      if (matchesSearchRequest(resource, plain) && matchesChains(resource, chains, (t, i) => this.current(t, i))) {
        found.push({ id, seq: entry.seq, resource });
      }
    };
    if (ids) {
      for (const id of ids) {
        const entry = byId.get(id);
        if (entry) consider(id, entry);
      }
    } else {
      for (const [id, entry] of byId) consider(id, entry);
    }
    found.sort((a, b) => a.seq - b.seq);
    return sortByRules(found, plain.sortRules);
  }

  /** The current version, parsed (a fresh object), or undefined when absent or deleted. */
  private current(resourceType: string, id: string): Stored | undefined {
    const text = this.currentText(resourceType, id);
    return text === undefined ? undefined : (JSON.parse(text) as Stored);
  }

  private currentText(resourceType: string, id: string): string | undefined {
    const entry = this.store.get(resourceType)?.get(id);
    return !entry || entry.deleted ? undefined : entry.versions[entry.versions.length - 1];
  }

  /** Makes resource (serialized as text) the current version: history, indexes and search cache follow. */
  private put(resource: Stored, text: string): void {
    let byId = this.store.get(resource.resourceType);
    if (!byId) {
      byId = new Map();
      this.store.set(resource.resourceType, byId);
    }
    const entry = byId.get(resource.id);
    if (!entry) {
      byId.set(resource.id, { seq: this.nextSeq++, versions: [text], deleted: false });
    } else {
      this.unindex(entry);
      if (entry.deleted) {
        // Re-created after a delete: Medplum's storage puts it last.
        entry.seq = this.nextSeq++;
        entry.deleted = false;
      }
      entry.versions.push(text);
    }
    this.index.add(resource);
    this.results.invalidate(resource.resourceType);
  }

  private markDeleted(resourceType: string, id: string): void {
    const entry = this.store.get(resourceType)?.get(id);
    if (entry && !entry.deleted) {
      this.unindex(entry);
      entry.deleted = true;
      this.results.invalidate(resourceType);
    }
  }

  private drop(resourceType: string, id: string): void {
    const byId = this.store.get(resourceType);
    const entry = byId?.get(id);
    if (entry) {
      this.unindex(entry);
      byId?.delete(id);
      this.results.invalidate(resourceType);
    }
  }

  /** Takes an entry's current version out of the indexes (its keys are recomputed, none are stored). */
  private unindex(entry: Entry): void {
    if (!entry.deleted && entry.versions.length) {
      this.index.remove(JSON.parse(entry.versions[entry.versions.length - 1] as string) as Stored);
    }
  }

  /** Runs fn inside the current unit, or as a new serialized unit committed to the journal. */
  private inUnit<R>(fn: () => Promise<R>): Promise<R> {
    if (unitContext.getStore()) {
      return fn();
    }
    return this.writes.run(() => {
      const unit: Unit = { undo: new Map(), ops: [] };
      return unitContext.run(unit, async () => {
        try {
          const result = await fn();
          if (unit.ops.length && this.journal) {
            await this.journal.appendSerialized(unit.ops);
          }
          return result;
        } catch (err) {
          this.rollback(unit);
          throw err;
        }
      });
    });
  }

  private unit(): Unit {
    const unit = unitContext.getStore();
    if (!unit) {
      throw new Error('Write outside a unit');
    }
    return unit;
  }

  private remember(resourceType: string, id: string): void {
    const key = `${resourceType}/${id}`;
    const undo = this.unit().undo;
    if (!undo.has(key)) {
      const entry = this.store.get(resourceType)?.get(id);
      undo.set(key, {
        resourceType,
        id,
        entry,
        seq: entry?.seq ?? -1,
        length: entry?.versions.length ?? 0,
        deleted: entry?.deleted ?? false,
      });
    }
  }

  /** Puts every id the unit touched back as it was: storage, indexes and search cache. */
  private rollback(unit: Unit): void {
    for (const before of [...unit.undo.values()].reverse()) {
      this.drop(before.resourceType, before.id);
      const entry = before.entry;
      if (entry) {
        entry.versions.length = before.length;
        entry.seq = before.seq;
        entry.deleted = before.deleted;
        let byId = this.store.get(before.resourceType);
        if (!byId) {
          byId = new Map();
          this.store.set(before.resourceType, byId);
        }
        byId.set(before.id, entry);
        if (!entry.deleted) {
          this.index.add(JSON.parse(entry.versions[entry.versions.length - 1] as string) as Stored);
        }
      }
      this.results.invalidate(before.resourceType);
    }
    unit.undo.clear();
    unit.ops.length = 0;
  }
}

/** Refuses a resource that does not follow the base R4 structure (throws a 400 OperationOutcomeError). */
function validate(resource: Resource): void {
  validateResource(resource);
}
