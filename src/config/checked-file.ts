import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { zodProblems } from './config-problems.js';
import { MappingsError } from './mappings.js';

/** Reads one JSON configuration file and checks it against its schema; throws MappingsError naming file and path. */
export function readCheckedFile<T>(file: string, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MappingsError([{ file, path: '', message: `is not valid JSON (${(err as Error).message})` }]);
  }
  const parsed = schema.safeParse(json, { reportInput: true });
  if (!parsed.success) throw new MappingsError(zodProblems(file, parsed.error.issues));
  return parsed.data;
}
