import { badRequest, serverError } from '@medplum/core';
import { FhirRouter } from '@medplum/fhir-router';
import type { CapabilityStatement, Resource } from '@medplum/fhirtypes';
import express from 'express';
import { authorizeFhirRequest, grantLocal, requireBearer, type TokenStore } from './auth.js';
import type { SmartGrant } from '../fhir/smart-scopes.js';
import { answerFhirRequest, FHIR_JSON, tooLarge } from './fhir-exchange.js';
import type { EmbeddedRepository } from './repository.js';

/** Largest accepted request body: a transaction Bundle of a pathway record fits easily. */
export const MAX_BODY_SIZE = '5mb';

/** Where the OAuth token endpoint is, seen from a request to the FHIR base: by default `/oauth2/token` on the same host. */
export type TokenEndpointOf = (req: express.Request) => string;
const defaultTokenEndpoint: TokenEndpointOf = (req) => `${req.protocol}://${req.get('host') ?? 'localhost'}/oauth2/token`;

/**
 * The FHIR REST API over HTTP, to be mounted at /fhir/R4. GET /metadata and
 * /.well-known/smart-configuration are public (as on real FHIR servers, so clients can discover the
 * server and its token endpoint); everything else needs a bearer token whose SMART system scopes allow
 * the interaction (auth.ts authorizeFhirRequest).
 */
export function createFhirHttpRouter(repo: EmbeddedRepository, tokens: TokenStore, opts: { tokenEndpoint?: TokenEndpointOf } = {}): express.Router {
  const fhirRouter = new FhirRouter();
  const router = express.Router();

  router.get('/metadata', (_req, res) => {
    send(res, 200, capabilityStatement());
  });
  // SMART configuration (https://hl7.org/fhir/smart-app-launch/conformance.html): how a backend client gets a token.
  router.get('/.well-known/smart-configuration', (req, res) => {
    res.status(200).type('application/json').end(JSON.stringify({
      token_endpoint: (opts.tokenEndpoint ?? defaultTokenEndpoint)(req),
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      scopes_supported: ['system/*.cruds', 'system/*.rs'],
      capabilities: ['client-confidential-symmetric', 'permission-v2', 'permission-v1'],
    }));
  });
  router.use(requireBearer(tokens));
  router.use(express.json({ type: ['application/json', FHIR_JSON], limit: MAX_BODY_SIZE }));
  router.use(async (req, res) => {
    const fhirBase = `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}/`;
    const path = req.url.replace(/^\//, '');
    const refused = authorizeFhirRequest(res.locals[grantLocal] as SmartGrant, { method: req.method, path, body: req.body }, `${req.baseUrl}/`);
    if (refused) {
      send(res, 403, refused);
      return;
    }
    const answer = await answerFhirRequest(fhirRouter, repo, { method: req.method, path, body: req.body, headers: req.headers }, fhirBase);
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
