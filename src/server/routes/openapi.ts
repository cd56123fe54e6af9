import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Router } from 'express';
import { z } from 'zod';
import { pathwayCodes } from '../../records/index.js';
import { recordJsonSchema } from '../../records/json-schema.js';
import { sourceMappingHeader, sourceMappingQuery } from '../../records/aliases/index.js';

type Json = Record<string, unknown>;

const fhirResource = (type: string, doc: string) => z.object({ resourceType: z.literal(type) }).loose().meta({ description: doc });

/** The answers that are not pathway records, as zod schemas so that they too are generated, not hand-written. */
const answers = {
  RecordAnswer: z.object({
    recordId: z.string(),
    pathway: z.enum(pathwayCodes),
    outcome: z.enum(['created', 'updated', 'unchanged']),
    resources: z.array(z.object({ slot: z.string(), reference: z.string(), versionId: z.string().optional(), action: z.enum(['created', 'updated', 'unchanged', 'kept']) })),
    tasks: z.array(z.object({
      reference: z.string(), code: z.string().optional(), priority: z.string().optional(), status: z.string().optional(),
      businessStatus: z.string().optional(), owner: z.string().optional(), due: z.string().optional(),
    })),
    operationOutcome: fhirResource('OperationOutcome', 'Every gate result.'),
  }).meta({ description: 'What was written: each resource (Type/id, version, action) and each Task raised.' }),
  OperationOutcome: fhirResource('OperationOutcome',
    'FHIR R4 OperationOutcome. Each issue: a stable code in details.coding (system .../CodeSystem/adapter-issue, plus .../CodeSystem/gate for a gate), the record field path in expression, actionable text in details.text.'),
  ValidationParameters: fhirResource('Parameters', 'FHIR R4 Parameters: result (accepted | blocked | rejected), outcome (OperationOutcome of every issue and gate result), bundle (the transaction a write would send now).'),
  Bundle: fhirResource('Bundle', 'FHIR R4 Bundle.'),
};

function component(schema: z.ZodType): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as Json;
  return rest;
}

function recordComponent(pathway: (typeof pathwayCodes)[number]): Json {
  const { $schema: _drop, $id: _id, ...rest } = recordJsonSchema(pathway);
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const outcomeResponse = (description: string) => ({ description, content: { 'application/fhir+json': { schema: ref('OperationOutcome') } } });

const errors = {
  400: outcomeResponse('Not valid JSON, or breaks the schema: one issue per field, with its path (as the sender named it).'),
  401: outcomeResponse('No or bad bearer token.'),
  403: outcomeResponse('The token lacks the scope.'),
  413: outcomeResponse('Larger than MAX_BODY_BYTES.'),
  415: outcomeResponse('Not JSON.'),
  503: outcomeResponse('FHIR server unavailable; nothing half-written. Honour Retry-After and resend the same record.'),
};

const recordBody = {
  required: true,
  content: { 'application/json': { schema: { oneOf: pathwayCodes.map((p) => ref(`record-${p}`)), discriminator: { propertyName: 'pathway' } } } },
};

const sourceParameters = [
  { name: sourceMappingHeader, in: 'header', required: false, schema: { type: 'string' }, description: 'The source mapping (mappings/sources/<name>.json) to apply; "none" for a record already in the contract\'s shape. Default: chosen by source.system.' },
  { name: sourceMappingQuery, in: 'query', required: false, schema: { type: 'string' }, description: `Same as the ${sourceMappingHeader} header.` },
];

/** The OpenAPI 3.1 description of the adapter, generated from the same zod schemas that check records. */
export function openApiDocument(version: string): Json {
  const text = (description: string, schema: Json = { type: 'object' }) => ({ description, content: { 'application/json': { schema } } });
  return {
    openapi: '3.1.0',
    info: { title: 'peer-pathways-fhir', version, description: 'FHIR R4 adapter for peer support in community mental-health pathways.' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        ...Object.fromEntries(pathwayCodes.map((p) => [`record-${p}`, recordComponent(p)])),
        ...Object.fromEntries(Object.entries(answers).map(([name, schema]) => [name, component(schema)])),
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/pathway-records': {
        post: {
          summary: 'Send one pathway record: gated, then written in one transaction', parameters: sourceParameters, requestBody: recordBody,
          responses: {
            201: text('Written (first send).', ref('RecordAnswer')), 200: text('Resent: updated or unchanged.', ref('RecordAnswer')),
            422: outcomeResponse('A gate failed: nothing routine written; one issue per failed gate (key, record fields, FHIRPath); a safety review is still raised.'),
            ...errors,
          },
        },
      },
      '/pathway-records/$validate': {
        post: {
          summary: 'Dry run: the Bundle that would be written and every issue and gate result; nothing written', parameters: sourceParameters, requestBody: recordBody,
          responses: { 200: { description: 'Parameters: result, outcome, bundle.', content: { 'application/fhir+json': { schema: ref('ValidationParameters') } } }, ...errors },
        },
      },
      '/governance/measures': {
        get: {
          summary: 'Governance evidence: a Bundle of MeasureReports for a period',
          parameters: ['start', 'end'].map((name) => ({ name, in: 'query', required: true, schema: { type: 'string', format: 'date' } })),
          responses: { 200: { description: 'Bundle of MeasureReports.', content: { 'application/fhir+json': { schema: ref('Bundle') } } }, 400: errors[400], 401: errors[401], 403: errors[403] },
        },
      },
      '/health': { get: { summary: 'The process is alive', security: [], responses: { 200: text('Alive.') } } },
      '/ready': { get: { summary: 'The FHIR server answers', security: [], responses: { 200: text('Ready.'), 503: errors[503] } } },
      '/openapi.json': { get: { summary: 'This document', security: [], responses: { 200: text('OpenAPI 3.1.') } } },
      '/profiles': { get: { summary: 'The profiles with their gate keys and human text', security: [], responses: { 200: text('Profiles.') } } },
      '/schemas/{pathway}.json': {
        get: {
          summary: 'The JSON Schema of a pathway record', security: [],
          parameters: [{ name: 'pathway', in: 'path', required: true, schema: { type: 'string', enum: [...pathwayCodes] } }],
          responses: { 200: { description: 'JSON Schema 2020-12.', content: { 'application/schema+json': { schema: { type: 'object' } } } }, 404: outcomeResponse('No such pathway.') },
        },
      },
    },
  };
}

/** This adapter's version (package.json). */
export const packageVersion = (JSON.parse(readFileSync(resolve(import.meta.dirname, '../../../package.json'), 'utf8')) as { version: string }).version;

/** GET /openapi.json (public: it describes shapes, never data). */
export function openApiRouter(): Router {
  const router = Router();
  const document = JSON.stringify(openApiDocument(packageVersion));
  router.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(document);
  });
  return router;
}
