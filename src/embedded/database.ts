import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { DatabaseSync as DatabaseSyncType } from 'node:sqlite';
import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';

/** The database file inside DATA_DIR (SQLite adds `-wal` and `-shm` beside it). */
export const DATABASE_FILE = 'fhir.sqlite';
/** The schema this code writes (`PRAGMA user_version`); a newer one is refused. */
export const SCHEMA_VERSION = 1;
/**
 * store_meta row of a store whose every token row set includes the `system|value` keys (indexes.ts
 * lookupRows): written when the store is created, so a store written by an older version (without those
 * rows) keeps deciding `system|code` filters with Medplum's matcher.
 */
export const SYSTEM_KEYS_MARK = 'token-system-keys';
/**
 * Marks a store whose date rows read a month (`2025-02`) to its last day (indexes.ts datePeriod); a store
 * of an older version read it to day 31 rolled into the next month, and has its few such rows rewritten
 * once (repository.ts repairMonthEnds).
 */
export const MONTH_ENDS_MARK = 'date-month-ends';
/**
 * How long a write waits for another process's transaction before it gives up with 503. Transactions
 * take milliseconds; this covers a burst from a second process, not a hung one.
 */
export const BUSY_TIMEOUT_MS = 5_000;

export type Database = DatabaseSyncType;

// node:sqlite is stable in use but still flagged experimental in Node 22: its one start-up warning would
// read as a fault to an operator, so only that warning is kept off stderr.
const { DatabaseSync } = withoutSqliteWarning(() => createRequire(import.meta.url)('node:sqlite') as typeof import('node:sqlite'));

function withoutSqliteWarning<T>(load: () => T): T {
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (String(warning).includes('SQLite is an experimental feature')) return;
    (emit as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return load();
  } finally {
    process.emitWarning = emit;
  }
}

/**
 * Opens (creating if needed) the embedded store: `DATA_DIR/fhir.sqlite` in WAL mode with full fsync on
 * commit, or an in-memory database for ':memory:'. DATA_DIR is made owner-only (0700) and the database
 * files 0600 (SQLite gives `-wal` and `-shm` the database file's mode). Throws, saying why, when the
 * directory cannot hold a WAL database safely (e.g. a network file system) or was written by a newer
 * version: a process that cannot use the store safely must not start (pathways.md §7).
 */
export function openDatabase(dataDir: string | undefined): Database {
  let db: Database;
  if (dataDir === undefined) {
    db = new DatabaseSync(':memory:');
  } else {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    ownerOnly(dataDir, 0o700);
    const path = join(dataDir, DATABASE_FILE);
    // Created by us first, so that SQLite (which copies the database file's mode to -wal and -shm) never
    // creates any of them with the process umask.
    closeSync(openSync(path, 'a', 0o600));
    for (const file of [path, `${path}-wal`, `${path}-shm`]) ownerOnly(file, 0o600);
    db = new DatabaseSync(path);
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const mode = (db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode: string }).journal_mode;
    if (mode !== 'wal') {
      db.close();
      throw new Error(
        `The embedded FHIR store in ${dataDir} cannot use SQLite's WAL mode (journal_mode is "${mode}"): DATA_DIR must be a local file system`,
      );
    }
    // Every commit is fsynced before it is acknowledged (NORMAL could lose the last commits on power loss).
    db.exec('PRAGMA synchronous = FULL');
  }
  try {
    createSchema(db);
    createDerivedTable(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * A second, read-only connection to the store of dataDir (opened after openDatabase): it reads committed
 * data only (a WAL snapshot per statement), so reads never wait for this process's writes.
 */
export function openReader(dataDir: string): Database {
  const db = new DatabaseSync(join(dataDir, DATABASE_FILE));
  db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}; PRAGMA query_only = 1;`);
  return db;
}

function ownerOnly(path: string, mode: number): void {
  if (existsSync(path) && (statSync(path).mode & 0o777) !== mode) chmodSync(path, mode);
}

function createSchema(db: Database): void {
  const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
  if (version > SCHEMA_VERSION) {
    throw new Error(
      `The embedded FHIR store was written by a newer version (schema ${version}, this one knows ${SCHEMA_VERSION}): upgrade, or start on a copy of an older DATA_DIR`,
    );
  }
  if (version === SCHEMA_VERSION) return;
  db.exec(`
    BEGIN IMMEDIATE;
    -- One row per resource id: its creation order (Medplum's storage order) and current version.
    CREATE TABLE IF NOT EXISTS resources (
      rid INTEGER PRIMARY KEY,
      type TEXT NOT NULL,
      id TEXT NOT NULL,
      ord INTEGER NOT NULL,
      deleted INTEGER NOT NULL DEFAULT 0,
      cur INTEGER NOT NULL,
      UNIQUE (type, id)
    );
    CREATE INDEX IF NOT EXISTS resources_by_order ON resources (type, ord);
    -- Every version ever written, as its JSON text; history is these rows, newest first.
    CREATE TABLE IF NOT EXISTS versions (
      vid INTEGER PRIMARY KEY,
      rid INTEGER NOT NULL,
      version_id TEXT NOT NULL,
      content TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS versions_by_resource ON versions (rid, vid);
    -- Lookup tables of the current versions (src/embedded/indexes.ts), keyed 'Type.code'.
    CREATE TABLE IF NOT EXISTS search_token (
      code TEXT NOT NULL,
      key TEXT NOT NULL,
      rid INTEGER NOT NULL,
      PRIMARY KEY (code, key, rid)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS search_token_by_resource ON search_token (rid);
    CREATE TABLE IF NOT EXISTS search_date (
      code TEXT NOT NULL,
      low TEXT NOT NULL,
      high TEXT NOT NULL,
      rid INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS search_date_low ON search_date (code, low);
    CREATE INDEX IF NOT EXISTS search_date_high ON search_date (code, high);
    CREATE INDEX IF NOT EXISTS search_date_by_resource ON search_date (rid);
    CREATE TABLE IF NOT EXISTS store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    -- A store created by this code holds the system|value token rows of every resource (indexes.ts
    -- lookupRows): system|code searches are then decided in SQL. A store of an older version lacks them.
    INSERT OR IGNORE INTO store_meta (name, value) VALUES ('${SYSTEM_KEYS_MARK}', '1');
    INSERT OR IGNORE INTO store_meta (name, value) VALUES ('${MONTH_ENDS_MARK}', '1');
    PRAGMA user_version = ${SCHEMA_VERSION};
    COMMIT;
  `);
}

/**
 * The values a store keeps beside current versions (repository.ts Derivation): made at every open, not under
 * the schema version, so that a store of an older version gains the table and an older version can still
 * open a store that has it. A row is read only for the version (`vid`) it was made from and under its
 * `key`: a version an older release wrote has none, and its resource is read instead.
 */
function createDerivedTable(db: Database): void {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'derived_by_key'").get();
  if (!exists) {
    db.exec(`BEGIN IMMEDIATE;
      CREATE TABLE IF NOT EXISTS derived (vid INTEGER PRIMARY KEY, key TEXT NOT NULL, content TEXT NOT NULL);
      -- Which keys hold values above a version id (repository.ts advanceDerivedMark).
      CREATE INDEX IF NOT EXISTS derived_by_key ON derived (key, vid);
      COMMIT;`);
  }
}

/** Seconds a caller is asked to wait when the store cannot write (disk full, I/O error) or is locked. */
export const RETRY_AFTER_FULL_SECONDS = 30;
export const RETRY_AFTER_BUSY_SECONDS = 1;

/** The `id` of the OperationOutcome of a store that cannot answer now: answered 503 with Retry-After. */
export const STORE_UNAVAILABLE = 'store-unavailable';

// SQLite primary result codes (https://sqlite.org/rescode.html) that a later retry can get past.
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_NOMEM = 7;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_PROTOCOL = 15;
const transient = new Set([
  SQLITE_BUSY,
  SQLITE_LOCKED,
  SQLITE_NOMEM,
  SQLITE_READONLY,
  SQLITE_IOERR,
  SQLITE_FULL,
  SQLITE_CANTOPEN,
  SQLITE_PROTOCOL,
]);

/** True when SQLite answered SQLITE_BUSY or SQLITE_LOCKED: another connection holds the lock. */
export function isBusy(err: unknown): boolean {
  const e = err as { code?: string; errcode?: number };
  if (e?.code !== 'ERR_SQLITE_ERROR' || typeof e.errcode !== 'number') return false;
  const primary = e.errcode & 0xff;
  return primary === SQLITE_BUSY || primary === SQLITE_LOCKED;
}

/**
 * Takes SQLite's write lock (`BEGIN IMMEDIATE`) without blocking the event loop while another process
 * holds it. SQLite's own busy_timeout waits synchronously: a worker waiting for its peer's lock would
 * freeze every request it serves (measured with WORKERS=2: p99 3.7–8.4 s at 50 clients). Here each try
 * fails at once (busy_timeout 0) and the wait between tries is a timer, up to BUSY_TIMEOUT_MS in all;
 * then SQLITE_BUSY is thrown (a 503 with Retry-After through asStoreError).
 */
export async function beginImmediate(db: Database): Promise<void> {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  db.exec('PRAGMA busy_timeout = 0');
  try {
    for (;;) {
      try {
        db.exec('BEGIN IMMEDIATE');
        return;
      } catch (err) {
        if (!isBusy(err) || Date.now() >= deadline) throw err;
      }
      // Every millisecond: a write group holds the lock for a few ms, and a longer sleep let the holder take
      // it again and again while this process slept (WORKERS=2: one worker made 97 % of the writes with
      // 1-20 ms backoff). A failed BEGIN IMMEDIATE costs microseconds.
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  } finally {
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  }
}

/** An OperationOutcome of the store being unable to answer now, with the wait (s) to give the caller. */
export function storeUnavailable(retryAfterSeconds: number, text: string): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    id: STORE_UNAVAILABLE,
    issue: [{ severity: 'error', code: 'transient', details: { text }, diagnostics: String(retryAfterSeconds) }],
  };
}

/** The wait (s) of a store-unavailable outcome, or undefined for any other outcome. */
export function storeRetryAfter(outcome: OperationOutcome): number | undefined {
  if (outcome.id !== STORE_UNAVAILABLE) return undefined;
  return Number(outcome.issue?.[0]?.diagnostics) || RETRY_AFTER_FULL_SECONDS;
}

/**
 * A SQLite error a retry can get past (disk full, I/O error, locked by another process) as a
 * store-unavailable OperationOutcomeError; anything else unchanged. The SQLite text is not passed on
 * (it may name paths); the outcome says what a caller can do.
 */
export function asStoreError(err: unknown): unknown {
  const e = err as { code?: string; errcode?: number };
  if (e?.code !== 'ERR_SQLITE_ERROR' || typeof e.errcode !== 'number') return err;
  const primary = e.errcode & 0xff;
  if (!transient.has(primary)) return err;
  if (primary === SQLITE_BUSY || primary === SQLITE_LOCKED) {
    return new OperationOutcomeError(
      storeUnavailable(
        RETRY_AFTER_BUSY_SECONDS,
        "The FHIR store is busy with another process's writes; nothing was written. Retry shortly.",
      ),
      { cause: err },
    );
  }
  return new OperationOutcomeError(
    storeUnavailable(
      RETRY_AFTER_FULL_SECONDS,
      'The FHIR store cannot write now (disk full or I/O error); nothing was written. Retry later.',
    ),
    { cause: err },
  );
}
