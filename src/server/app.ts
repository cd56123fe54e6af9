import express, { type Express } from 'express';
import type { Measure } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import type { GovernanceConfig } from '../config/governance-schema.js';
import type { EmbeddedFhirServer } from '../embedded/index.js';
import type { Adapter } from '../pipeline/process-record.js';
import { accessLog } from './access-log.js';
import { authenticate, type AuthConfig } from './auth/authenticate.js';
import { requireRouteScope, requireScope } from './auth/authorize.js';
import { scopes } from '../contract/scopes.js';
import { correlationId, errorHandler, notFound } from './errors.js';
import { evaluateMeasureRouter } from '../governance/evaluate-measure.js';
import { governanceRouter } from '../governance/router.js';
import { healthRouter } from './routes/health.js';
import { openApiRouter } from './routes/openapi.js';
import { profilesRouter } from './routes/profiles.js';
import { schemasRouter } from './routes/schemas.js';
import { pathwayRecordsRouter } from './routes/pathway-records.js';
import { recordStatusRouter } from './routes/record-status.js';
import { securityHeaders } from './security-headers.js';
import { rateLimitPerClient } from './security-rate-limit.js';

/** What the HTTP app is built from. */
export interface AppDeps {
  adapter: Adapter;
  /** How callers authenticate (static API_TOKEN, OAuth JWTs) and who is registered. */
  auth: AuthConfig;
  /** Requests per minute per authenticated client; 0 = no limit. */
  rateLimitPerMinute: number;
  maxBodyBytes: number;
  log: Logger;
  embedded?: EmbeddedFhirServer;
  /** mappings/governance.json and profiles/measures/, both checked at start-up. */
  governance?: { config: GovernanceConfig; measures: Measure[] };
}

/** The Express app: the embedded FHIR server (when there is one), then the adapter's own endpoints. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.set('etag', false);
  app.set('x-powered-by', false);
  app.use(securityHeaders());
  app.use(correlationId);
  app.use(accessLog(deps.log));
  if (deps.embedded) {
    if (deps.governance) {
      // FHIR $evaluate-measure on the governance Measures: ahead of the store's router, which knows no governance.
      const guard = [authenticate(deps.auth), rateLimitPerClient(deps.rateLimitPerMinute), requireScope(scopes.governance)];
      app.use('/fhir/R4', evaluateMeasureRouter(deps.adapter, deps.governance.config, deps.governance.measures, guard));
      deps.embedded.capability.declareOperation(
        'Measure',
        'evaluate-measure',
        'http://hl7.org/fhir/OperationDefinition/Measure-evaluate-measure',
      );
    }
    app.use('/fhir/R4', deps.embedded.fhirRouter);
    app.use('/oauth2', deps.embedded.oauthRouter);
  }
  // Public: probes and self-description.
  app.use(healthRouter(deps.adapter));
  app.use(openApiRouter(), profilesRouter(deps.adapter.profiles), schemasRouter());
  // Everything below needs a caller's token, then the scope its endpoint needs (auth/authorize.ts).
  app.use(authenticate(deps.auth));
  app.use(rateLimitPerClient(deps.rateLimitPerMinute));
  app.use(requireRouteScope);
  app.use(pathwayRecordsRouter(deps.adapter, deps.maxBodyBytes));
  if (deps.governance) app.use(governanceRouter(deps.adapter, deps.governance.config, deps.governance.measures));
  // GET only: it cannot shadow POST /pathway-records/$validate.
  app.use(recordStatusRouter(deps.adapter));
  app.use(notFound);
  app.use(errorHandler(deps.log));
  return app;
}
