import { AsyncLocalStorage } from 'node:async_hooks';
import {
  allOk,
  badRequest,
  created,
  generateId,
  multipleMatches,
  notFound,
  OperationOutcomeError,
  parseSearchRequest,
  preconditionFailed,
  stringify,
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
import type { Bundle, BundleEntry, OperationOutcome, Reference, Resource } from '@medplum/fhirtypes';
import type { StatementSync } from 'node:sqlite';
import { StructureCache } from '../gates/structure-cache.js';
import {
  asStoreError,
  beginImmediate,
  RETRY_AFTER_FULL_SECONDS,
  storeUnavailable,
  MONTH_ENDS_MARK,
  SYSTEM_KEYS_MARK,
  type Database,
} from './database.js';
import { dateRows, filterCondition, lookupRows, type DateRow, type SqlCondition } from './indexes.js';
import type { JournalOp } from './journal.js';
import { chainedFilters, matchesChains, matchesFilters, sortByRules, type ChainedFilter } from './search-semantics.js';
import { SearchResultCache } from './search-cache.js';
import { searchReferenceProblem } from './conditional-references.js';

type Stored = WithId<Resource>;

/** A search match: its row id (`resources.rid`), and the parsed resource while it may still be needed (sort, the page). */
interface Candidate {
  rid: number;
  resource?: Stored;
}

/**
 * What the running operation may do: a write holds SQLite's write lock (`BEGIN IMMEDIATE`) until it ends;
 * a prepare runs a FHIR transaction without it, its writes kept for the write (see withTransaction).
 */
type OperationKind = 'read' | 'write' | 'prepare';

/** What a prepared transaction read, to be true still when its writes are made (EmbeddedRepository.apply). */
type PreparedCheck =
  | { kind: 'absent'; type: string; id: string }
  | { kind: 'version'; type: string; id: string; versionId: string }
  | { kind: 'search'; request: SearchRequest; ids: string[] };

/** A FHIR transaction run without the write lock: the rows it writes, and what they were decided on. */
interface Prepared {
  checks: PreparedCheck[];
  /** `stamped`: meta.lastUpdated is the server's (not a seeded one), set again when written. */
  writes: { resource: Stored; text: string; rows: ReturnType<typeof lookupRows>; stamped: boolean }[];
}

/**
 * Thrown inside a prepare by anything a prepared transaction cannot decide without the write lock (a read,
 * a conditional create, a delete, a version that is not the one expected): the transaction then runs
 * under the lock from its start, as every transaction did before.
 */
class NeedsWriteLock extends Error {}

/** A call waiting for its turn on the write connection. */
interface Turn {
  kind: OperationKind;
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/**
 * A value kept beside the current version of a resource, made from it when it is written (the governance
 * facts of a resource: src/governance/stored-facts.ts), so that a caller reading tens of thousands of
 * resources for a few of their elements (a governance report) reads those values instead of parsing every
 * resource (visitDerived). The store knows nothing of what the value means.
 */
export interface Derivation {
  /**
   * Names what made the values (the code and its inputs, e.g. the site's time zone): a value kept under
   * another key — written by another release or configuration — is not read, its resource is.
   */
  key: string;
  /** The resource types it makes values for: the others are never given to it. */
  types: readonly string[];
  /** The value for a resource (any JSON value), or undefined for none. A throw keeps no value: the write goes on. */
  derive(resource: Resource): unknown;
}

/** A match of visitDerived: the value kept beside it, or the resource itself when none is kept under the key. */
export type DerivedMatch = { derived: unknown } | { resource: Resource };

/** Matches read at once by visitDerived (one statement); the event loop turns between batches. */
const DERIVED_BATCH = 500;
/** Row ids deriveMissing reads per write: ~5 ms each when none is missing, ~10 ms when all are (measured). */
const DERIVED_WINDOW = 1_000;
/** store_meta row of deriveMissing: `{key, vid}`, the key it last made every value under and the last version id it looked at. */
const DERIVED_MARK = 'derived-through';

/** The mark as stored, or undefined for none or one that does not read as `{key, vid}` (every value is then made again). */
function derivedMarkOf(value: string | undefined): { key: string; vid: number } | undefined {
  try {
    const mark = value === undefined ? undefined : (JSON.parse(value) as { key?: unknown; vid?: unknown });
    return typeof mark?.key === 'string' && Number.isSafeInteger(mark.vid) && (mark.vid as number) >= 0
      ? { key: mark.key, vid: mark.vid as number }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Rows counted per lookup condition to choose the one that drives a search. */
const ESTIMATE_LIMIT = 2_000;
/**
 * Rows counted again when every condition reached ESTIMATE_LIMIT (≈ 2 ms each, measured): without it they
 * tie, and a month's tag (10,000 CarePlans of every pathway) drove over one pathway's category (2,225).
 */
const WIDE_ESTIMATE_LIMIT = 50_000;

/**
 * Base-R4 validation of every write, remembered per resource shape (src/gates/structure-cache.ts): the
 * same verdict as Medplum's validateResource, which otherwise is half of what a record's transaction
 * allocates (~1.5 MB per record, measured) and runs while the store's write lock is held.
 */
const writeValidation = new StructureCache();

/** Most writes committed together (one fsync) when they queued up while the previous commit ran. */
const MAX_GROUP = 32;

const operation = new AsyncLocalStorage<OperationKind>();
/** The transaction being prepared (operation 'prepare'). */
const preparing = new AsyncLocalStorage<Prepared>();

/**
 * Medplum's repository API over SQLite (node:sqlite), with Medplum's MemoryRepository search semantics.
 *
 * - Every write (a single write, or a whole FHIR transaction via withTransaction) is atomic: it runs in
 *   SQLite's write transaction (`BEGIN IMMEDIATE`, holding the database's write lock), inside a savepoint
 *   of its own that is rolled back on any error. If-Match and conditional creates are decided inside it:
 *   another process on the same DATA_DIR waits (busy_timeout) and then sees the result, so nothing is
 *   doubled across processes. A FHIR transaction is prepared first without the lock and written under it
 *   only if what it read still holds (withTransaction), else run again wholly under the lock. A write is
 *   answered only once its COMMIT is durable (WAL, fsync). Writes that queued up while the previous COMMIT
 *   ran are committed together (group commit: one fsync for several, each still all-or-nothing), because
 *   node:sqlite's COMMIT blocks the event loop for its fsync.
 * - One write connection per process: node:sqlite is synchronous but FHIR transactions are async
 *   callbacks, so this process's writes take turns (a FIFO queue); nested calls of a running one join it.
 *   With a DATA_DIR, reads use a second, read-only connection and see only committed data (WAL snapshots),
 *   without waiting for writes; in memory, reads take turns with the writes.
 * - Search: candidates come from the lookup tables (src/embedded/indexes.ts) when a filter allows it, every
 *   candidate is checked with Medplum's own matcher, ordered by creation then by Medplum's sort rules. The
 *   ordered matches of a search with more pages are cached until its type changes here, or anything
 *   changes in another process (PRAGMA data_version).
 * - A disk-full or I/O error (or a lock held past busy_timeout) fails the whole write with a
 *   store-unavailable OperationOutcome, answered 503 with Retry-After (database.ts).
 */
export class EmbeddedRepository extends MemoryRepository {
  private readonly results = new SearchResultCache();
  private readonly waiting: Turn[] = [];
  private draining = false;
  private readonly statements = new Map<Database, Map<string, StatementSync>>();
  /** Types written by the running write group: their cached searches are dropped again once it commits. */
  private readonly touched = new Set<string>();
  private dataVersion = -1;
  private seedingNow = false;
  private closed = false;
  /** deriveMissing finished in this process: what it writes since has its values (advanceDerivedMark). */
  private derivedThrough = false;
  /** Whether every token row set of this store has its `system|value` rows (database.ts SYSTEM_KEYS_MARK). */
  private readonly systemKeys: boolean;

  /**
   * database: the store's write connection (database.ts openDatabase); reader: a read-only connection to
   * the same file (openReader), none for an in-memory store.
   */
  constructor(
    readonly database: Database,
    private readonly reader?: Database,
    private readonly derivation?: Derivation,
  ) {
    super();
    this.systemKeys = database.prepare('SELECT 1 FROM store_meta WHERE name = ?').get(SYSTEM_KEYS_MARK) !== undefined;
    this.repairMonthEnds();
  }

  /**
   * Once per store of an older version (no MONTH_ENDS_MARK): rewrites the date rows of the resources with a
   * month-precision value, which that version ended on day 31 rolled into the next month (indexes.ts
   * datePeriod). Only rows ending at 23:59:59.999Z on the 1st to 3rd of a month can be such (a 30-day month
   * rolls to the 1st, February to the 2nd or 3rd); their resources' rows are computed again, in one write
   * that also sets the mark, so a second process starting at once finds it done.
   */
  private repairMonthEnds(): void {
    const db = this.database;
    const marked = () => db.prepare('SELECT 1 FROM store_meta WHERE name = ?').get(MONTH_ENDS_MARK) !== undefined;
    if (marked()) return;
    db.exec('BEGIN IMMEDIATE');
    try {
      if (!marked()) {
        const rows = db
          .prepare(
            "SELECT DISTINCT d.rid AS rid, v.content AS content FROM search_date d JOIN resources r ON r.rid = d.rid JOIN versions v ON v.vid = r.cur WHERE d.high GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-0[123]T23:59:59.999Z' AND r.deleted = 0",
          )
          .all() as { rid: number; content: string }[];
        for (const { rid, content } of rows) {
          this.sql('DELETE FROM search_date WHERE rid = ?', db).run(rid);
          this.insertDates(rid, dateRows(JSON.parse(content) as Stored));
        }
        db.prepare('INSERT INTO store_meta (name, value) VALUES (?, ?)').run(MONTH_ENDS_MARK, '1');
      }
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }

  /** Number of current (not deleted) resources, all types. */
  count(): number {
    return (this.sql('SELECT count(*) AS n FROM resources WHERE deleted = 0').get() as { n: number }).n;
  }

  /** Number of stored versions, all resources (history size). */
  versionCount(): number {
    return (this.sql('SELECT count(*) AS n FROM versions').get() as { n: number }).n;
  }

  /** Whether no resource was ever stored (cheap at any size). */
  isEmpty(): boolean {
    return this.sql('SELECT 1 FROM resources LIMIT 1').get() === undefined;
  }

  /** Forgets everything (as MemoryRepository.clear), in one write. */
  override clear(): void {
    this.database.exec(
      'BEGIN IMMEDIATE; DELETE FROM search_token; DELETE FROM search_date; DELETE FROM derived; DELETE FROM versions; DELETE FROM resources; COMMIT;',
    );
    this.results.clear();
  }

  /** Waits for every queued call, then closes the database (a checkpoint folds the WAL into the file). */
  async close(): Promise<void> {
    if (this.closed) return;
    await new Promise((resolve) => {
      this.waiting.push({ kind: 'read', fn: () => undefined, resolve, reject: resolve });
      if (!this.draining) void this.drain();
    });
    this.advanceDerivedMark();
    this.closed = true;
    this.statements.clear();
    this.reader?.close();
    this.database.close();
  }

  /**
   * Imports the units of an old NDJSON journal as they were written (no validation, meta kept), in one
   * write, and records that it did: a journal is imported once even if renaming it afterwards fails.
   * Returns false when this store had already imported one.
   */
  importJournal(units: JournalOp[][]): Promise<boolean> {
    return this.run('write', () => {
      if (this.sql("SELECT 1 FROM store_meta WHERE name = 'journal-imported'").get()) return false;
      for (const unit of units) {
        for (const op of unit) {
          if (op.op === 'put') this.put(op.resource as Stored, JSON.stringify(op.resource));
          else if (op.op === 'delete') this.markDeleted(op.resourceType, op.id);
          else for (const id of op.ids) this.drop(op.resourceType, id);
        }
      }
      this.sql("INSERT INTO store_meta (name, value) VALUES ('journal-imported', ?)").run(new Date().toISOString());
      return true;
    });
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
  override createResource<T extends Resource>(resource: T, options?: CreateResourceOptions, update = false): Promise<WithId<T>> {
    return this.run(
      'write',
      () => {
        const input = update || options?.assignedId ? resource : { ...resource, id: undefined };
        writeValidation.validate(input);
        const searchReference = searchReferenceProblem(input);
        if (searchReference) throw new OperationOutcomeError(badRequest(searchReference, 'reference'));
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
        const prepared = this.preparedNow();
        if (!update) {
          if (this.currentText(result.resourceType, result.id) !== undefined) {
            if (prepared) throw new NeedsWriteLock();
            throw new OperationOutcomeError(badRequest('Assigned ID is already in use'));
          }
          prepared?.checks.push({ kind: 'absent', type: result.resourceType, id: result.id });
        }
        const text = JSON.stringify(result);
        if (prepared) prepared.writes.push({ resource: result, text, rows: lookupRows(result), stamped: !this.seedingNow });
        else this.put(result, text);
        return result;
      },
      true,
    );
  }

  /** Updates (or creates with the given id) a resource; If-Match is checked inside the write. */
  override updateResource<T extends Resource>(resource: T, options?: UpdateResourceOptions): Promise<WithId<T>> {
    return this.run(
      'write',
      () => {
        if (!resource.id) {
          throw new OperationOutcomeError(badRequest('Missing id'));
        }
        if (options?.ifMatch) {
          const versionId = this.currentVersionId(resource.resourceType, resource.id);
          const prepared = this.preparedNow();
          // Prepared: a version other than the expected one is decided under the write lock (it may be ours).
          if (prepared && versionId !== options.ifMatch) throw new NeedsWriteLock();
          if (versionId === undefined) {
            throw new OperationOutcomeError(notFound);
          }
          if (versionId !== options.ifMatch) {
            throw new OperationOutcomeError(preconditionFailed);
          }
          prepared?.checks.push({ kind: 'version', type: resource.resourceType, id: resource.id, versionId });
        }
        return this.createResource(resource, undefined, true);
      },
      true,
    );
  }

  /** Patches a resource in one write; the patched result is validated like any update. */
  override patchResource<T extends Resource>(...args: Parameters<MemoryRepository['patchResource']>): Promise<WithId<T>> {
    return this.run('write', () => super.patchResource<T>(...args));
  }

  /** The current version (a fresh copy). */
  override readResource<T extends Resource>(resourceType: string, id: string): Promise<T> {
    return this.run('read', () => {
      const resource = this.current(resourceType, id);
      if (!resource) {
        throw new OperationOutcomeError(notFound);
      }
      return resource as unknown as T;
    });
  }

  /**
   * Medplum's readReferences, each distinct reference read once: `_include` asks for the owner of every
   * Task of a page, mostly the same few (a governance report read one PractitionerRole ~20,000 times).
   * Results in the references' order; a repeated reference gets the same result, which
   * getExtraEntries keeps once anyway.
   */
  override readReferences<T extends Resource>(references: readonly Reference<T>[]): Promise<(T | OperationOutcomeError)[]> {
    const reads = new Map<string | undefined, Promise<T | OperationOutcomeError>>();
    return Promise.all(
      references.map((reference) => {
        let read = reads.get(reference.reference);
        if (!read) {
          read = super.readReferences([reference]).then(([result]) => result as T | OperationOutcomeError);
          reads.set(reference.reference, read);
        }
        return read;
      }),
    );
  }

  /** Deletes a resource (its history stays, as in Medplum). */
  override deleteResource(resourceType: string, id: string, options?: DeleteResourceOptions): Promise<void> {
    return this.run('write', () => {
      const existing = this.current(resourceType, id);
      if (!existing) {
        throw new OperationOutcomeError(notFound);
      }
      if (options?.ifMatch && existing.meta?.versionId !== options.ifMatch) {
        throw new OperationOutcomeError(preconditionFailed);
      }
      this.markDeleted(resourceType, id);
    });
  }

  /** Removes resources and their history for good. */
  override expungeResources(resourceType: string, ids: string[]): Promise<void> {
    return this.run('write', () => {
      for (const id of ids) this.drop(resourceType, id);
    });
  }

  /** Conditional create (If-None-Exist): the search and the create are one write, under the write lock. */
  override conditionalCreate<T extends Resource>(
    resource: T,
    search: SearchRequest<T>,
    options?: CreateResourceOptions,
  ): Promise<{ resource: WithId<T>; outcome: OperationOutcome }> {
    if (search.resourceType !== resource.resourceType) {
      throw new OperationOutcomeError(badRequest('Search type must match resource type for conditional update'));
    }
    return this.run(
      'write',
      async () => {
        const request: SearchRequest = { ...search, count: 2, sortRules: undefined };
        const matches = (await this.searchHere(request)).entry ?? [];
        const prepared = this.preparedNow();
        if (prepared) {
          if (matches.length > 1) throw new NeedsWriteLock();
          // Decided again under the write lock (apply): the same search must find the same.
          prepared.checks.push({ kind: 'search', request, ids: matches.map((m) => m.resource?.id as string) });
        }
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
      },
      true,
    );
  }

  /**
   * Runs the callback as one SQL transaction: on any error everything it wrote is rolled back.
   *
   * Prepared first without the write lock: a transaction of creates and updates (what the adapter writes)
   * does its validation, serialization and lookup rows (~2/3 of its time, measured) while other writes
   * (of this process, or of another on the same DATA_DIR) proceed; the lock is then held only to check
   * that what it was decided on still holds — the ids it creates are free, the versions its If-Match
   * updates expect are current — and to write its rows. If anything changed, or the callback needs to
   * read or to decide a condition (a conditional create, a delete), it runs again under the lock from its
   * start, as Medplum's routers re-run a transaction (batch.ts: each attempt reprocesses every entry), so
   * the outcome is always the one a transaction run wholly under the lock would have had.
   */
  override async withTransaction<TResult>(callback: (repo: this) => Promise<TResult>): Promise<TResult> {
    if (operation.getStore() === 'write') return this.nestedTransaction(() => callback(this));
    if (operation.getStore() !== undefined || this.closed) return this.run('write', () => callback(this));
    const prepared: Prepared = { checks: [], writes: [] };
    let result: TResult;
    try {
      result = await operation.run('prepare', () => preparing.run(prepared, () => callback(this)));
    } catch (err) {
      if (err instanceof NeedsWriteLock) return this.run('write', () => callback(this));
      throw err;
    }
    if (await this.run('write', () => this.apply(prepared))) return result;
    return this.run('write', () => callback(this));
  }

  /**
   * Runs fn as one write under the store's write lock, whatever it calls (reads, searches, a FHIR
   * transaction: all join it): for a request that must be decided wholly in one place (fhir-exchange.ts).
   */
  exclusive<R>(fn: () => Promise<R>): Promise<R> {
    return this.run('write', fn);
  }

  /**
   * A transaction, or a write, inside a running write (exclusive): all or nothing within it, in a savepoint
   * of its own — Medplum's router answers a failed transaction or batch entry with an outcome rather than an
   * error, so the write around it would otherwise keep what was written before the failure.
   */
  private async nestedTransaction<TResult>(fn: () => TResult | Promise<TResult>): Promise<TResult> {
    // SQLite may have rolled the whole transaction back (a full disk): nothing more is written in this turn,
    // which would otherwise be written outside any transaction.
    if (!this.database.isTransaction) {
      throw new OperationOutcomeError(
        storeUnavailable(RETRY_AFTER_FULL_SECONDS, 'The store rolled this write back; nothing of it was kept.'),
      );
    }
    this.database.exec('SAVEPOINT nested_transaction');
    try {
      const result = await fn();
      this.database.exec('RELEASE nested_transaction');
      return result;
    } catch (err) {
      if (this.database.isTransaction) this.database.exec('ROLLBACK TO nested_transaction; RELEASE nested_transaction');
      throw err;
    }
  }

  /** The transaction being prepared by the running operation, if it is a prepare. */
  private preparedNow(): Prepared | undefined {
    return operation.getStore() === 'prepare' ? preparing.getStore() : undefined;
  }

  /**
   * Writes a prepared transaction's rows (under the write lock, in the running write group) if what it was
   * decided on still holds; false, writing nothing, when it does not.
   */
  private async apply(prepared: Prepared): Promise<boolean> {
    for (const check of prepared.checks) {
      if (check.kind === 'search') {
        const ids = ((await this.searchHere(check.request)).entry ?? []).map((e) => e.resource?.id);
        if (ids.length !== check.ids.length || ids.some((id, i) => id !== check.ids[i])) return false;
        continue;
      }
      const current = this.currentVersionId(check.type, check.id);
      if (check.kind === 'absent' ? current !== undefined : current !== check.versionId) return false;
    }
    // meta.lastUpdated is when the write is made, as for a write made under the lock: commit order and
    // lastUpdated order stay one (a `_lastUpdated=ge` cursor, followup/task-changes.ts, misses nothing).
    const now = new Date().toISOString();
    for (const write of prepared.writes) {
      const { resource } = write;
      if (!write.stamped || resource.meta?.lastUpdated === now) {
        this.put(resource, write.text, write.rows);
        continue;
      }
      (resource.meta as NonNullable<Resource['meta']>).lastUpdated = now;
      const lastUpdated = `${resource.resourceType}._lastUpdated`;
      const dates = [...write.rows.dates.filter((d) => d.code !== lastUpdated), ...dateRows(resource, ['_lastUpdated'])];
      this.put(resource, JSON.stringify(resource), { tokens: write.rows.tokens, dates });
    }
    return true;
  }

  /** History newest first. */
  override readHistory<T extends Resource>(resourceType: string, id: string, options?: ReadHistoryOptions): Promise<Bundle<WithId<T>>> {
    return this.run('read', () => {
      const row = this.row(resourceType, id);
      if (!row || row.deleted) throw new OperationOutcomeError(notFound);
      const rows = this.sql('SELECT content FROM versions WHERE rid = ? ORDER BY vid DESC LIMIT ? OFFSET ?').all(
        row.rid,
        options?.limit ?? -1,
        options?.offset ?? 0,
      ) as { content: string }[];
      const entry = rows.map((r) => ({ resource: JSON.parse(r.content) as WithId<T> }));
      return { resourceType: 'Bundle', type: 'history', ...(entry.length ? { entry } : undefined) } satisfies Bundle<WithId<T>>;
    });
  }

  /** One version of a resource. */
  override readVersion<T extends Resource>(resourceType: string, id: string, versionId: string): Promise<T> {
    return this.run('read', () => {
      const row = this.row(resourceType, id);
      if (!row || row.deleted) throw new OperationOutcomeError(notFound);
      const version = this.sql('SELECT content FROM versions WHERE rid = ? AND version_id = ?').get(row.rid, versionId) as
        { content: string } | undefined;
      if (!version) throw new OperationOutcomeError(notFound);
      return JSON.parse(version.content) as T;
    });
  }

  /**
   * MemoryRepository.search's results from SQLite: candidates from the lookup tables when a filter allows
   * it (else every resource of the type), each checked with Medplum's matcher, in creation order then by
   * the sort rules; the ordered matches of a search with more pages are cached, so each further page costs
   * only itself.
   */
  override search<T extends Resource>(searchRequest: SearchRequest<T>, _options?: SearchOptions): Promise<Bundle<WithId<T>>> {
    return this.run('read', () => this.searchHere(searchRequest));
  }

  /**
   * Every match of a search (`type` and its query, as a FHIR search URL's parameters; no paging, `_include`
   * or `_revinclude`), in the order `search` gives them, each handed to `visit` as the value the store's
   * Derivation keeps beside it, or — when none is kept under the Derivation's key (written by an older
   * release, another key, or no value) — as the resource. The matches are listed once and read in
   * batches, with a turn of the event loop between; a resource deleted meanwhile is left out, as from a
   * later page of a search. Throws an OperationOutcomeError for a search Medplum cannot parse.
   */
  visitDerived(type: string, query: Record<string, string | readonly string[]>, visit: (match: DerivedMatch) => void): Promise<void> {
    const searchRequest = parseSearchRequest(type, query as Record<string, string | string[]>);
    if (searchRequest.include || searchRequest.revInclude) {
      return Promise.reject(new OperationOutcomeError(badRequest('visitDerived reads matches only: no _include or _revinclude')));
    }
    return this.run('read', async () => {
      const { plain, chains } = chainedFilters(searchRequest);
      // The same cached match list as a paged search of the same filters (searchHere).
      const cacheKey = chains.length ? undefined : SearchResultCache.key(searchRequest);
      let rids = cacheKey === undefined ? undefined : this.results.get(type, cacheKey);
      if (!rids) {
        rids = this.matches(plain, chains, 0).map((m) => m.rid);
        if (cacheKey !== undefined) this.results.set(type, cacheKey, rids);
      }
      const key = this.derivation?.key ?? '';
      for (let i = 0; i < rids.length; i += DERIVED_BATCH) {
        if (i > 0) await new Promise((resolve) => setImmediate(resolve));
        // The resource's text is read only when no value is kept (SQLite evaluates the CASE lazily).
        const rows = this.sql(
          'SELECT j.key AS at, d.content AS derived, CASE WHEN d.content IS NULL THEN v.content END AS content FROM json_each(?) j CROSS JOIN resources r ON r.rid = j.value CROSS JOIN versions v ON v.vid = r.cur LEFT JOIN derived d ON d.vid = r.cur AND d.key = ? WHERE r.type = ? AND r.deleted = 0',
        ).all(JSON.stringify(rids.slice(i, i + DERIVED_BATCH)), key, type) as {
          at: number;
          derived: string | null;
          content: string | null;
        }[];
        rows.sort((a, b) => a.at - b.at);
        for (const row of rows) {
          visit(row.derived !== null ? { derived: JSON.parse(row.derived) } : { resource: JSON.parse(row.content as string) as Resource });
        }
      }
    });
  }

  /** search, in the running operation (a read, a write, or a prepare: conditionalCreate). */
  private async searchHere<T extends Resource>(searchRequest: SearchRequest<T>): Promise<Bundle<WithId<T>>> {
    const { plain, chains } = chainedFilters(searchRequest);
    const offset = searchRequest.offset ?? 0;
    const end = searchRequest.count === undefined ? undefined : offset + searchRequest.count;
    const type = searchRequest.resourceType;
    // A chained filter reads other types, whose changes the cache does not follow; inside a write the
    // matches may yet be rolled back (a prepare decides again under the lock: not worth keeping).
    const cacheKey = chains.length || operation.getStore() !== 'read' ? undefined : SearchResultCache.key(searchRequest);
    let page: Stored[];
    let total: number;
    const cached = cacheKey === undefined ? undefined : this.results.get(type, cacheKey);
    if (cached) {
      total = cached.length;
      page = this.currentOf(type, cached.slice(offset, end));
    } else {
      const matched = this.matches(plain, chains, end);
      total = matched.length;
      const onPage = matched.slice(offset, end);
      page = onPage.every((m) => m.resource)
        ? onPage.map((m) => m.resource as Stored)
        : this.currentOf(
            type,
            onPage.map((m) => m.rid),
          );
      // A count alone (`_summary=count`, _count=0) is not paged through: nothing to keep.
      if (cacheKey !== undefined && end !== undefined && end > offset && end < total) {
        this.results.set(
          type,
          cacheKey,
          matched.map((m) => m.rid),
        );
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
      await getExtraEntries(
        this,
        searchRequest,
        entries.map((e) => e.resource as WithId<T>),
        entries,
      );
      bundle.entry = entries as BundleEntry<WithId<T>>[];
    }
    return bundle;
  }

  /**
   * The SQL selecting a search's candidates from its filters' lookup conditions, and the filters left for
   * Medplum's matcher: those no lookup table decides exactly (indexes.ts SqlCondition.exact). `decided`
   * when none is left.
   */
  private query(plain: SearchRequest): { where: string; params: string[]; residual: SearchRequest; decided: boolean } {
    const found: SqlCondition[] = [];
    const residual: NonNullable<SearchRequest['filters']> = [];
    for (const filter of plain.filters ?? []) {
      const condition = filterCondition(plain.resourceType, filter, this.systemKeys);
      if (condition) found.push(condition);
      if (!condition?.exact) residual.push(filter);
    }
    // A negated condition only excludes (indexes.ts SqlCondition.negated): the others drive, smallest first.
    const including = found.filter((c) => !c.negated);
    if (including.length > 1) {
      // SQLite keeps no statistics of these keys: count each condition's rows (up to a bound) and let
      // the smallest drive, the usual selectivity breaking ties (one patient may hold most of a store).
      const count = (c: SqlCondition, limit: number) =>
        (this.sql(`SELECT count(*) AS n FROM (${c.rows} LIMIT ${limit})`).get(...c.params) as { n: number }).n;
      const size = new Map(including.map((c) => [c, count(c, ESTIMATE_LIMIT)]));
      if (including.every((c) => size.get(c) === ESTIMATE_LIMIT)) {
        for (const c of including) size.set(c, count(c, WIDE_ESTIMATE_LIMIT));
      }
      including.sort((a, b) => (size.get(a) as number) - (size.get(b) as number) || a.rank - b.rank);
    }
    const params: string[] = [];
    const conditions = [...including, ...found.filter((c) => c.negated)].map((c, i) => {
      params.push(...c.params);
      // The first (most selective) drives the query by rowid; the others only look up each of its rows
      // (SQLite has no statistics to choose by, and would otherwise read a broad filter's every row).
      // A date range must not drive its own check: SQLite would scan the (code, low) range once per row.
      const rows = c.rows.replace('FROM search_date WHERE', 'FROM search_date INDEXED BY search_date_by_resource WHERE');
      if (c.negated) return `NOT EXISTS (${rows} AND rid = r.rid)`;
      return i === 0 ? `r.rid IN (${c.rows})` : `EXISTS (${rows} AND rid = r.rid)`;
    });
    conditions.push(including.length ? '+r.type = ?' : 'r.type = ?', 'r.deleted = 0');
    params.push(plain.resourceType);
    return { where: conditions.join(' AND '), params, residual: { ...plain, filters: residual }, decided: residual.length === 0 };
  }

  /**
   * Every match of a search in Medplum's order: storage (creation) order, then each sort rule in turn.
   * Only the first `keep` matches keep their parsed resource (all of them when sorting): a count over
   * 100,000 Tasks holds ids, not 100,000 parsed resources. Only the filters the lookup conditions leave
   * undecided are matched again; when none is, no resource is read (Candidate.resource undefined).
   */
  private matches(plain: SearchRequest, chains: ChainedFilter[], keep = Infinity): Candidate[] {
    const query = this.query(plain);
    const sorting = Boolean(plain.sortRules?.length);
    if (query.decided && !chains.length && !sorting) {
      // Every filter decided by the lookup tables, in storage order: the row ids alone, from SQL; the page
      // is read by them (currentOf).
      const rows = this.sql(`SELECT r.rid AS rid FROM resources r WHERE ${query.where} ORDER BY r.ord`).all(...query.params) as {
        rid: number;
      }[];
      return rows.map((row) => ({ rid: row.rid }));
    }
    const statement = this.sql(
      `SELECT r.rid AS rid, v.content AS content FROM resources r JOIN versions v ON v.vid = r.cur WHERE ${query.where} ORDER BY r.ord`,
    );
    const matched: Candidate[] = [];
    for (const row of statement.iterate(...query.params) as Iterable<{ rid: number; content: string }>) {
      const resource = JSON.parse(row.content) as Stored;
      if ((query.decided || matchesFilters(resource, query.residual)) && matchesChains(resource, chains, (t, i) => this.current(t, i))) {
        matched.push(sorting || matched.length < keep ? { rid: row.rid, resource } : { rid: row.rid });
      }
    }
    return sorting ? sortByRules(matched as Required<Candidate>[], plain.sortRules) : matched;
  }

  /**
   * The current versions of the resources of row ids (a page), in that order, read in one statement; one
   * deleted since the row ids were listed is left out, and so is a row id that now holds another type.
   * CROSS JOIN keeps the row ids driving (SQLite would otherwise scan the type). The order is restored
   * here, not by ORDER BY: SQLite would sort the rows with their content (a fifth of the page's time).
   */
  private currentOf(type: string, rids: readonly number[]): Stored[] {
    if (!rids.length) return [];
    const rows = this.sql(
      'SELECT j.key AS at, v.content AS content FROM json_each(?) j CROSS JOIN resources r ON r.rid = j.value CROSS JOIN versions v ON v.vid = r.cur WHERE r.type = ? AND r.deleted = 0',
    ).all(JSON.stringify(rids), type) as { at: number; content: string }[];
    const page: (Stored | undefined)[] = new Array(rids.length);
    for (const row of rows) page[row.at] = JSON.parse(row.content) as Stored;
    return page.filter((r): r is Stored => r !== undefined);
  }

  /** The current version, parsed (a fresh object), or undefined when absent or deleted. */
  private current(resourceType: string, id: string): Stored | undefined {
    const text = this.currentText(resourceType, id);
    return text === undefined ? undefined : (JSON.parse(text) as Stored);
  }

  private currentText(resourceType: string, id: string): string | undefined {
    const row = this.sql(
      'SELECT v.content AS content FROM resources r JOIN versions v ON v.vid = r.cur WHERE r.type = ? AND r.id = ? AND r.deleted = 0',
    ).get(resourceType, id) as { content: string } | undefined;
    return row?.content;
  }

  /** meta.versionId of the current version, or undefined when absent or deleted (without parsing the resource). */
  private currentVersionId(resourceType: string, id: string): string | undefined {
    const row = this.sql(
      'SELECT v.version_id AS versionId FROM resources r JOIN versions v ON v.vid = r.cur WHERE r.type = ? AND r.id = ? AND r.deleted = 0',
    ).get(resourceType, id) as { versionId: string } | undefined;
    return row?.versionId;
  }

  private row(resourceType: string, id: string): { rid: number; deleted: number; cur: number } | undefined {
    return this.sql('SELECT rid, deleted, cur FROM resources WHERE type = ? AND id = ?').get(resourceType, id) as
      { rid: number; deleted: number; cur: number } | undefined;
  }

  /** Makes resource (serialized as text) the current version: a new history row, lookup rows rewritten. */
  private put(resource: Stored, text: string, rows = lookupRows(resource)): void {
    const type = resource.resourceType;
    const existing = this.row(type, resource.id);
    let rid: number;
    if (existing) {
      rid = existing.rid;
      this.unindex(rid);
      this.sql('DELETE FROM derived WHERE vid = ?').run(existing.cur);
    } else {
      rid = Number(
        this.sql(
          'INSERT INTO resources (type, id, ord, cur) VALUES (?, ?, (SELECT coalesce(max(ord), 0) + 1 FROM resources WHERE type = ?), 0)',
        ).run(type, resource.id, type).lastInsertRowid,
      );
    }
    const vid = this.sql('INSERT INTO versions (rid, version_id, content) VALUES (?, ?, ?)').run(
      rid,
      resource.meta?.versionId ?? '',
      text,
    ).lastInsertRowid;
    if (existing?.deleted) {
      // Re-created after a delete: Medplum's storage puts it last.
      this.sql(
        'UPDATE resources SET cur = ?, deleted = 0, ord = (SELECT coalesce(max(ord), 0) + 1 FROM resources WHERE type = ?) WHERE rid = ?',
      ).run(vid, type, rid);
    } else {
      this.sql('UPDATE resources SET cur = ? WHERE rid = ?').run(vid, rid);
    }
    const { tokens, dates } = rows;
    const token = this.sql('INSERT OR IGNORE INTO search_token (code, key, rid) VALUES (?, ?, ?)');
    for (const t of tokens) token.run(t.code, t.key, rid);
    this.insertDates(rid, dates);
    this.keepDerived(Number(vid), resource);
    this.invalidate(type);
  }

  /**
   * Makes the Derivation's values of the current versions that have none under its key — a store written
   * by an older release, or under another key (a new release's, another time zone) — in the background, in
   * windows of DERIVED_WINDOW rows, each window one write that waits its turn behind the writes queued
   * meanwhile. Until it is done, visitDerived hands those resources out whole: answers are the same, only
   * slower. When done, store_meta records the key and the last version id it looked at (DERIVED_MARK): the
   * next start with the same key looks only at versions written since (another release's writes, a downgrade),
   * with another key at every resource again. Resolves with how many values it made, once done or when the
   * store closes; rejects on a write that fails (a full disk: the next start goes on).
   */
  async deriveMissing(): Promise<number> {
    const derivation = this.derivation;
    if (!derivation?.types.length) return 0;
    const { key } = derivation;
    const [marked, top] = await this.run('read', () => {
      const last = (this.sql('SELECT max(vid) AS top FROM versions').get() as { top: number | null }).top ?? 0;
      return [this.derivedMark(), last] as const;
    });
    if (marked?.key === key && marked.vid >= top) {
      this.derivedThrough = true;
      return 0;
    }
    const types = JSON.stringify(derivation.types);
    // Since the mark: the versions written after it that are still current (a version id range, read by rowid).
    // Otherwise every resource, by row id (its rows are small; versions' hold the content).
    const [statement, end] =
      marked?.key === key
        ? [
            'SELECT v.vid AS vid, v.content AS content FROM versions v JOIN resources r ON r.rid = v.rid AND r.cur = v.vid WHERE v.vid > ? AND v.vid <= ? AND r.deleted = 0 AND r.type IN (SELECT value FROM json_each(?)) AND NOT EXISTS (SELECT 1 FROM derived d WHERE d.vid = v.vid AND d.key = ?)',
            top,
          ]
        : [
            'SELECT r.cur AS vid, (SELECT content FROM versions WHERE vid = r.cur) AS content FROM resources r WHERE r.rid > ? AND r.rid <= ? AND r.deleted = 0 AND r.type IN (SELECT value FROM json_each(?)) AND NOT EXISTS (SELECT 1 FROM derived d WHERE d.vid = r.cur AND d.key = ?)',
            await this.run('read', () => (this.sql('SELECT max(rid) AS last FROM resources').get() as { last: number | null }).last ?? 0),
          ];
    let made = 0;
    try {
      if (marked?.key !== key) {
        // Making every value under this key replaces values of another: the mark no longer holds for that key
        // (a process of it must not move it past what this one replaced), and holds for this one from 0.
        await this.run('write', () =>
          this.sql('INSERT OR REPLACE INTO store_meta (name, value) VALUES (?, ?)').run(DERIVED_MARK, JSON.stringify({ key, vid: 0 })),
        );
      }
      for (let after = marked?.key === key ? marked.vid : 0; after < end && !this.closed; after += DERIVED_WINDOW) {
        made += await this.run('write', () => {
          const rows = this.sql(statement).all(after, after + DERIVED_WINDOW, types, key) as { vid: number; content: string }[];
          return rows.filter((row) => this.keepDerived(row.vid, JSON.parse(row.content) as Stored)).length;
        });
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (!this.closed) {
        // Versions written meanwhile by this process have their values; those of another process are looked at next time.
        await this.run('write', () =>
          this.sql('INSERT OR REPLACE INTO store_meta (name, value) VALUES (?, ?)').run(DERIVED_MARK, JSON.stringify({ key, vid: top })),
        );
        this.derivedThrough = true;
      }
    } catch (err) {
      if (!this.closed) throw err;
    }
    return made;
  }

  /**
   * On a clean close after deriveMissing finished: every version this process wrote since has its value, so
   * the mark moves to the last version id, and the next start does not look at them again (a store of
   * 100,000 versions written in one run took ~0.5 s of the next start's CPU). Best effort: a close that
   * cannot write leaves the mark, and the next start looks again.
   */
  private advanceDerivedMark(): void {
    if (!this.derivedThrough || !this.derivation) return;
    const { key } = this.derivation;
    const db = this.database;
    try {
      // One transaction: another process starting a re-make under its key (it writes the mark first) is seen here.
      db.exec('BEGIN IMMEDIATE');
      this.moveDerivedMark(key);
      db.exec('COMMIT');
    } catch {
      // The next start looks at those versions again.
      this.rollbackAll();
    }
  }

  /** deriveMissing's mark (DERIVED_MARK), read on `db` (the running operation's connection by default). */
  private derivedMark(db?: Database): { key: string; vid: number } | undefined {
    return derivedMarkOf(
      (this.sql('SELECT value FROM store_meta WHERE name = ?', db).get(DERIVED_MARK) as { value: string } | undefined)?.value,
    );
  }

  /** advanceDerivedMark's write, inside its transaction: only a mark of this key, with no other key's values above it. */
  private moveDerivedMark(key: string): void {
    const db = this.database;
    const marked = this.derivedMark(db);
    if (marked?.key !== key) return;
    // Another key's values above the mark (a process with another time zone wrote meanwhile): the next start looks at them.
    if (db.prepare('SELECT 1 FROM derived WHERE key <> ? AND vid > ? LIMIT 1').get(key, marked.vid)) return;
    const top = (db.prepare('SELECT max(vid) AS top FROM versions').get() as { top: number }).top;
    db.prepare('UPDATE store_meta SET value = ? WHERE name = ?').run(JSON.stringify({ key, vid: top }), DERIVED_MARK);
  }

  /** Keeps the derivation's value of a version just written (Derivation): false when it makes none or throws. */
  private keepDerived(vid: number, resource: Stored): boolean {
    if (!this.derivation?.types.includes(resource.resourceType)) return false;
    let value: unknown;
    try {
      value = this.derivation.derive(resource);
    } catch {
      // Read whole instead (visitDerived): a value that cannot be made must not fail the write.
      return false;
    }
    if (value === undefined) return false;
    this.sql('INSERT OR REPLACE INTO derived (vid, key, content) VALUES (?, ?, ?)').run(vid, this.derivation.key, JSON.stringify(value));
    return true;
  }

  /** Writes a resource's date lookup rows (indexes.ts dateRows), on the write connection. */
  private insertDates(rid: number, dates: readonly DateRow[]): void {
    const date = this.sql('INSERT INTO search_date (code, low, high, rid) VALUES (?, ?, ?, ?)', this.database);
    for (const d of dates) date.run(d.code, d.low, d.high, rid);
  }

  private markDeleted(resourceType: string, id: string): void {
    const row = this.row(resourceType, id);
    if (row && !row.deleted) {
      this.unindex(row.rid);
      this.sql('UPDATE resources SET deleted = 1 WHERE rid = ?').run(row.rid);
      this.invalidate(resourceType);
    }
  }

  private drop(resourceType: string, id: string): void {
    const row = this.row(resourceType, id);
    if (row) {
      this.unindex(row.rid);
      this.sql('DELETE FROM derived WHERE vid IN (SELECT vid FROM versions WHERE rid = ?)').run(row.rid);
      this.sql('DELETE FROM versions WHERE rid = ?').run(row.rid);
      this.sql('DELETE FROM resources WHERE rid = ?').run(row.rid);
      this.invalidate(resourceType);
    }
  }

  private invalidate(type: string): void {
    this.results.invalidate(type);
    this.touched.add(type);
  }

  private unindex(rid: number): void {
    this.sql('DELETE FROM search_token WHERE rid = ?').run(rid);
    this.sql('DELETE FROM search_date WHERE rid = ?').run(rid);
  }

  /** A prepared statement, prepared once per connection: the write connection inside a write, else the reader. */
  private sql(text: string, db: Database = operation.getStore() === 'write' || !this.reader ? this.database : this.reader): StatementSync {
    let prepared = this.statements.get(db);
    if (!prepared) {
      prepared = new Map();
      this.statements.set(db, prepared);
    }
    let statement = prepared.get(text);
    if (!statement) {
      statement = db.prepare(text);
      // Search statements are built per filter combination; keep the cache bounded.
      if (prepared.size > 500) prepared.clear();
      prepared.set(text, statement);
    }
    return statement;
  }

  /**
   * Runs fn as one operation: a write waits for its turn on the write connection (see drain), a read runs
   * on the read connection at once (in memory: takes its turn too). A call made inside a running one joins
   * it. A retryable SQLite failure becomes a store-unavailable OperationOutcomeError (503).
   */
  private run<R>(kind: Exclude<OperationKind, 'prepare'>, fn: () => R | Promise<R>, preparable = false): Promise<R> {
    const running = operation.getStore();
    if (running) {
      if (running === 'read' && kind === 'write') {
        return Promise.reject(new Error('A write inside a read of the embedded FHIR store'));
      }
      // A prepared transaction only creates and updates (createResource, updateResource): anything else
      // is decided under the write lock.
      if (running === 'prepare' && !preparable) return Promise.reject(new NeedsWriteLock());
      // A write inside a running write (a batch resolved under the lock: fhir-exchange.ts) is all or nothing
      // on its own: Medplum answers a batch entry's failure and goes on with the next.
      if (running === 'write' && kind === 'write') return this.nestedTransaction(fn);
      return Promise.resolve().then(fn);
    }
    if (this.closed) {
      return Promise.reject(new Error('The embedded FHIR store is closed'));
    }
    if (kind === 'read' && this.reader) {
      return operation.run('read', async () => {
        try {
          this.followOtherProcesses();
          return await fn();
        } catch (err) {
          throw asStoreError(err);
        }
      });
    }
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ kind, fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.draining) void this.drain();
    });
  }

  /** Runs the queued turns in order until none is left. */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      for (let turn = this.waiting.shift(); turn; turn = this.waiting.shift()) {
        if (turn.kind === 'write') await this.writeGroup(turn);
        else await this.readTurn(turn);
      }
    } finally {
      this.draining = false;
    }
  }

  /** A read on the write connection (in-memory store), in a snapshot of its own. */
  private async readTurn(turn: Turn): Promise<void> {
    await operation.run('read', async () => {
      try {
        this.followOtherProcesses();
        this.database.exec('BEGIN');
        const result = await turn.fn();
        this.database.exec('COMMIT');
        turn.resolve(result);
      } catch (err) {
        this.rollbackAll();
        turn.reject(asStoreError(err));
      }
    });
  }

  /**
   * Runs `first` and every write queued right behind it (up to MAX_GROUP) in one SQL transaction, each in
   * its own savepoint: a write that fails is rolled back alone and rejected at once; the others are
   * answered only after the COMMIT. If SQLite itself rolls the transaction back (a full disk, an I/O
   * error) or the COMMIT fails, every write of the group is rejected: none was acknowledged.
   */
  private async writeGroup(first: Turn): Promise<void> {
    const done: { turn: Turn; result: unknown }[] = [];
    const failAll = (err: unknown) => {
      this.rollbackAll();
      const failure = asStoreError(err);
      for (const d of done) d.turn.reject(failure);
      this.forgetTouched();
    };
    if (this.reader) {
      // On disk, gather first: one event-loop turn lets the requests already received queue their writes,
      // which then share this group's COMMIT (one fsync). Gathered before the write lock is taken, not
      // while holding it: a turn runs other requests' mapping and gates, and another process (cluster
      // mode) waiting for the lock would wait through them (measured with WORKERS=2: the lock was held
      // 75-85 % of the time and one worker made 97 % of the writes). Taken before every group, even with
      // writes queued: in-process FHIR calls resolve as microtasks, so without it a burst ran to its end
      // without one event-loop turn — no signal, timer or new connection handled meanwhile (SIGTERM
      // was seen only after the last record of a 120-record burst was answered).
      await new Promise((resolve) => setImmediate(resolve));
    }
    try {
      await beginImmediate(this.database);
      this.followOtherProcesses();
    } catch (err) {
      first.reject(asStoreError(err));
      return;
    }
    for (let turn: Turn | undefined = first; turn; turn = this.nextInGroup(done.length)) {
      const current = turn;
      try {
        this.database.exec('SAVEPOINT unit');
        const result = await operation.run('write', async () => current.fn());
        this.database.exec('RELEASE unit');
        done.push({ turn: current, result });
      } catch (err) {
        if (!this.database.isTransaction) {
          current.reject(asStoreError(err));
          failAll(err);
          return;
        }
        try {
          this.database.exec('ROLLBACK TO unit; RELEASE unit');
        } catch (rollbackErr) {
          current.reject(asStoreError(err));
          failAll(rollbackErr);
          return;
        }
        current.reject(asStoreError(err));
      }
    }
    try {
      this.database.exec('COMMIT');
    } catch (err) {
      failAll(err);
      return;
    }
    this.forgetTouched();
    for (const d of done) d.turn.resolve(d.result);
  }

  /** The next write of the running group: one already queued (writeGroup gathered them). Reads end a group. */
  private nextInGroup(size: number): Turn | undefined {
    if (size >= MAX_GROUP || this.waiting[0]?.kind !== 'write') return undefined;
    return this.waiting.shift();
  }

  /** Ends any open transaction on the write connection, ignoring that SQLite may have ended it already. */
  private rollbackAll(): void {
    if (!this.database.isTransaction) return;
    try {
      this.database.exec('ROLLBACK');
    } catch {
      // Already rolled back by SQLite.
    }
  }

  /** Drops cached searches of the types the write group touched (a read may have cached them meanwhile). */
  private forgetTouched(): void {
    for (const type of this.touched) this.results.invalidate(type);
    this.touched.clear();
  }

  /** Drops cached searches when another process (another connection) has committed since we last looked. */
  private followOtherProcesses(): void {
    const version = (this.sql('PRAGMA data_version', this.database).get() as { data_version: number }).data_version;
    if (version !== this.dataVersion) {
      this.results.clear();
      this.dataVersion = version;
    }
  }
}
