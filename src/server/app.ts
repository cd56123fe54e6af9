import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { EmbeddedFhirServer } from '../embedded/index.js';
import type { Adapter } from '../pipeline/process-record.js';
import { requireApiToken } from './auth.js';
import { correlationId, errorHandler, notFound } from './errors.js';
import { healthRouter } from './routes/health.js';
import { pathwayRecordsRouter } from './routes/pathway-records.js';

/** What the HTTP app is built from. */
export interface AppDeps {
  adapter: Adapter;
  apiToken: string;
  maxBodyBytes: number;
  log: Logger;
  embedded?: EmbeddedFhirServer;
}

/** The Express app: the embedded FHIR server (when there is one), then the adapter's own endpoints. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.set('etag', false);
  app.set('x-powered-by', false);
  app.use(correlationId);
  if (deps.embedded) {
    app.use('/fhir/R4', deps.embedded.fhirRouter);
    app.use('/oauth2', deps.embedded.oauthRouter);
  }
  // Public: probes and self-description.
  app.use(healthRouter(deps.adapter));
  // Everything below needs a caller's token.
  app.use(requireApiToken(deps.apiToken));
  app.use(pathwayRecordsRouter(deps.adapter, deps.maxBodyBytes));
  app.use(notFound);
  app.use(errorHandler(deps.log));
  return app;
}
