import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultMappingsDir } from '../../src/config/mappings.js';

/** A copy of the project's mappings/ in a temporary folder, to break or extend one file at a time. */
export interface TempMappings {
  dir: string;
  /** Reads a JSON file of the copy, lets `edit` change it, writes it back. */
  edit(file: string, edit: (json: any) => void): void;
  write(file: string, json: unknown): void;
  remove(): void;
}

/** Copies mappings/ to a fresh temporary folder. */
export function tempMappings(): TempMappings {
  const dir = mkdtempSync(join(tmpdir(), 'ppf-mappings-'));
  cpSync(defaultMappingsDir, dir, { recursive: true });
  return {
    dir,
    edit(file, edit) {
      const path = join(dir, file);
      const json = JSON.parse(readFileSync(path, 'utf8'));
      edit(json);
      writeFileSync(path, JSON.stringify(json));
    },
    write(file, json) {
      writeFileSync(join(dir, file), typeof json === 'string' ? json : JSON.stringify(json));
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
