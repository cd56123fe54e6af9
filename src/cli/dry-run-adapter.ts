import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { readEnv } from '../config/env.js';
import { loadMappings } from '../config/mappings.js';
import { createEmbeddedFhirServer, IN_MEMORY } from '../embedded/index.js';
import { FhirClient } from '../fhir/client.js';
import { loadFhirDefinitions } from '../contract/definitions.js';
import { loadProfiles } from '../gates/load-profiles.js';
import type { Adapter } from '../pipeline/process-record.js';
import { RecordLock } from '../pipeline/record-lock.js';
import { fhirCredentialsFromEnv } from '../server/auth/config.js';

/** An adapter for validate/map: reads from a FHIR server, never writes, and runs no background job. */
export interface DryRunAdapter {
  adapter: Adapter;
  /** What references are resolved against, for the report. */
  fhir: string;
  close(): Promise<void>;
}

/**
 * An adapter whose FHIR server is `server` (or FHIR_BASE_URL), or else a fresh in-memory embedded
 * server with the demo directory, served on a loopback port of this process only.
 */
export async function openDryRunAdapter(opts: { server?: string; mappingsDir?: string }): Promise<DryRunAdapter> {
  const env = readEnv({
    ...process.env,
    ...(opts.server ? { FHIR_BASE_URL: opts.server } : {}),
    ...(opts.mappingsDir ? { MAPPINGS_DIR: opts.mappingsDir } : {}),
  });
  const mappings = loadMappings(env.mappingsDir);
  loadFhirDefinitions();
  const profiles = loadProfiles();
  const lock = new RecordLock();
  if (env.fhirBaseUrl) {
    const fhir = new FhirClient({
      baseUrl: env.fhirBaseUrl,
      ...fhirCredentialsFromEnv(env),
      timeoutMs: env.fhirTimeoutMs,
      breakerCooldownMs: env.fhirBreakerCooldownMs,
    });
    return { adapter: { fhir, mappings, profiles, lock }, fhir: env.fhirBaseUrl, close: async () => undefined };
  }
  const internal = { clientId: 'peer-pathways-cli', clientSecret: randomBytes(24).toString('base64url') };
  const embedded = await createEmbeddedFhirServer({ dataDir: IN_MEMORY, accessTokens: [], ...internal });
  const app = express();
  app.use('/fhir/R4', embedded.fhirRouter);
  app.use('/oauth2', embedded.oauthRouter);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const fhir = new FhirClient({
    baseUrl: `${url}/fhir/R4`,
    tokenUrl: `${url}/oauth2/token`,
    ...internal,
    timeoutMs: env.fhirTimeoutMs,
    breakerCooldownMs: env.fhirBreakerCooldownMs,
  });
  return {
    adapter: { fhir, mappings, profiles, lock },
    fhir: 'in-memory embedded FHIR server with the demo directory',
    async close() {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await embedded.close();
    },
  };
}
