import type { Bundle, ElementDefinition, StructureDefinition } from '@medplum/fhirtypes';

/**
 * The R4 StructureDefinitions reduced to what Medplum's schema parser reads (`parseStructureDefinition`
 * and `indexStructureDefinitionBundle` in @medplum/core, src/typeschema/types.ts): each definition's
 * identity and `snapshot`, and of each element its path, cardinality, types, constraints, fixed and
 * pattern values, binding, slicing and texts. Left out: narratives, `differential`, mappings, comments,
 * requirements, examples. The full bundles are 32 MB of JSON whose parse raised the service's start-up
 * peak to ~230 MB of RSS; these are ~6 MB. `tests/gates/definitions-slim.test.ts` shows that every
 * definition parses to the same schema either way.
 */
export function slimStructureDefinitions(bundles: Bundle[]): Bundle<StructureDefinition> {
  const entry = bundles
    .flatMap((b) => b.entry ?? [])
    .map((e) => e.resource)
    .filter((r): r is StructureDefinition => r?.resourceType === 'StructureDefinition')
    .map((sd) => ({ resource: slimDefinition(sd) }));
  return { resourceType: 'Bundle', type: 'collection', entry };
}

/** The file `npm run build` writes beside the compiled src/contract/definitions.js (scripts/build.mjs). */
export const slimDefinitionsFile = 'r4-structure-definitions.json';

const definitionKeys = [
  'resourceType',
  'id',
  'url',
  'version',
  'name',
  'title',
  'status',
  'description',
  'kind',
  'abstract',
  'type',
  'baseDefinition',
  'derivation',
] as const satisfies readonly (keyof StructureDefinition)[];

const elementKeys = new Set<string>([
  'id',
  'path',
  'sliceName',
  'label',
  'definition',
  'min',
  'max',
  'base',
  'contentReference',
  'type',
  'constraint',
  'isSummary',
  'slicing',
  'binding',
] satisfies (keyof ElementDefinition)[]);

function slimDefinition(sd: StructureDefinition): StructureDefinition {
  const slim: Record<string, unknown> = {};
  for (const key of definitionKeys) if (sd[key] !== undefined) slim[key] = sd[key];
  if (sd.snapshot) slim.snapshot = { element: sd.snapshot.element.map(slimElement) };
  return slim as unknown as StructureDefinition;
}

function slimElement(element: ElementDefinition): ElementDefinition {
  const slim: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(element)) {
    // fixed[x] and pattern[x] are read by type (getTypedPropertyValue), whatever their suffix.
    if (elementKeys.has(key) || key.startsWith('fixed') || key.startsWith('pattern')) slim[key] = value;
  }
  if (element.constraint) {
    slim.constraint = element.constraint.map(({ key, severity, expression, human }) => ({ key, severity, expression, human }));
  }
  return slim as unknown as ElementDefinition;
}
