import { z } from 'zod';
import { pathwayCodes, pathwaySchemas, type PathwayCode } from './index.js';
import { reference } from './primitives.js';

/** Where the record JSON Schemas say they live (their `$id`): the adapter serves each at /schemas/<pathway>.json. */
export const schemaIdBase = 'http://peer-pathways.example.org/schemas';

type JsonSchema = Record<string, unknown>;

/**
 * The JSON Schema (2020-12) of one pathway's record, generated from its zod schema: what a sending
 * system can validate against before it sends. Refinements JSON Schema cannot say are added here by hand
 * only where they are structural (a reference needs `reference` or `identifier`).
 */
export function recordJsonSchema(pathway: PathwayCode): JsonSchema {
  const generated = z.toJSONSchema(pathwaySchemas[pathway], {
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      if (ctx.zodSchema === reference) ctx.jsonSchema.anyOf = [{ required: ['reference'] }, { required: ['identifier'] }];
    },
  }) as JsonSchema;
  return {
    $schema: generated.$schema,
    $id: `${schemaIdBase}/${pathway}.json`,
    title: `${pathway} pathway record`,
    description: `A ${pathway} record as POST /pathway-records accepts it. Unknown fields are refused; fields whose absence is a gate failure are optional here and reported as that gate (422).`,
    ...Object.fromEntries(Object.entries(generated).filter(([k]) => k !== '$schema')),
  };
}

/** Every pathway's record schema, keyed by pathway. */
export function allRecordJsonSchemas(): Record<PathwayCode, JsonSchema> {
  return Object.fromEntries(pathwayCodes.map((p) => [p, recordJsonSchema(p)])) as Record<PathwayCode, JsonSchema>;
}
