import { badRequest, serverError } from '@medplum/core';
import { FhirRouter } from '@medplum/fhir-router';
import type { CapabilityStatement, Resource } from '@medplum/fhirtypes';
import express from 'express';
import { requireBearer, type TokenStore } from './auth.js';
import { answerFhirRequest, FHIR_JSON, tooLarge } from './fhir-exchange.js';
import type { EmbeddedRepository } from './repository.js';

/** Largest accepted request body: a transaction Bundle of a pathway record fits easily. */
export const MAX_BODY_SIZE = '5mb';

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
    const fhirBase = `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}/`;
    const answer = await answerFhirRequest(fhirRouter, repo, { method: req.method, path: req.url.replace(/^\//, ''), body: req.body, headers: req.headers }, fhirBase);
    res.set(answer.headers);
    send(res, answer.status, answer.body);
  });
  router.use(((err, _req, res, _next) => {
    const e = err as { status?: number; type?: string };
    if (e.type === 'entity.too.large') {
      send(res, 413, tooLarge);
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
