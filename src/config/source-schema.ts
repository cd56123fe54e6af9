import { z } from 'zod';

/**
 * A field path in a record: keys joined by dots, `[]` after a key for "every element of this array"
 * (`concerns[].category`). Both sides of a rename need the same number of `[]`, so that element i
 * of the sender's array becomes element i of the contract's.
 */
const fieldPath = z
  .string()
  .regex(/^[A-Za-z_$][\w$-]*(\[\])?(\.[A-Za-z_$][\w$-]*(\[\])?)*$/, 'expected a field path such as "nextAppt.when" or "concerns[].type"');

const rename = z
  .object({ from: fieldPath, to: fieldPath })
  .strict()
  .refine((r) => r.from.split('[]').length === r.to.split('[]').length, {
    error: 'from and to need the same number of "[]" (array levels)',
  });

const scalar = z.union([z.string(), z.number(), z.boolean()]);

/** mappings/sources/<name>.json: how one sending system's field names and values map onto the record contract. */
export const sourceMappingSchema = z
  .object({
    $comment: z.string().optional(),
    /** Which records it applies to: by their source system, or (always) by name in a header/query. */
    appliesTo: z
      .object({ sourceSystems: z.array(z.string().min(1)).min(1) })
      .strict()
      .optional(),
    /** The sender's field → the contract's field. */
    fields: z.array(rename).default([]),
    /** Per contract field (after renaming): the sender's value → the contract's value. */
    values: z.record(fieldPath, z.record(z.string(), scalar)).default({}),
    /** Per contract field (after renaming): the ConceptMap (its url, or its file name in conceptmaps/) translating the sender's codes. */
    codes: z.record(fieldPath, z.string().min(1)).default({}),
  })
  .strict();

/** A source mapping as loaded: its schema content plus its name (the file name without .json) and file. */
export type SourceMapping = z.infer<typeof sourceMappingSchema> & { name: string; file: string };

const equivalences = [
  'relatedto',
  'equivalent',
  'equal',
  'wider',
  'subsumes',
  'narrower',
  'specializes',
  'inexact',
  'unmatched',
  'disjoint',
] as const;

/**
 * The part of an R4 ConceptMap the adapter reads; the rest of the resource is checked by the FHIR
 * validator (check-config and start-up) and otherwise left alone.
 */
export const conceptMapSchema = z
  .object({
    resourceType: z.literal('ConceptMap'),
    url: z.string().min(1),
    status: z.enum(['draft', 'active', 'retired', 'unknown']),
    group: z
      .array(
        z
          .object({
            source: z.string().min(1),
            target: z.string().min(1).optional(),
            element: z
              .array(
                z
                  .object({
                    code: z.string().min(1),
                    target: z
                      .array(
                        z
                          .object({
                            code: z.string().min(1).optional(),
                            equivalence: z.enum(equivalences),
                          })
                          .loose(),
                      )
                      .optional(),
                  })
                  .loose(),
              )
              .default([]),
            unmapped: z
              .object({ mode: z.enum(['provided', 'fixed', 'other-map']), code: z.string().optional() })
              .loose()
              .optional(),
          })
          .loose(),
      )
      .min(1),
  })
  .loose();
