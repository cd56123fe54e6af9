import { getAllDataTypes, OperationOutcomeError, validateResource, type InternalTypeSchema } from '@medplum/core';
import type { Bundle, Communication, Consent, Resource, Task } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/config/mappings.js';
import { loadFhirDefinitions } from '../../src/contract/definitions.js';
import { structuralIssues } from '../../src/gates/evaluate.js';
import { loadProfiles, type Profile } from '../../src/gates/load-profiles.js';
import { opaqueStringProperties, resourceShape, StructureCache, subtreeReadingTypes } from '../../src/gates/structure-cache.js';
import { MappingContext } from '../../src/mapping/context.js';
import { gateBundle, mapRecord } from '../../src/mapping/index.js';
import { parseRecord } from '../../src/records/index.js';
import { fixture } from '../harness.js';

/** Invariants Medplum skips (validation.ts skippedConstraintKeys). */
const skipped = new Set(['ele-1', 'dom-3', 'org-1', 'sdf-19']);

/**
 * The error-severity R4 invariants that mention an opaque property's name, as audited: each only tests
 * existence or count, or names it as a string literal (`type = 'display'`). A new one fails this list
 * and must be read before it is added (and the property dropped from the opaque list if it reads values).
 */
const audited: Record<string, string[]> = {
  identifier: ['bdl-9', 'ipn-1'], // .value.exists(), .count()
  value: ['ext-1'], // on Identifier.extension: it reads the Extension's value[x], not Identifier.value
  tag: [],
  code: [], // only the Coding type's own invariants are relevant (Meta.tag is a Coding)
  reference: ['cpl-3', 'exp-1', 'imm-1', 'ref-1', 'spd-2'], // exists/empty; literal 'reference'; ref-1: see referenceToken
  display: ['que-1', 'que-3', 'que-6', 'que-8', 'que-9', 'vsd-6'], // literal 'display'; exists()
  text: ['cmp-1', 'obs-3', 'que-10'], // exists(); literal 'text'
  description: ['cpb-2', 'eld-1', 'mea-1', 'sdf-10', 'tcp-2'], // exists(), count()
  content: [],
  sent: [],
  recorded: [],
  dateTime: ['que-5'], // literal 'dateTime'
};

interface Invariant {
  at: string;
  key: string;
  expression: string;
}

function invariants(): Invariant[] {
  const all: Invariant[] = [];
  const visit = (t: InternalTypeSchema) => {
    for (const c of t.constraints ?? [])
      if (c.severity === 'error' && !skipped.has(c.key)) all.push({ at: t.name, key: c.key, expression: c.expression });
    for (const e of Object.values(t.elements)) {
      for (const c of e.constraints ?? [])
        if (c.severity === 'error' && !skipped.has(c.key)) all.push({ at: e.path, key: c.key, expression: c.expression });
    }
    for (const inner of t.innerTypes ?? []) visit(inner);
  };
  for (const t of Object.values(getAllDataTypes())) visit(t);
  return all;
}

const mentioning = (all: Invariant[], name: string) =>
  [...new Set(all.filter((c) => new RegExp(`\\b${name}\\b`).test(c.expression)).map((c) => c.key))].sort();

let profiles: Map<string, Profile>;

beforeAll(() => {
  loadFhirDefinitions();
  profiles = loadProfiles();
});

/** The gate Bundle the mapper builds for a fixture (references resolved as themselves). */
function mapped(name: string, recordId: string): Bundle {
  const parsed = parseRecord(fixture(name, recordId));
  if (!parsed.ok) throw new Error('fixture does not parse');
  const ctx = new MappingContext(parsed.record, loadMappings(), new Map(), []);
  return gateBundle(ctx, mapRecord(ctx));
}

function resourceOf<T extends Resource>(bundle: Bundle, type: T['resourceType']): T {
  return structuredClone(bundle.entry!.find((e) => e.resource?.resourceType === type)!.resource as T);
}

describe('base-R4 validation by resource shape', () => {
  it('the R4 invariants that mention an opaque property are the audited ones', () => {
    const all = invariants();
    // Names reached from outside: the property (or the property holding it).
    for (const name of ['identifier', 'tag', 'reference', 'display', 'text', 'description', 'content', 'sent', 'recorded', 'dateTime']) {
      expect(mentioning(all, name), name).toEqual(audited[name]);
    }
    // The resource's own id (opaque at the top level only): these read contained or element ids, not it.
    expect(mentioning(all, 'id')).toEqual(['ig-1', 'ref-1', 'sdf-14', 'sdf-16', 'sdf-17']);
    // Identifier.value and Meta.tag.code: nothing on Identifier or Coding reads them.
    expect(
      mentioning(
        all.filter((c) => c.at === 'Identifier' || c.at.startsWith('Identifier.')),
        'value',
      ),
    ).toEqual(audited.value);
    expect(
      mentioning(
        all.filter((c) => c.at === 'Coding' || c.at.startsWith('Coding.')),
        'code',
      ),
    ).toEqual(audited.code);
    // Nothing reads whole subtrees except two invariants of resource types the adapter never writes.
    // Those types are validated afresh every time (subtreeReadingTypes), never by shape.
    const subtree = all
      .filter((c) => /descendants\(\)|children\(\)|repeat\(/.test(c.expression))
      .map((c) => c.at)
      .sort();
    expect(subtree).toEqual(['CodeSystem', 'Questionnaire', 'StructureDefinition']);
    expect([...subtreeReadingTypes].sort()).toEqual(subtree);
  });

  it('opaque properties are plain string types in R4: no fixed or pattern value, never base64Binary', () => {
    const anywhere = new Set(
      [...opaqueStringProperties].filter(([, where]) => where === 'any').map(([k]) => (k === 'contentString' ? 'content[x]' : k)),
    );
    const within = new Set(['Identifier.value', 'Coding.code']); // 'value' under identifier, 'code' under Meta.tag (a Coding)
    for (const t of Object.values(getAllDataTypes())) {
      const elements = [t, ...(t.innerTypes ?? [])].flatMap((x) => Object.values(x.elements));
      for (const e of elements.filter((x) => anywhere.has(x.path.split('.').pop()!) || within.has(x.path))) {
        expect(e.fixed ?? e.pattern, e.path).toBeUndefined();
        expect(
          e.type.map((x) => x.code),
          e.path,
        ).not.toContain('base64Binary');
      }
    }
  });

  it('resources of one pathway that differ only in record id share their shapes', () => {
    const a = mapped('concern-routing', 'shape-a').entry!.map((e) => resourceShape(e.resource!));
    const b = mapped('concern-routing', 'shape-b').entry!.map((e) => resourceShape(e.resource!));
    expect(b).toEqual(a);
  });

  it('a code read by an invariant stays in the shape', () => {
    const consent = resourceOf<Consent>(mapped('concern-routing', 'shape-c'), 'Consent');
    const other = structuredClone(consent);
    other.scope!.coding![0]!.code = other.scope!.coding![0]!.code === 'research' ? 'treatment' : 'research';
    expect(resourceShape(other)).not.toEqual(resourceShape(consent));
  });

  it('When a mapped resource of a known shape carries an invalid value, it is still caught', () => {
    const cache = new StructureCache();
    const bundle = mapped('concern-routing', 'shape-d');
    const communication = resourceOf<Communication>(bundle, 'Communication');
    expect(() => cache.validate(communication)).not.toThrow();
    const sizeAfterValid = cache.size;

    // Same shape (an opaque timestamp), but a day that does not exist.
    const badDate = { ...structuredClone(communication), sent: '2026-02-30T10:00:00Z' };
    expect(() => validateResource(badDate)).toThrow(OperationOutcomeError);
    expect(() => cache.validate(badDate)).toThrow(OperationOutcomeError);
    // Blank text where a string is required.
    const task = resourceOf<Task>(bundle, 'Task');
    cache.validate(task);
    expect(() => cache.validate({ ...structuredClone(task), description: '   ' })).toThrow(OperationOutcomeError);
    // A reference to a resource type the element does not allow (Medplum warns).
    const wrongType = structuredClone(task);
    wrongType.owner = { reference: 'Consent/some-consent' };
    expect(cache.validate(wrongType).map((i) => i.details?.text)).toEqual(validateResource(wrongType).map((i) => i.details?.text));
    expect(cache.size).toBeGreaterThan(sizeAfterValid);
  });

  it('resources stored under different ids share a shape; an invalid id or a contained id is still checked', () => {
    const cache = new StructureCache();
    const task = { ...resourceOf<Task>(mapped('concern-routing', 'shape-id'), 'Task'), id: 'a1b2c3d4-0000-4000-8000-000000000001' };
    const other = { ...structuredClone(task), id: 'f9e8d7c6-1111-4111-8111-111111111111' };
    expect(resourceShape(other)).toEqual(resourceShape(task));
    cache.validate(task);
    // Whatever Medplum says of an odd id (blank, too long, not an id), the cache says the same.
    const verdict = (check: () => unknown) => {
      try {
        return JSON.stringify(check());
      } catch (err) {
        return `throws ${JSON.stringify((err as OperationOutcomeError).outcome)}`;
      }
    };
    for (const id of ['not an id!', ' ', 'x'.repeat(65), '']) {
      const bad = { ...structuredClone(task), id };
      expect(
        verdict(() => cache.validate(bad)),
        id,
      ).toEqual(verdict(() => validateResource(bad)));
    }
    // A contained resource's id is read by ref-1 (a '#' reference must name it): kept verbatim.
    const withContained = (id: string) =>
      ({ ...structuredClone(task), contained: [{ resourceType: 'Patient', id }], owner: { reference: '#p1' } }) as Task;
    expect(resourceShape(withContained('p1'))).not.toEqual(resourceShape(withContained('p2')));
  });

  it('structuralIssues still reports a structurally invalid mapped resource after valid ones of its slot', () => {
    const good = mapped('concern-routing', 'shape-e');
    expect(structuralIssues(good, profiles)).toEqual([]);
    const bad = mapped('concern-routing', 'shape-f');
    const task = bad.entry!.find((e) => e.resource?.resourceType === 'Task')!.resource as Task & { unknownField?: string };
    task.unknownField = 'x';
    // Returned, not thrown (issue 11): the pipeline names the record field behind it (a 400, never a 500).
    expect(structuralIssues(bad, profiles).map((i) => i.details?.text)).toEqual([
      expect.stringMatching(/Invalid additional property "unknownField"/),
    ]);
    const badStatus = mapped('concern-routing', 'shape-g');
    (badStatus.entry!.find((e) => e.resource?.resourceType === 'Task')!.resource as Task).authoredOn = 'not a date';
    expect(structuralIssues(badStatus, profiles).flatMap((i) => i.expression ?? [])).toEqual([
      expect.stringMatching(/\(Task\)\.authoredOn$/),
    ]);
  });
});
