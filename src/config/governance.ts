import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckedFile } from './checked-file.js';
import { governanceSchema, type GovernanceConfig } from './governance-schema.js';
import { defaultMappingsDir, MappingsError } from './mappings.js';

/** Reads and checks mappings/governance.json; throws MappingsError (start-up stops) when it is missing or invalid. */
export function loadGovernanceConfig(dir: string = defaultMappingsDir): GovernanceConfig {
  const file = join(dir, 'governance.json');
  if (!existsSync(file))
    throw new MappingsError([{ file, path: '', message: "is missing: copy it from the project's mappings/governance.json" }]);
  return readCheckedFile(file, governanceSchema);
}
