import { isValidCalendarDate, OperationOutcomeError, validateResource, validationRegexes } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';

/**
 * Distinct resource shapes whose base-R4 verdict is kept. A pathway's mapper yields a handful of shapes per
 * slot; the bound only stops a stream of ever-new shapes (e.g. free-form dates in compared fields) from
 * growing memory. When full, the oldest shape is dropped.
 */
export const maxCachedShapes = 2_000;

/**
 * Properties whose string values vary from record to record (identifiers, references, free text, timestamps)
 * and that no error-severity R4 invariant reads by value: their values enter the shape only as the outcome
 * of every primitive check Medplum makes on a string (see stringClass). tests/gates/structure-cache.test.ts
 * pins which R4 invariants mention these names, which element types they have, and that none is fixed,
 * patterned or base64; a Medplum upgrade that changes any of that fails the test before it can mislead us.
 * Values compared by invariants (Period start/end: per-1, Task authoredOn/lastModified: inv-1, codes and
 * systems: Consent ppc-*) are not here: they stay verbatim in the shape.
 */
export const opaqueStringProperties: ReadonlyMap<string, 'any' | 'identifier' | 'tag'> = new Map([
  // Only inside the named property: `value` elsewhere (Quantity, Extension) and `code` elsewhere (Consent
  // scope: ppc-*) are read by invariants; Identifier.value and Meta.tag.code are not.
  ['value', 'identifier'],
  ['code', 'tag'],
  ['reference', 'any'], // See referenceToken: the type prefix and a leading '#' are kept.
  ['display', 'any'],
  ['text', 'any'],
  ['description', 'any'],
  ['contentString', 'any'],
  ['sent', 'any'],
  ['recorded', 'any'],
  ['dateTime', 'any'],
]);

const regexes = Object.values(validationRegexes);
const maxFhirStringLength = 1024 * 1024;
/** String check outcomes remembered (names, displays, dates and uuids recur); cleared when full, to bound memory. */
const maxRememberedStrings = 20_000;
const classes = new Map<string, string>();

/** The outcome of every check Medplum's validateString can make on this string, whatever its FHIR type. */
function stringClass(s: string): string {
  let bits = classes.get(s);
  if (bits !== undefined) return bits;
  bits = `${s.length === 0 ? 'e' : ''}${s.trim() ? '' : 'w'}${s.length > maxFhirStringLength ? 'L' : ''}${isValidCalendarDate(s) ? 'c' : 'C'}:`;
  for (const re of regexes) bits += re.test(s) ? '1' : '0';
  if (classes.size >= maxRememberedStrings) classes.clear();
  classes.set(s, bits);
  return bits;
}

/**
 * Reference.reference: Medplum checks the resource type before the first '/' or '?' against the target
 * profiles, and ref-1 reads only whether it starts with '#' (then it looks the id up in contained: verbatim).
 */
function referenceToken(s: string): string {
  if (s.startsWith('#')) return JSON.stringify(s);
  const type = s.includes('?') ? s.split('?')[0]! : s.split('/')[0]!;
  // A Bundle-internal urn:uuid is never a resource type: every one gets the same warning, whose text names
  // the uuid (so a cached warning names the first one; evaluate.ts drops these warnings anyway).
  const kind = /^urn:uuid:[^/?]*$/.test(type) ? 'urn:uuid' : JSON.stringify(type);
  return `~ref:${kind}:${stringClass(s)}`;
}

const plainKey = /^[A-Za-z_][A-Za-z0-9_]*$/;

function shapeOf(value: unknown, key: string | undefined, parentKey: string | undefined): string {
  if (typeof value === 'string') {
    // The resource's own id (what a server assigns, different on every resource it stores): no R4
    // invariant reads it by value (ref-1 reads contained ids, which stay verbatim; see the test).
    if (key === 'id' && parentKey === undefined) return `~${stringClass(value)}`;
    const opaque = key === undefined ? undefined : opaqueStringProperties.get(key);
    if (opaque === 'any' || (opaque !== undefined && opaque === parentKey)) {
      return key === 'reference' ? referenceToken(value) : `~${stringClass(value)}`;
    }
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    // Array items keep the property name: `identifier: [{ value }]` is still an Identifier's value.
    let out = '[';
    for (const item of value) out += `${shapeOf(item, key, parentKey)},`;
    return `${out}]`;
  }
  if (value !== null && typeof value === 'object') {
    let out = '{';
    for (const k in value) {
      // FHIR property names are plain; anything else is quoted, so that no key can pass for another.
      out += `${plainKey.test(k) ? k : JSON.stringify(k)}:${shapeOf((value as Record<string, unknown>)[k], k, key)},`;
    }
    return `${out}}`;
  }
  // Numbers, booleans, null and undefined: verbatim (String keeps undefined distinct from null).
  return typeof value === 'undefined' ? 'u' : String(value);
}

/** The structural fingerprint of a resource: its exact JSON, except the opaque strings, which keep only their check outcomes. */
export function resourceShape(resource: Resource): string {
  return shapeOf(resource, undefined, undefined);
}

type Verdict = { issues: OperationOutcomeIssue[] } | { error: OperationOutcomeError };

/**
 * Resource types with an error-severity R4 invariant that reads whole subtrees (`descendants()`,
 * `children()`, `repeat()`), so that it may read an opaque string by value: validated afresh every time,
 * never by shape (tests/gates/structure-cache.test.ts pins this list against Medplum's R4 definitions).
 */
export const subtreeReadingTypes: ReadonlySet<string> = new Set(['CodeSystem', 'Questionnaire', 'StructureDefinition']);

/**
 * Medplum's base-R4 validation (validateResource), remembered per resource shape. Two resources of the
 * same shape differ only in opaque strings whose every check outcome is equal, so Medplum gives them the
 * same issues (at the same paths); like validateResource it throws when there is an error. Safe for any
 * R4 resource: the adapter's mapped resources (gates) and every write to the embedded FHIR server.
 */
export class StructureCache {
  private readonly verdicts = new Map<string, Verdict>();

  /** The issues validateResource gives this resource (a warning list), or its thrown OperationOutcomeError. */
  validate(resource: Resource): OperationOutcomeIssue[] {
    if (subtreeReadingTypes.has(resource.resourceType)) return validateResource(resource);
    const shape = resourceShape(resource);
    let verdict = this.verdicts.get(shape);
    if (!verdict) {
      try {
        verdict = { issues: validateResource(resource) };
      } catch (err) {
        if (!(err instanceof OperationOutcomeError)) throw err;
        verdict = { error: err };
      }
      if (this.verdicts.size >= maxCachedShapes) this.verdicts.delete(this.verdicts.keys().next().value as string);
      this.verdicts.set(shape, verdict);
    }
    if ('error' in verdict) throw new OperationOutcomeError(structuredClone(verdict.error.outcome));
    return structuredClone(verdict.issues);
  }

  /** Shapes held (for tests). */
  get size(): number {
    return this.verdicts.size;
  }
}
