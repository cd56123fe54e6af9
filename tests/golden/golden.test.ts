import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/config/mappings.js';
import { loadFhirDefinitions } from '../../src/contract/definitions.js';
import { collectReferences } from '../../src/fhir/lookup/resolve.js';
import { loadProfiles, type Profile } from '../../src/gates/load-profiles.js';
import { assess, mapOnce } from '../../src/pipeline/process-record.js';
import { parseRecord, pathwayCodes } from '../../src/records/index.js';
import { fixture } from '../harness.js';

/**
 * Golden transaction Bundles: the Bundle each fixture maps to on a first send, byte for byte (fullUrls are
 * name-based urn:uuids, so they are stable). A mapping change shows as a diff of tests/golden/<pathway>.json;
 * when the change is intended, regenerate with `UPDATE_GOLDEN=1 npx vitest run tests/golden` and review the diff.
 */
const update = process.env.UPDATE_GOLDEN === '1';
let profiles: Map<string, Profile>;
beforeAll(() => {
  loadFhirDefinitions();
  profiles = loadProfiles();
});

function bundleOf(pathway: string): string {
  const parsed = parseRecord(fixture(pathway));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const record = parsed.record;
  const resolution = {
    resolved: new Map(
      collectReferences(record).map(({ path, ref }) => [
        path,
        { literal: ref.reference as string, resource: { resourceType: ref.reference?.split('/')[0] } as Resource },
      ]),
    ),
    problems: [],
    unresolved: [],
    peerRoles: ['PractitionerRole/example-peer'],
  };
  const ev = assess(mapOnce(record, resolution, loadMappings()), { resolution, existing: new Map() }, profiles);
  return `${JSON.stringify(ev.bundle, null, 2)}\n`;
}

describe('golden transaction Bundles (tests/golden/<pathway>.json)', () => {
  for (const pathway of pathwayCodes) {
    it(`${pathway}: the fixture maps to exactly its golden Bundle`, () => {
      const file = join(import.meta.dirname, `${pathway}.json`);
      const actual = bundleOf(pathway);
      if (update) writeFileSync(file, actual);
      expect(existsSync(file), `${file}: run UPDATE_GOLDEN=1 npx vitest run tests/golden`).toBe(true);
      expect(actual).toBe(readFileSync(file, 'utf8'));
    });
  }
});
