import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { createEmbeddedFhirServer, type EmbeddedFhirOptions, type EmbeddedFhirServer } from '../../src/embedded/index.js';

export const TOKEN = 'test-static-token';
export const CLIENT_ID = 'test-client';
export const CLIENT_SECRET = 'test-secret';

/** An embedded FHIR server listening on a random local port. */
export interface Harness {
  fhir: EmbeddedFhirServer;
  root: string;
  base: string;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  stop(): Promise<void>;
}

/** Starts the routers in an express app on port 0. */
export async function startHarness(options: Partial<EmbeddedFhirOptions> = {}): Promise<Harness> {
  const fhir = await createEmbeddedFhirServer({
    dataDir: ':memory:',
    accessTokens: [TOKEN],
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    ...options,
  });
  const app = express();
  app.set('etag', false);
  app.use('/fhir/R4', fhir.fhirRouter);
  app.use('/oauth2', fhir.oauthRouter);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const root = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const base = `${root}fhir/R4/`;
  return {
    fhir,
    root,
    base,
    request: (method, path, body, headers = {}) =>
      fetch(base + path, {
        method,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(body === undefined ? {} : { 'content-type': 'application/fhir+json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    async stop() {
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
      await fhir.close();
    },
  };
}
