import { badRequest, serverError } from '@medplum/core';
import { FhirRouter } from '@medplum/fhir-router';
import type { Resource } from '@medplum/fhirtypes';
import express from 'express';
import { authorizeFhirRequest, grantLocal, requireBearer, type TokenStore } from './auth.js';
import type { SmartGrant } from '../contract/smart-scopes.js';
import type { CapabilityStatementBuilder } from './capability.js';
import { answerFhirRequest, bundleShapeProblem, FHIR_JSON, tooLarge } from './fhir-exchange.js';
import { smartConfiguration } from './smart-configuration.js';
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
export function createFhirHttpRouter(
  repo: EmbeddedRepository,
  tokens: TokenStore,
  capability: CapabilityStatementBuilder,
  opts: { tokenEndpoint?: TokenEndpointOf } = {},
): express.Router {
  const fhirRouter = new FhirRouter();
  const router = express.Router();

  router.get('/metadata', (req, res) => {
    const root = `${req.protocol}://${req.get('host') ?? 'localhost'}`;
    res
      .status(200)
      .type(FHIR_JSON)
      .end(capability.json(`${root}${req.baseUrl}`, root));
  });
  router.get('/.well-known/smart-configuration', (req, res) => {
    res
      .status(200)
      .type('application/json')
      .end(JSON.stringify(smartConfiguration((opts.tokenEndpoint ?? defaultTokenEndpoint)(req))));
  });
  router.use(requireBearer(tokens));
  // JSON Patch (RFC 6902) is how a FHIR client sends PATCH: without its media type the body would be lost.
  router.use(express.json({ type: ['application/json', FHIR_JSON, 'application/json-patch+json'], limit: MAX_BODY_SIZE }));
  // `POST [type]/_search` carries its parameters as a form (FHIR http.html#search).
  router.use(express.urlencoded({ extended: false, limit: MAX_BODY_SIZE }));
  router.use(async (req, res) => {
    const fhirBase = `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}/`;
    const path = req.url.replace(/^\//, '');
    const shape = bundleShapeProblem(req.body);
    if (shape) {
      send(res, 400, badRequest(shape));
      return;
    }
    const refused = authorizeFhirRequest(
      res.locals[grantLocal] as SmartGrant,
      { method: req.method, path, body: req.body },
      `${req.baseUrl}/`,
    );
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
