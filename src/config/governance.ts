import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { zodProblems } from './config-problems.js';
import { governanceSchema, type GovernanceConfig } from './governance-schema.js';
import { defaultMappingsDir, MappingsError } from './mappings.js';

/** Reads and checks mappings/governance.json; throws MappingsError (start-up stops) when it is missing or invalid. */
export function loadGovernanceConfig(dir: string = defaultMappingsDir): GovernanceConfig {
  const file = join(dir, 'governance.json');
  if (!existsSync(file)) throw new MappingsError([{ file, path: '', message: 'is missing: copy it from the project\'s mappings/governance.json' }]);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MappingsError([{ file, path: '', message: `is not valid JSON (${(err as Error).message})` }]);
  }
  const parsed = governanceSchema.safeParse(json, { reportInput: true });
  if (!parsed.success) throw new MappingsError(zodProblems(file, parsed.error.issues));
  return parsed.data;
}
