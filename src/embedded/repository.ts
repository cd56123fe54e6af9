import { AsyncLocalStorage } from 'node:async_hooks';
import {
  allOk,
  badRequest,
  created,
  deepClone,
  evalFhirPath,
  globalSchema,
  matchesSearchRequest,
  multipleMatches,
  notFound,
  OperationOutcomeError,
  validateResource,
  type SearchRequest,
  type SortRule,
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

type Stored = WithId<Resource>;

/** What a resource looked like before the running unit first touched it. */
interface UndoEntry {
  resourceType: ResourceType;
  id: string;
  before: Stored | undefined;
  seq: number | undefined;
  historyLength: number;
}

/** One write unit in progress: a single write or a whole transaction. */
interface Unit {
  undo: Map<string, UndoEntry>;
  ops: JournalOp[];
}

const unitContext = new AsyncLocalStorage<Unit>();

/**
 * Medplum's MemoryRepository with what a server holding real data needs: atomic, serialized write
 * units (rolled back on any error), validation on write, a durable journal and hash indexes.
 * Medplum's own storage stays the source for reads and chained searches; this class mirrors the
 * current versions (for indexed searches) and keeps history itself (Medplum's flips on each read).
 */
export class EmbeddedRepository extends MemoryRepository {
  private readonly current = new Map<string, Map<string, Stored>>();
  private readonly seqs = new Map<string, number>();
  private readonly versions = new Map<string, Stored[]>();
  private readonly index = new SearchIndex();
  private readonly writes = new Mutex();
  private nextSeq = 0;

  /** journal: where committed units go; none keeps everything in memory. */
  constructor(private readonly journal?: Journal) {
    super();
  }

  /** Replays committed units from the journal without validating or re-journaling them. */
  async replay(units: JournalOp[][]): Promise<void> {
    for (const unit of units) {
      for (const op of unit) {
        if (op.op === 'put') {
          const stored = await this.withSeeding(() => super.createResource(op.resource, undefined, true));
          this.track(stored);
        } else if (op.op === 'delete') {
          await super.deleteResource(op.resourceType, op.id);
          this.untrack(op.resourceType, op.id);
        } else {
          await super.expungeResources(op.resourceType, op.ids);
          for (const id of op.ids) {
            this.untrack(op.resourceType, id);
            this.versions.delete(`${op.resourceType}/${id}`);
          }
        }
      }
    }
  }

  /** Number of current (not deleted) resources, all types. */
  count(): number {
    let n = 0;
    for (const byId of this.current.values()) n += byId.size;
    return n;
  }

  /** Number of stored versions, all resources (history size). */
  versionCount(): number {
    let n = 0;
    for (const list of this.versions.values()) n += list.length;
    return n;
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
      const stored = await super.createResource(input, options, update);
      this.recordPut(stored);
      return stored;
    });
  }

  /** Updates (or creates with the given id) a resource, honouring ifMatch, atomically. */
  override updateResource<T extends Resource>(resource: T, options?: UpdateResourceOptions): Promise<WithId<T>> {
    return this.inUnit(() => super.updateResource(resource, options));
  }

  /** Patches a resource; the patched result is validated like any update. */
  override patchResource<T extends Resource>(
    ...args: Parameters<MemoryRepository['patchResource']>
  ): Promise<WithId<T>> {
    return this.inUnit(() => super.patchResource<T>(...args));
  }

  /** Deletes a resource (its history stays, as in Medplum). */
  override deleteResource(resourceType: string, id: string, options?: DeleteResourceOptions): Promise<void> {
    return this.inUnit(async () => {
      await super.deleteResource(resourceType, id, options);
      this.remember(resourceType as ResourceType, id);
      this.untrack(resourceType, id);
      this.unit().ops.push({ op: 'delete', resourceType: resourceType as ResourceType, id });
    });
  }

  /** Removes resources and their history for good. */
  override expungeResources(resourceType: string, ids: string[]): Promise<void> {
    return this.inUnit(async () => {
      await super.expungeResources(resourceType, ids);
      for (const id of ids) {
        this.remember(resourceType as ResourceType, id);
        this.untrack(resourceType, id);
        this.versions.delete(`${resourceType}/${id}`);
      }
      this.unit().ops.push({ op: 'expunge', resourceType: resourceType as ResourceType, ids });
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

  /** History newest first, from this class's own version list. */
  override async readHistory<T extends Resource>(
    resourceType: string,
    id: string,
    options?: ReadHistoryOptions,
  ): Promise<Bundle<WithId<T>>> {
    await this.readResource(resourceType, id);
    const offset = options?.offset ?? 0;
    const all = [...(this.versions.get(`${resourceType}/${id}`) ?? [])].reverse();
    const page = all.slice(offset, options?.limit === undefined ? undefined : offset + options.limit);
    const entry = page.map((version) => ({ resource: deepClone(version) as WithId<T> }));
    return { resourceType: 'Bundle', type: 'history', ...(entry.length ? { entry } : undefined) };
  }

  /** One version of a resource. */
  override async readVersion<T extends Resource>(resourceType: string, id: string, versionId: string): Promise<T> {
    await this.readResource(resourceType, id);
    const version = this.versions.get(`${resourceType}/${id}`)?.find((v) => v.meta?.versionId === versionId);
    if (!version) {
      throw new OperationOutcomeError(notFound);
    }
    return deepClone(version) as T;
  }

  /**
   * Same results as MemoryRepository.search, but candidates come from the hash indexes when a filter
   * allows it. Chained and _has filters go to Medplum's own implementation.
   */
  override async search<T extends Resource>(
    searchRequest: SearchRequest<T>,
    _options?: SearchOptions,
  ): Promise<Bundle<WithId<T>>> {
    if (searchRequest.filters?.some((f) => f.code.includes('.') || f.code.startsWith('_has:'))) {
      return super.search(searchRequest);
    }
    const matched = this.candidates(searchRequest).filter((r) => matchesSearchRequest(r, searchRequest));
    let entry = matched.map((resource): BundleEntry<WithId<T>> => ({
      search: { mode: 'match' },
      resource: deepClone(resource) as WithId<T>,
    }));
    for (const sortRule of searchRequest.sortRules ?? []) {
      entry = entry.sort((a, b) => sortComparator(a.resource as T, b.resource as T, sortRule));
    }
    if (searchRequest.offset !== undefined) {
      entry = entry.slice(searchRequest.offset);
    }
    if (searchRequest.count !== undefined) {
      entry = entry.slice(0, searchRequest.count);
    }
    const bundle: Bundle<WithId<T>> = {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: entry.length ? entry : undefined,
      total: matched.length,
    };
    if ((searchRequest.include || searchRequest.revInclude) && bundle.entry?.length) {
      // As in Medplum, `total` counts only the matches.
      const entries = bundle.entry as BundleEntry[];
      await getExtraEntries(this, searchRequest, entries.map((e) => e.resource as WithId<T>), entries);
      bundle.entry = entries as BundleEntry<WithId<T>>[];
    }
    return bundle;
  }

  /** Current resources of the request's type in store order, narrowed by the indexes when possible. */
  private candidates(searchRequest: SearchRequest): Stored[] {
    const byId = this.current.get(searchRequest.resourceType);
    if (!byId) {
      return [];
    }
    const ids = this.index.candidates(searchRequest.resourceType, searchRequest.filters);
    if (!ids) {
      return [...byId.values()];
    }
    const found: Stored[] = [];
    for (const id of ids) {
      const r = byId.get(id);
      if (r) found.push(r);
    }
    // Keep the unsorted order identical to a full scan: first-creation order.
    const seq = (r: Stored): number => this.seqs.get(`${r.resourceType}/${r.id}`) ?? 0;
    return found.sort((a, b) => seq(a) - seq(b));
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
            await this.journal.append(unit.ops);
          }
          return result;
        } catch (err) {
          await this.rollback(unit);
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

  private remember(resourceType: ResourceType, id: string): void {
    const key = `${resourceType}/${id}`;
    const undo = this.unit().undo;
    if (!undo.has(key)) {
      undo.set(key, {
        resourceType,
        id,
        before: this.current.get(resourceType)?.get(id),
        seq: this.seqs.get(key),
        historyLength: this.versions.get(key)?.length ?? 0,
      });
    }
  }

  private recordPut(stored: Stored): void {
    this.remember(stored.resourceType, stored.id);
    this.track(stored);
    this.unit().ops.push({ op: 'put', resource: stored });
  }

  /** Makes stored the current version in the mirror, history and indexes. */
  private track(stored: Stored): void {
    const key = `${stored.resourceType}/${stored.id}`;
    const copy = deepClone(stored);
    let byId = this.current.get(stored.resourceType);
    if (!byId) {
      byId = new Map();
      this.current.set(stored.resourceType, byId);
    }
    byId.set(stored.id, copy);
    if (!this.seqs.has(key)) {
      this.seqs.set(key, this.nextSeq++);
    }
    let list = this.versions.get(key);
    if (!list) {
      list = [];
      this.versions.set(key, list);
    }
    list.push(copy);
    this.index.add(copy);
  }

  private untrack(resourceType: string, id: string): void {
    this.current.get(resourceType)?.delete(id);
    this.seqs.delete(`${resourceType}/${id}`);
    this.index.remove(resourceType, id);
  }

  /** Puts every resource the unit touched back as it was, through MemoryRepository's public API. */
  private async rollback(unit: Unit): Promise<void> {
    for (const entry of [...unit.undo.values()].reverse()) {
      const key = `${entry.resourceType}/${entry.id}`;
      await super.expungeResources(entry.resourceType, [entry.id]);
      this.untrack(entry.resourceType, entry.id);
      const list = this.versions.get(key) ?? [];
      list.length = Math.min(list.length, entry.historyLength);
      if (list.length === 0) {
        this.versions.delete(key);
      }
      const before = entry.before;
      if (before) {
        await this.withSeeding(() => super.createResource(before, undefined, true));
        this.current.get(entry.resourceType)?.set(entry.id, before);
        this.seqs.set(key, entry.seq ?? this.nextSeq++);
        this.index.add(before);
      }
    }
    unit.undo.clear();
    unit.ops.length = 0;
  }
}

/** Refuses a resource that does not follow the base R4 structure (throws a 400 OperationOutcomeError). */
function validate(resource: Resource): void {
  validateResource(resource);
}

// Medplum's MemoryRepository comparator (not exported), copied so sorting stays identical.
function sortComparator<T extends Resource>(a: T, b: T, sortRule: SortRule): number {
  const expression = globalSchema.types[a.resourceType]?.searchParams?.[sortRule.code]?.expression;
  if (!expression) {
    return 0;
  }
  const aStr = JSON.stringify(evalFhirPath(expression, a));
  const bStr = JSON.stringify(evalFhirPath(expression, b));
  return aStr.localeCompare(bStr) * (sortRule.descending ? -1 : 1);
}
