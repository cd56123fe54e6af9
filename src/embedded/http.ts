import { badRequest, getStatus, normalizeOperationOutcome, serverError } from '@medplum/core';
import { FhirRouter, type FhirRequest, type HttpMethod } from '@medplum/fhir-router';
import type { CapabilityStatement, OperationOutcome, Resource } from '@medplum/fhirtypes';
import express from 'express';
import { requireBearer, type TokenStore } from './auth.js';
import type { EmbeddedRepository } from './repository.js';
import { withSearchLinks } from './search-links.js';

/** Largest accepted request body: a transaction Bundle of a pathway record fits easily. */
export const MAX_BODY_SIZE = '5mb';
const FHIR_JSON = 'application/fhir+json';
const METHODS: readonly string[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * The FHIR REST API over HTTP, to be mounted at /fhir/R4. GET /metadata is public (as on real FHIR
 * servers, so clients can discover the server); everything else needs a bearer token.
 */
export function createFhirHttpRouter(repo: EmbeddedRepository, tokens: TokenStore): express.Router {
  const fhirRouter = new FhirRouter();
  const router = express.Router();

  router.get('/metadata', (_req, res) => {
    send(res, 200, capabilityStatement());
  });
  router.use(requireBearer(tokens));
  router.use(express.json({ type: ['application/json', FHIR_JSON], limit: MAX_BODY_SIZE }));
  router.use(async (req, res) => {
    if (!METHODS.includes(req.method)) {
      send(res, 405, badRequest('Method not allowed'));
      return;
    }
    const headers = { ...req.headers };
    if (headers['if-match'] && !headers['if-match'].includes('"')) {
      // Medplum only reads a quoted version; accept a bare one too rather than silently ignoring it.
      headers['if-match'] = `W/"${headers['if-match']}"`;
    }
    const fhirReq: FhirRequest = {
      method: req.method as HttpMethod,
      url: req.url.replace(/^\//, ''),
      pathname: '',
      body: req.body,
      params: {},
      query: {},
      headers,
      config: { transactions: true },
    };
    let outcome: OperationOutcome;
    let resource: Resource | undefined;
    try {
      [outcome, resource] = await fhirRouter.handleRequest(fhirReq, repo);
    } catch (err) {
      outcome = normalizeOperationOutcome(err);
    }
    const status = getStatus(outcome);
    if (status >= 500) {
      // Never echo internals (stack traces, resource content) to the caller.
      send(res, status, serverError(new Error('Internal server error')));
      return;
    }
    if (resource && status < 400) {
      const versionId = resource.meta?.versionId;
      if (versionId) {
        res.set('ETag', `W/"${versionId}"`);
      }
      if (resource.meta?.lastUpdated) {
        res.set('Last-Modified', new Date(resource.meta.lastUpdated).toUTCString());
      }
      if (status === 201 && resource.id && versionId) {
        const base = `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}`;
        res.set('Location', `${base}/${resource.resourceType}/${resource.id}/_history/${versionId}`);
      }
      send(res, status, withSearchLinks(fhirReq, resource, `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}/`));
      return;
    }
    send(res, status, outcome);
  });
  router.use(((err, _req, res, _next) => {
    const e = err as { status?: number; type?: string };
    if (e.type === 'entity.too.large') {
      send(res, 413, { ...badRequest('Request body too large'), issue: [{ severity: 'error', code: 'too-long', details: { text: 'Request body too large' } }] });
    } else if (e.status && e.status < 500) {
      send(res, 400, badRequest('Invalid JSON body'));
    } else {
      send(res, 500, serverError(new Error('Internal server error')));
    }
  }) as express.ErrorRequestHandler);
  return router;
}

/** Writes a FHIR JSON body with res.end, bypassing Express's automatic ETag and freshness handling. */
function send(res: express.Response, status: number, body: Resource): void {
  res.status(status).type(FHIR_JSON).end(JSON.stringify(body));
}

function capabilityStatement(): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2025-01-01',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['json'],
    software: { name: 'peer-pathways-fhir embedded FHIR server (Medplum FHIR router)' },
    rest: [
      {
        mode: 'server',
        security: {
          service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'OAuth' }] }],
          description: 'Bearer token (static API token or OAuth 2.0 client_credentials at /oauth2/token)',
        },
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'search-system' }],
      },
    ],
  };
}
