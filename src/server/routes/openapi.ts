import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Router } from 'express';
import { z } from 'zod';
import { pathwayCodes } from '../../records/index.js';
import { recordJsonSchema } from '../../records/json-schema.js';
import { sourceMappingHeader, sourceMappingQuery } from '../../records/aliases/index.js';

type Json = Record<string, unknown>;

const fhirResource = (type: string, doc: string) =>
  z
    .object({ resourceType: z.literal(type) })
    .loose()
    .meta({ description: doc });

/** The answers that are not pathway records, as zod schemas so that they too are generated, not hand-written. */
const answers = {
  RecordAnswer: z
    .object({
      recordId: z.string(),
      pathway: z.enum(pathwayCodes),
      outcome: z.enum(['created', 'updated', 'unchanged']),
      resources: z.array(
        z.object({
          slot: z.string(),
          reference: z.string(),
          versionId: z.string().optional(),
          action: z.enum(['created', 'updated', 'unchanged', 'kept']),
        }),
      ),
      tasks: z.array(
        z.object({
          reference: z.string(),
          code: z.string().optional(),
          priority: z.string().optional(),
          status: z.string().optional(),
          businessStatus: z.string().optional(),
          owner: z.string().optional(),
          due: z.string().optional(),
        }),
      ),
      operationOutcome: fhirResource('OperationOutcome', 'Every gate result.'),
    })
    .meta({ description: 'What was written: each resource (Type/id, version, action) and each Task raised.' }),
  OperationOutcome: fhirResource(
    'OperationOutcome',
    'FHIR R4 OperationOutcome. Each issue: a stable code in details.coding (system .../CodeSystem/adapter-issue, plus .../CodeSystem/gate for a gate), the record field path in expression, actionable text in details.text.',
  ),
  ValidationParameters: fhirResource(
    'Parameters',
    'FHIR R4 Parameters: result (accepted | blocked | rejected), outcome (OperationOutcome of every issue and gate result), bundle (the transaction a write would send now).',
  ),
  Bundle: fhirResource('Bundle', 'FHIR R4 Bundle.'),
  Measure: fhirResource('Measure', 'FHIR R4 Measure.'),
  Resource: z.object({ resourceType: z.string() }).loose().meta({ description: 'Any FHIR R4 resource.' }),
  RecordStatus: z
    .object({
      recordId: z.string(),
      source: z.string(),
      pathway: z.string().optional(),
      state: z.enum(['accepted', 'blocked']),
      blockedBy: z.array(z.string()).optional(),
      blockedAt: z.string().optional(),
      tasks: z.array(
        z
          .object({
            reference: z.string(),
            code: z.string().optional(),
            status: z.string().optional(),
            owner: z.string().optional(),
            ownerDisplay: z.string().optional(),
            due: z.string().optional(),
            escalates: z.string().optional(),
          })
          .loose(),
      ),
    })
    .meta({
      description: "The record's state: accepted or blocked (which gates), each Task's code, owner, status and due time; never free text.",
    }),
};

function component(schema: z.ZodType): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as Json;
  return rest;
}

function recordComponent(pathway: (typeof pathwayCodes)[number]): Json {
  const { $schema: _drop, $id: _id, ...rest } = recordJsonSchema(pathway);
  return rest;
}

type Paths = Record<string, Json>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const outcomeResponse = (description: string) => ({
  description,
  content: { 'application/fhir+json': { schema: ref('OperationOutcome') } },
});
const json = (description: string, schema: Json = { type: 'object' }, type = 'application/json') => ({
  description,
  content: { [type]: { schema } },
});
const fhirJson = (description: string, schema: Json) => json(description, schema, 'application/fhir+json');

/**
 * What Node's HTTP parser answers before the adapter sees a request, on every endpoint: `400` for a
 * malformed request, `431` for headers over 16 KB; neither has a body.
 */
const transport = {
  '4XX': {
    description:
      'Refused by the HTTP layer before the adapter reads it: 400 malformed request, 408 headers or body too slow, 431 headers over 16 KB.',
  },
};

const errors = {
  400: outcomeResponse('Not valid JSON, or breaks the schema: one issue per field, with its path (as the sender named it).'),
  401: outcomeResponse('No or bad bearer token (WWW-Authenticate says which).'),
  403: outcomeResponse("The token lacks the scope, or the client is not registered for the record's source system."),
  404: outcomeResponse('Not found.'),
  413: outcomeResponse('Larger than MAX_BODY_BYTES.'),
  415: outcomeResponse('Not JSON.'),
  429: outcomeResponse('Over RATE_LIMIT_PER_MINUTE for this client; honour Retry-After.'),
  503: outcomeResponse('FHIR server unavailable; nothing half-written. Honour Retry-After and resend the same record.'),
};
const guarded = { 401: errors[401], 403: errors[403], 429: errors[429] };

const recordBody = {
  required: true,
  content: {
    'application/json': { schema: { oneOf: pathwayCodes.map((p) => ref(`record-${p}`)), discriminator: { propertyName: 'pathway' } } },
  },
};

const sourceParameters = [
  {
    name: sourceMappingHeader,
    in: 'header',
    required: false,
    schema: { type: 'string' },
    description:
      'The source mapping (mappings/sources/<name>.json) to apply; "none" for a record already in the contract\'s shape. Default: chosen by source.system.',
  },
  {
    name: sourceMappingQuery,
    in: 'query',
    required: false,
    schema: { type: 'string' },
    description: `Same as the ${sourceMappingHeader} header.`,
  },
];

const periodParameters = (required: boolean) => [
  {
    name: 'start',
    in: 'query',
    required,
    schema: { type: 'string', format: 'date' },
    description: 'First day of the period (site time zone).',
  },
  { name: 'end', in: 'query', required, schema: { type: 'string', format: 'date' }, description: 'Last day of the period.' },
];

/** POST /pathway-records, $validate, and the sender's status view. */
function recordPaths(): Paths {
  return {
    '/pathway-records': {
      post: {
        operationId: 'submitRecord',
        tags: ['records'],
        summary: 'Send one pathway record: gated, then written in one transaction',
        description:
          "Scope: pathway-records/<pathway>.write (or pathway-records/*.write), and the client registered for the record's source.system.",
        parameters: sourceParameters,
        requestBody: recordBody,
        responses: {
          201: json('Written (first send).', ref('RecordAnswer')),
          200: json('Resent: updated or unchanged.', ref('RecordAnswer')),
          422: outcomeResponse(
            'A gate failed: nothing routine written; one issue per failed gate (key, record fields, FHIRPath); a safety review is still raised.',
          ),
          ...errors,
          404: undefined,
          502: outcomeResponse('The FHIR server refused the write (a configuration or mapping fault); nothing written.'),
        },
      },
    },
    '/pathway-records/$validate': {
      post: {
        operationId: 'validateRecord',
        tags: ['records'],
        summary: 'Dry run: the Bundle that would be written and every issue and gate result; nothing written',
        description: 'Scope: pathway-records.validate.',
        parameters: sourceParameters,
        requestBody: recordBody,
        responses: { 200: fhirJson('Parameters: result, outcome, bundle.', ref('ValidationParameters')), ...errors, 404: undefined },
      },
    },
    '/pathway-records/{recordId}': {
      get: {
        operationId: 'getRecordStatus',
        tags: ['records'],
        summary: "The record's state for its sender: accepted or blocked, each Task's code, owner, status and due time",
        description: 'Scope: pathway-records.read. Never free text. Not cached (Cache-Control: no-store).',
        parameters: [
          { name: 'recordId', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9\\-._:]{1,64}$' } },
          {
            name: 'source',
            in: 'query',
            required: false,
            schema: { type: 'string' },
            description: 'The source.system the record was sent with; required unless the client is registered for exactly one.',
          },
        ],
        responses: {
          200: json('The status view.', ref('RecordStatus')),
          400: errors[400],
          ...guarded,
          404: outcomeResponse('No such record from that source.'),
          503: errors[503],
        },
      },
    },
  };
}

/** Governance evidence (spec §6): the page, the MeasureReports and the Measures. */
function governancePaths(): Paths {
  const scope = 'Scope: governance.read.';
  return {
    '/governance': {
      get: {
        operationId: 'getGovernancePage',
        tags: ['governance'],
        summary: 'The governance page for people (HTML): the measures of a period with charts',
        description: `${scope} Default period: the last full calendar month.`,
        parameters: periodParameters(false),
        responses: {
          200: { description: 'HTML page.', content: { 'text/html': { schema: { type: 'string' } } } },
          400: errors[400],
          ...guarded,
          503: errors[503],
        },
      },
    },
    '/governance/measures': {
      get: {
        operationId: 'getGovernanceMeasureReports',
        tags: ['governance'],
        summary: 'Governance evidence: a Bundle of MeasureReports for a period',
        description: scope,
        parameters: periodParameters(true),
        responses: {
          200: fhirJson('Bundle of summary MeasureReports, each case traced to its recordId.', ref('Bundle')),
          400: errors[400],
          ...guarded,
          503: errors[503],
        },
      },
    },
    '/governance/Measure': {
      get: {
        operationId: 'listGovernanceMeasures',
        tags: ['governance'],
        summary: 'The Measure definitions the reports are computed from',
        description: scope,
        responses: { 200: fhirJson('Bundle of Measures.', ref('Bundle')), ...guarded },
      },
    },
    '/governance/Measure/{id}': {
      get: {
        operationId: 'getGovernanceMeasure',
        tags: ['governance'],
        summary: 'One Measure definition',
        description: scope,
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { 200: fhirJson('The Measure.', ref('Measure')), ...guarded, 404: outcomeResponse('No such Measure.') },
      },
    },
    '/governance/assets/{name}': {
      get: {
        operationId: 'getGovernancePageAsset',
        tags: ['governance'],
        summary: 'A script the governance page loads',
        description: scope,
        parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          200: { description: 'JavaScript.', content: { 'text/javascript': { schema: { type: 'string' } } } },
          ...guarded,
          404: errors[404],
        },
      },
    },
  };
}

/** Probes and self-description: public, they describe shapes and state, never data. */
function publicPaths(): Paths {
  const open = (operationId: string, summary: string, responses: Json) => ({
    get: { operationId, tags: ['self-description'], summary, security: [], responses: { ...responses, ...transport } },
  });
  return {
    '/health': {
      get: {
        operationId: 'getHealth',
        tags: ['probes'],
        summary: 'The process is alive',
        security: [],
        responses: { 200: json('Alive.'), ...transport },
      },
    },
    '/ready': {
      get: {
        operationId: 'getReady',
        tags: ['probes'],
        summary: 'The FHIR server answers, the breaker is closed and transaction rollback is verified',
        security: [],
        responses: { 200: json('Ready.'), 503: outcomeResponse('Not ready: one issue per failed check.'), ...transport },
      },
    },
    '/openapi.json': open('getOpenApi', 'This document', { 200: json('OpenAPI 3.1.') }),
    '/profiles': open('listProfiles', 'The profiles with their gate keys and human text', { 200: json('Profiles.') }),
    '/schemas': open('listSchemas', 'Where the JSON Schema of each pathway record is', {
      200: json('The pathways and their schema URLs.'),
    }),
    '/schemas/{pathway}.json': {
      get: {
        operationId: 'getRecordSchema',
        tags: ['self-description'],
        summary: 'The JSON Schema of a pathway record',
        security: [],
        parameters: [{ name: 'pathway', in: 'path', required: true, schema: { type: 'string', enum: [...pathwayCodes] } }],
        responses: {
          200: json('JSON Schema 2020-12.', { type: 'object' }, 'application/schema+json'),
          404: outcomeResponse('No such pathway.'),
        },
      },
    },
  };
}

/**
 * The embedded FHIR R4 server (served only when FHIR_BASE_URL is unset): the FHIR REST API under
 * /fhir/R4 (https://hl7.org/fhir/R4/http.html), described by interaction, and its token endpoint.
 * Add embedded operations (`$evaluate-measure`, terminology) here.
 */
function embeddedFhirPaths(): Paths {
  const fhir = 'embedded-fhir';
  const scoped = (s: string) =>
    `Embedded FHIR server only (FHIR_BASE_URL unset). Needs the SMART system scope ${s}; AuditEvent and Provenance are append-only for everyone (403).`;
  const resourceType = {
    name: 'resourceType',
    in: 'path',
    required: true,
    schema: { type: 'string', pattern: '^[A-Z][A-Za-z]+$' },
    description: 'A FHIR R4 resource type.',
  };
  const id = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
  const resource = fhirJson('The resource.', ref('Resource'));
  const body = { required: true, content: { 'application/fhir+json': { schema: ref('Resource') } } };
  const denied = {
    401: errors[401],
    403: outcomeResponse("The token's SMART scopes do not allow the interaction, or it would change the audit trail."),
  };
  return {
    '/fhir/R4/metadata': {
      get: {
        operationId: 'fhirCapabilities',
        tags: [fhir],
        summary: 'The CapabilityStatement',
        security: [],
        responses: { 200: fhirJson('CapabilityStatement.', ref('Resource')), ...transport },
      },
    },
    '/fhir/R4/.well-known/smart-configuration': {
      get: {
        operationId: 'fhirSmartConfiguration',
        tags: [fhir],
        summary: 'SMART configuration: the token endpoint and what it supports',
        security: [],
        responses: { 200: json('SMART configuration (token_endpoint, grant_types_supported, capabilities).'), ...transport },
      },
    },
    '/fhir/R4': {
      post: {
        operationId: 'fhirTransaction',
        tags: [fhir],
        summary: 'A transaction or batch Bundle',
        description: scoped("of every entry's interaction"),
        requestBody: body,
        responses: { 200: fhirJson('transaction-response or batch-response Bundle.', ref('Bundle')), 400: errors[400], ...denied },
      },
    },
    '/fhir/R4/{resourceType}': {
      get: {
        operationId: 'fhirSearch',
        tags: [fhir],
        summary: 'Search a resource type (FHIR search parameters in the query)',
        description: scoped('system/<type>.s'),
        parameters: [resourceType],
        responses: { 200: fhirJson('searchset Bundle.', ref('Bundle')), 400: errors[400], ...denied },
      },
      post: {
        operationId: 'fhirCreate',
        tags: [fhir],
        summary: 'Create a resource',
        description: scoped('system/<type>.c'),
        parameters: [resourceType],
        requestBody: body,
        responses: { 201: resource, 400: errors[400], ...denied },
      },
    },
    '/fhir/R4/{resourceType}/{id}': {
      get: {
        operationId: 'fhirRead',
        tags: [fhir],
        summary: 'Read a resource',
        description: scoped('system/<type>.r'),
        parameters: [resourceType, id],
        responses: { 200: resource, ...denied, 404: errors[404] },
      },
      put: {
        operationId: 'fhirUpdate',
        tags: [fhir],
        summary: 'Update a resource (If-Match: W/"<version>" guards against lost updates)',
        description: scoped('system/<type>.u'),
        parameters: [resourceType, id],
        requestBody: body,
        responses: {
          200: resource,
          201: resource,
          400: errors[400],
          ...denied,
          412: outcomeResponse('Changed since the version in If-Match.'),
        },
      },
      patch: {
        operationId: 'fhirPatch',
        tags: [fhir],
        summary: 'Patch a resource (JSON Patch)',
        description: scoped('system/<type>.u'),
        parameters: [resourceType, id],
        requestBody: { required: true, content: { 'application/json-patch+json': { schema: { type: 'array' } } } },
        responses: { 200: resource, 400: errors[400], ...denied, 404: errors[404] },
      },
      delete: {
        operationId: 'fhirDelete',
        tags: [fhir],
        summary: 'Delete a resource',
        description: scoped('system/<type>.d'),
        parameters: [resourceType, id],
        responses: { 200: fhirJson('Deleted.', ref('OperationOutcome')), ...denied, 404: errors[404] },
      },
    },
    '/fhir/R4/Patient/{id}/{compartmentType}': {
      get: {
        operationId: 'fhirPatientCompartmentSearch',
        tags: [fhir],
        summary: "Patient compartment search: the person's resources of one type (FHIR R4 §3.1.1.3)",
        description: scoped('system/<type>.s'),
        parameters: [
          id,
          {
            name: 'compartmentType',
            in: 'path',
            required: true,
            schema: {
              type: 'string',
              enum: ['Task', 'CarePlan', 'Consent', 'Encounter', 'Communication', 'Goal', 'Provenance', 'AuditEvent'],
            },
            description: 'A resource type the adapter writes.',
          },
        ],
        responses: { 200: fhirJson('searchset Bundle.', ref('Bundle')), 400: errors[400], ...denied },
      },
    },
    ...evaluateMeasurePaths(),
    '/oauth2/token': {
      post: {
        operationId: 'oauthToken',
        tags: [fhir],
        summary: 'OAuth 2.0 client_credentials token for the embedded FHIR server (RFC 6749 §4.4)',
        security: [],
        requestBody: {
          required: true,
          content: {
            'application/x-www-form-urlencoded': {
              schema: {
                type: 'object',
                required: ['grant_type'],
                properties: {
                  grant_type: { const: 'client_credentials' },
                  client_id: { type: 'string' },
                  client_secret: { type: 'string' },
                },
              },
            },
          },
        },
        responses: {
          200: json('access_token, token_type Bearer, expires_in 3600.'),
          400: json('RFC 6749 error: unsupported_grant_type.'),
          401: json('RFC 6749 error: invalid_client.'),
        },
      },
    },
  };
}

/**
 * `$evaluate-measure` (FHIR R4 Measure operation, DEQM summary): the same MeasureReports as
 * /governance/measures, by Measure id or by `measure=` (canonical URL or id); needs the governance.read scope.
 */
function evaluateMeasurePaths(): Paths {
  const tags = ['governance'];
  const description = 'Served in front of the embedded FHIR server (and with FHIR_BASE_URL set too). Needs the governance.read scope.';
  const period = [
    {
      name: 'periodStart',
      in: 'query',
      required: true,
      schema: { type: 'string', format: 'date' },
      description: "First day of the period (YYYY-MM-DD), in the site's time zone.",
    },
    {
      name: 'periodEnd',
      in: 'query',
      required: true,
      schema: { type: 'string', format: 'date' },
      description: 'Last day of the period (YYYY-MM-DD), inclusive.',
    },
  ];
  const measureParam = {
    name: 'measure',
    in: 'query',
    required: true,
    schema: { type: 'string' },
    description: 'The Measure: its canonical URL or id.',
  };
  const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
  const form = {
    required: false,
    content: { 'application/fhir+json': { schema: ref('Resource') }, 'application/x-www-form-urlencoded': { schema: { type: 'object' } } },
  };
  const answers = {
    200: fhirJson('A summary MeasureReport.', ref('Resource')),
    400: errors[400],
    ...guarded,
    404: outcomeResponse('No such Measure.'),
    503: errors[503],
  };
  return {
    '/fhir/R4/Measure/{id}/$evaluate-measure': {
      get: {
        operationId: 'evaluateMeasureById',
        tags,
        summary: 'Evaluate one Measure over a period',
        description,
        parameters: [idParam, ...period],
        responses: answers,
      },
      post: {
        operationId: 'evaluateMeasureByIdPost',
        tags,
        summary: 'Evaluate one Measure over a period (Parameters or form body)',
        description,
        parameters: [idParam],
        requestBody: form,
        responses: answers,
      },
    },
    '/fhir/R4/Measure/$evaluate-measure': {
      get: {
        operationId: 'evaluateMeasure',
        tags,
        summary: 'Evaluate a Measure named by measure= over a period',
        description,
        parameters: [measureParam, ...period],
        responses: answers,
      },
      post: {
        operationId: 'evaluateMeasurePost',
        tags,
        summary: 'Evaluate a Measure named in the Parameters or form body',
        description,
        requestBody: form,
        responses: answers,
      },
    },
  };
}

/** Drops `undefined` responses (an endpoint that cannot answer that status) so that the document stays exact. */
function prune(paths: Paths): Paths {
  return JSON.parse(JSON.stringify(paths)) as Paths;
}

/** The OpenAPI 3.1 description of the adapter, generated from the same zod schemas that check records. */
export function openApiDocument(version: string): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'peer-pathways-fhir',
      version,
      description: 'FHIR R4 adapter for peer support in community mental-health pathways.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    // Relative: the adapter answers where this document was fetched from (HOST, PORT, or a proxy in front).
    servers: [{ url: '/', description: 'This adapter' }],
    tags: [
      { name: 'records', description: "Pathway records: send, dry-run, and the sender's status view." },
      { name: 'governance', description: 'Governance evidence (contract §6).' },
      { name: 'self-description', description: 'Schemas, profiles and this document; public.' },
      { name: 'probes', description: 'Liveness and readiness; public.' },
      { name: 'embedded-fhir', description: 'The embedded FHIR R4 server, when FHIR_BASE_URL is unset.' },
    ],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: "An OAuth 2.0 access token from the site's IdP, or API_TOKEN (local use)." },
      },
      schemas: {
        ...Object.fromEntries(pathwayCodes.map((p) => [`record-${p}`, recordComponent(p)])),
        ...Object.fromEntries(Object.entries(answers).map(([name, schema]) => [name, component(schema)])),
      },
    },
    security: [{ bearer: [] }],
    paths: prune({ ...recordPaths(), ...governancePaths(), ...publicPaths(), ...embeddedFhirPaths() }),
  };
}

/** This adapter's version (package.json). */
export const packageVersion = (
  JSON.parse(readFileSync(resolve(import.meta.dirname, '../../../package.json'), 'utf8')) as { version: string }
).version;

/** GET /openapi.json (public: it describes shapes, never data). */
export function openApiRouter(): Router {
  const router = Router();
  const document = JSON.stringify(openApiDocument(packageVersion));
  router.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(document);
  });
  return router;
}
