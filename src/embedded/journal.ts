import { existsSync, mkdirSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Resource, ResourceType } from '@medplum/fhirtypes';

/** The journal file inside dataDir. */
export const JOURNAL_FILE = 'fhir-journal.ndjson';

/** One change to the store; a committed unit is a list of these. */
export type JournalOp =
  | { op: 'put'; resource: Resource }
  | { op: 'delete'; resourceType: ResourceType; id: string }
  | { op: 'expunge'; resourceType: ResourceType; ids: string[] };

/** Append-only NDJSON journal: one line per committed unit (a write or a whole transaction). */
export class Journal {
  private constructor(
    private readonly path: string,
    private handle: FileHandle | undefined,
  ) {}

  /** Opens (creating if needed) the journal in dataDir. */
  static async open(dataDir: string): Promise<Journal> {
    mkdirSync(dataDir, { recursive: true });
    const path = join(dataDir, JOURNAL_FILE);
    dropTornTail(path);
    const handle = await open(path, 'a');
    return new Journal(path, handle);
  }

  /** Reads every committed unit; a torn last line (crash during a write) is ignored, as it was never acknowledged. */
  readUnits(): JournalOp[][] {
    if (!existsSync(this.path)) {
      return [];
    }
    const lines = readFileSync(this.path, 'utf8').split('\n');
    const units: JournalOp[][] = [];
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (!line) {
        continue;
      }
      try {
        units.push(JSON.parse(line) as JournalOp[]);
      } catch (err) {
        if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l.length > 0)) {
          throw new Error(`Corrupt FHIR journal at line ${i + 1} of ${this.path}`, { cause: err });
        }
      }
    }
    return units;
  }

  /** Appends one unit and fsyncs it, so it is durable before the caller answers. */
  async append(unit: JournalOp[]): Promise<void> {
    if (!this.handle) {
      throw new Error('FHIR journal is closed');
    }
    await this.handle.appendFile(JSON.stringify(unit) + '\n');
    await this.handle.datasync();
  }

  /** Appends one unit given as its ops already serialized (the store keeps each version as JSON text). */
  async appendSerialized(ops: readonly string[]): Promise<void> {
    if (!this.handle) {
      throw new Error('FHIR journal is closed');
    }
    await this.handle.appendFile(`[${ops.join(',')}]\n`);
    await this.handle.datasync();
  }

  /** Closes the file. */
  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }
}

/** Cuts an unterminated last line (a write interrupted by a crash, never acknowledged) so new lines start clean. */
function dropTornTail(path: string): void {
  if (!existsSync(path) || statSync(path).size === 0) {
    return;
  }
  const content = readFileSync(path);
  if (content[content.length - 1] !== 0x0a) {
    truncateSync(path, content.lastIndexOf(0x0a) + 1);
  }
}
