import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';
import { z } from 'zod';
import { extensions } from '../contract/vocabulary.js';

/** The default profiles folder: `profiles/` at the project root. */
export const defaultProfilesDir = resolve(import.meta.dirname, '../../profiles');

/** Raised when a profile does not load, compile or pass its smoke test: the service does not start. */
export class ProfileError extends Error {}

type Compiled = (resource: unknown, env: Record<string, unknown>) => unknown[];

/** One gate: a constraint of a profile, compiled once. */
export interface Gate {
  key: string;
  human: string;
  expression: string;
  profile: string;
  /** The record fields the gate is about, so that an issue can point the worker to them. */
  recordFields: string[];
  evaluate: Compiled;
  /**
   * Per-field checks (extension gate-field-check), when the gate has them: the gate is their conjunction,
   * and a failed gate names exactly the fields whose check does not hold.
   */
  fieldChecks: { field: string; evaluate: Compiled }[];
}

/** A cardinality rule from a profile's differential, compiled once. */
export interface Cardinality {
  path: string;
  min: number;
  max: number | '*';
  /** Evaluates to the count of the element under each of its parents. */
  counts: Compiled;
}

/** A loaded profile: the resource type it constrains, its gates and its cardinalities. */
export interface Profile {
  url: string;
  file: string;
  type: string;
  gates: Gate[];
  cardinalities: Cardinality[];
}

const constraintSchema = z
  .object({
    key: z.string().regex(/^[a-z][a-z0-9-]*$/),
    severity: z.literal('error'),
    human: z.string().min(1),
    expression: z.string().min(1),
    extension: z
      .array(
        z.union([
          z.object({
            url: z.literal(extensions.gateFieldCheck),
            extension: z.array(z.object({ url: z.enum(['field', 'expression']), valueString: z.string().min(1) })).length(2),
          }),
          z.object({ url: z.string(), valueString: z.string() }),
        ]),
      )
      .optional(),
  })
  .passthrough();

type ConstraintExtension = NonNullable<z.infer<typeof constraintSchema>['extension']>[number];

/** The gate-field-check extensions of a constraint, as { field, expression }. */
function fieldChecksOf(exts: ConstraintExtension[]): { field: string; expression: string }[] {
  return exts.flatMap((e) => {
    if (!('extension' in e)) return [];
    const part = (name: string) => e.extension.find((x) => x.url === name)?.valueString ?? '';
    return [{ field: part('field'), expression: part('expression') }];
  });
}

/** The expression a gate with field checks must have: their conjunction, so the two can never drift apart. */
export function conjunction(expressions: string[]): string {
  return expressions.map((e) => `(${e})`).join(' and ');
}

const sdSchema = z
  .object({
    resourceType: z.literal('StructureDefinition'),
    url: z.string().url(),
    type: z.string(),
    derivation: z.literal('constraint'),
    differential: z.object({
      element: z.array(
        z
          .object({
            path: z.string(),
            min: z.number().int().optional(),
            max: z.string().optional(),
            constraint: z.array(constraintSchema).optional(),
          })
          .passthrough(),
      ),
    }),
  })
  .passthrough();

function compile(expression: string, where: string): Compiled {
  try {
    return fhirpath.compile(expression, r4) as Compiled;
  } catch (err) {
    throw new ProfileError(`${where}: FHIRPath does not compile (${(err as Error).message})`);
  }
}

/** The FHIRPath that counts `path`'s last element under each parent, e.g. Task.owner → Task: owner.count(). */
function countExpression(type: string, path: string): string {
  const parts = path.split('.').slice(1);
  const last = parts.pop() as string;
  return parts.length ? `${parts.join('.')}.select(${last}.count())` : `${last}.count()`;
}

function loadProfile(file: string): Profile {
  const parsed = sdSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    throw new ProfileError(
      `${file}: not a constraint StructureDefinition (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`,
    );
  }
  const sd = parsed.data;
  const gates: Gate[] = [];
  const cardinalities: Cardinality[] = [];
  for (const el of sd.differential.element) {
    for (const c of el.constraint ?? []) {
      if (el.path !== sd.type) throw new ProfileError(`${file}: constraint ${c.key} must sit on the root element ${sd.type}`);
      const checks = fieldChecksOf(c.extension ?? []);
      if (checks.length && c.expression !== conjunction(checks.map((k) => k.expression))) {
        throw new ProfileError(
          `${file} constraint ${c.key}: its expression must be the conjunction of its gate-field-check expressions, in order`,
        );
      }
      gates.push({
        key: c.key,
        human: c.human,
        expression: c.expression,
        profile: sd.url,
        recordFields: [
          ...(c.extension ?? []).flatMap((e) => (e.url === extensions.gateRecordField && 'valueString' in e ? [e.valueString] : [])),
          ...checks.map((k) => k.field),
        ],
        evaluate: compile(c.expression, `${file} constraint ${c.key}`),
        fieldChecks: checks.map((k) => ({
          field: k.field,
          evaluate: compile(k.expression, `${file} constraint ${c.key} field ${k.field}`),
        })),
      });
    }
    if (el.path !== sd.type && (el.min !== undefined || el.max !== undefined)) {
      cardinalities.push({
        path: el.path,
        min: el.min ?? 0,
        max: el.max === undefined || el.max === '*' ? '*' : Number(el.max),
        counts: compile(countExpression(sd.type, el.path), `${file} element ${el.path}`),
      });
    }
  }
  return { url: sd.url, file, type: sd.type, gates, cardinalities };
}

/** Runs each gate once on an empty resource of its type, so an unknown function fails at start-up. */
function smokeTest(profile: Profile): void {
  const empty = { resourceType: profile.type };
  for (const gate of profile.gates) {
    try {
      gate.evaluate(empty, { resource: empty, rootResource: empty, peerRoles: [] });
    } catch (err) {
      throw new ProfileError(`${profile.file} constraint ${gate.key}: fails its smoke test (${(err as Error).message})`);
    }
  }
}

/** Loads, compiles and smoke-tests every profile in a folder; keyed by canonical URL. */
export function loadProfiles(dir: string = defaultProfilesDir): Map<string, Profile> {
  const profiles = new Map<string, Profile>();
  const keys = new Map<string, Gate>();
  for (const name of readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const profile = loadProfile(join(dir, name));
    smokeTest(profile);
    for (const gate of profile.gates) {
      const other = keys.get(gate.key);
      // One gate may sit on several resource profiles (peer-not-clinician: CarePlan, Communication, Consent), each
      // judging its own resource; it is one rule only if it says the same thing everywhere, field by field.
      if (
        other &&
        (other.profile === gate.profile || other.human !== gate.human || !gate.fieldChecks.length || !other.fieldChecks.length)
      ) {
        throw new ProfileError(`${profile.file}: constraint key ${gate.key} is already defined in ${other.profile}`);
      }
      keys.set(gate.key, gate);
    }
    profiles.set(profile.url, profile);
  }
  return profiles;
}
