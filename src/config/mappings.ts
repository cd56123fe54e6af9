import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { z } from 'zod';
import { codesSchema, routingSchema, siteSchema, thresholdsSchema, type Mappings } from './mappings-schema.js';

/** Raised when a file in mappings/ is missing or does not match its schema; start-up stops. */
export class MappingsError extends Error {}

/** The default mappings folder: `mappings/` at the project root. */
export const defaultMappingsDir = resolve(import.meta.dirname, '../../mappings');

function loadFile<T>(dir: string, name: string, schema: z.ZodType<T>): T {
  const file = join(dir, name);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MappingsError(`${file}: cannot be read as JSON (${(err as Error).message})`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new MappingsError(`${file} is not valid:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** Reads and checks every file of a mappings folder; throws MappingsError naming the file and path. */
export function loadMappings(dir: string = defaultMappingsDir): Mappings {
  return {
    site: loadFile(dir, 'site.json', siteSchema),
    routing: loadFile(dir, 'routing.json', routingSchema),
    thresholds: loadFile(dir, 'thresholds.json', thresholdsSchema),
    codes: loadFile(dir, 'codes.json', codesSchema),
  };
}
