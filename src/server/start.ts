import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EnvConfig } from '../config/env.js';
import { loadMappings } from '../config/mappings.js';
import { createEmbeddedFhirServer, type EmbeddedFhirServer } from '../embedded/index.js';
import { FhirClient } from '../fhir/client.js';
import { loadFhirDefinitions } from '../fhir/definitions.js';
import { loadProfiles } from '../gates/load-profiles.js';
import { RecordLock } from '../pipeline/record-lock.js';
import type { Adapter } from '../pipeline/process-record.js';
import { createApp } from './app.js';
import { createLogger } from './logger.js';

/** A running service. */
export interface RunningService {
  url: string;
  server: Server;
  adapter: Adapter;
  embedded?: EmbeddedFhirServer;
  close(): Promise<void>;
}

/**
 * Starts the service: checks mappings/ and profiles/ (either failing stops start-up), starts the
 * embedded FHIR server when FHIR_BASE_URL is unset, and listens.
 */
export async function startService(env: EnvConfig, opts: { host?: string } = {}): Promise<RunningService> {
  const log = createLogger(env.logLevel);
  const mappings = loadMappings(env.mappingsDir);
  loadFhirDefinitions();
  const profiles = loadProfiles();
  // The embedded server has its own client credentials, unknown outside this process.
  const internal = { clientId: 'peer-pathways-adapter', clientSecret: randomBytes(24).toString('base64url') };
  const embedded = env.fhirBaseUrl ? undefined : await createEmbeddedFhirServer({
    dataDir: env.dataDir,
    accessTokens: [env.apiToken],
    ...internal,
  });
  // The FHIR client is made once the port is known (the embedded server is this very process);
  // no request can be handled before the listen promise's continuation runs.
  const adapter: Adapter = { fhir: undefined as unknown as FhirClient, mappings, profiles, lock: new RecordLock() };
  const app = createApp({ adapter, apiToken: env.apiToken, maxBodyBytes: env.maxBodyBytes, log, embedded });
  const host = opts.host ?? '0.0.0.0';
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(env.port, host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  adapter.fhir = new FhirClient(env.fhirBaseUrl
    ? { baseUrl: env.fhirBaseUrl, clientId: env.fhirClientId, clientSecret: env.fhirClientSecret, accessToken: env.fhirAccessToken, timeoutMs: env.fhirTimeoutMs }
    : { baseUrl: `${url}/`, ...internal, timeoutMs: env.fhirTimeoutMs });
  log.info({ port, fhir: env.fhirBaseUrl ? 'external' : 'embedded' }, 'peer-pathways-fhir listening');
  return {
    url,
    server,
    adapter,
    embedded,
    async close() {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await embedded?.close();
    },
  };
}
