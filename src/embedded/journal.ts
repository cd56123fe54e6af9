import { chmodSync, existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Resource, ResourceType } from '@medplum/fhirtypes';

/**
 * The NDJSON journal that versions before the SQLite store kept in DATA_DIR: one line per committed unit
 * (a write or a whole transaction). It is only read now, once, to import an old DATA_DIR.
 */
export const JOURNAL_FILE = 'fhir-journal.ndjson';
/** What the journal is renamed to once imported (kept, owner-only, until the operator removes it). */
export const IMPORTED_JOURNAL_FILE = 'fhir-journal.ndjson.imported';

/** One change to the store; a committed unit is a list of these. */
export type JournalOp =
  | { op: 'put'; resource: Resource }
  | { op: 'delete'; resourceType: ResourceType; id: string }
  | { op: 'expunge'; resourceType: ResourceType; ids: string[] };

/** The journal of dataDir, if there is one still to import. */
export function pendingJournal(dataDir: string): string | undefined {
  const path = join(dataDir, JOURNAL_FILE);
  return existsSync(path) ? path : undefined;
}

/**
 * Every committed unit of a journal file (none if it is gone). A torn last line (a crash during a write,
 * never acknowledged) is ignored; a bad line before the end is corruption and throws.
 */
export function readJournal(path: string): JournalOp[][] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    // Moved aside meanwhile by another process starting on the same DATA_DIR, which imported it.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const lines = text.split('\n');
  const units: JournalOp[][] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!line) continue;
    try {
      units.push(JSON.parse(line) as JournalOp[]);
    } catch (err) {
      if (lines.slice(i + 1).some((l) => l.length > 0)) {
        throw new Error(`Corrupt FHIR journal at line ${i + 1} of ${path}`, { cause: err });
      }
    }
  }
  return units;
}

/**
 * Moves an imported journal aside (owner-only: it holds every concern text). A second process that started
 * on the same DATA_DIR at the same moment may have moved it already: that is not an error.
 */
export function retireJournal(dataDir: string): string {
  const to = join(dataDir, IMPORTED_JOURNAL_FILE);
  try {
    renameSync(join(dataDir, JOURNAL_FILE), to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (existsSync(to)) chmodSync(to, 0o600);
  return to;
}
