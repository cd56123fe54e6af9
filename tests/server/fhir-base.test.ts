import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedFhirServer, type EmbeddedFhirServer } from '../../src/embedded/index.js';
import { exampleSource, fixture, startTestService, type TestService } from '../harness.js';
import { startProcess, type ServiceProcess } from './process.js';

const token = 'fhir-base-test-token-0123';

/** A record written through `adapter`, read back on the FHIR server at `fhirBase` with `auth`. */
async function writesThrough(adapter: TestService, fhirBase: string, auth: string, recordId: string): Promise<void> {
  const answer = await adapter.post(fixture('crisis-transition', recordId));
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  const plan = answer.body.resources.find((r: { reference: string }) => r.reference.startsWith('CarePlan/'));
  const res = await fetch(`${fhirBase}/${plan.reference}`, { headers: { Authorization: auth } });
  expect(res.status).toBe(200);
  expect(((await res.json()) as { identifier?: { system?: string }[] }).identifier?.[0]?.system).toBe(exampleSource);
  expect((await fetch(`${adapter.url}/ready`)).status).toBe(200);
}

describe('FHIR_BASE_URL is the FHIR base, whatever its path', () => {
  let first: ServiceProcess;
  let second: TestService | undefined;
  beforeAll(async () => {
    first = await startProcess('node', ['bin/peer-pathways-fhir.mjs', 'serve'], {
      PORT: '0',
      DATA_DIR: ':memory:',
      API_TOKEN: token,
      ESCALATION_INTERVAL_MS: '0',
    });
  });
  afterAll(async () => {
    await second?.close();
    first?.child.kill('SIGTERM');
    await first?.exited;
  });

  it('writes to the embedded server of another adapter process at http://host:port/fhir/R4 (with its token)', async () => {
    const base = `${first.url}/fhir/R4`;
    second = await startTestService({ FHIR_BASE_URL: base, FHIR_ACCESS_TOKEN: token });
    await writesThrough(second, base, `Bearer ${token}`, 'base-adapter-1');
    // A trailing slash names the same base.
    const slash = await startTestService({ FHIR_BASE_URL: `${base}/`, FHIR_ACCESS_TOKEN: token });
    try {
      await writesThrough(slash, base, `Bearer ${token}`, 'base-adapter-2');
    } finally {
      await slash.close();
    }
  });
});

describe('a HAPI-style base (/fhir) with client credentials and the token endpoint from .well-known/smart-configuration', () => {
  let fhir: EmbeddedFhirServer;
  let server: Server;
  let base: string;
  let adapter: TestService;
  const seen: string[] = [];
  beforeAll(async () => {
    fhir = await createEmbeddedFhirServer({
      dataDir: ':memory:',
      accessTokens: ['reader-token'],
      clientId: 'site-adapter',
      clientSecret: 'site-secret',
    });
    const app = express();
    app.set('etag', false);
    app.use((req, _res, next) => {
      seen.push(`${req.method} ${req.path}`);
      next();
    });
    app.use('/fhir', fhir.fhirRouter);
    app.use('/oauth2', fhir.oauthRouter);
    server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
    adapter = await startTestService({ FHIR_BASE_URL: base, FHIR_CLIENT_ID: 'site-adapter', FHIR_CLIENT_SECRET: 'site-secret' });
  });
  afterAll(async () => {
    await adapter?.close();
    await new Promise((resolve) => server.close(resolve));
    await fhir.close();
  });

  it('finds the token endpoint, gets a token, and writes under /fhir with nothing appended', async () => {
    await writesThrough(adapter, base, 'Bearer reader-token', 'base-hapi-1');
    expect(seen).toContain('GET /fhir/.well-known/smart-configuration');
    expect(seen).toContain('POST /oauth2/token');
    expect(seen).toContain('POST /fhir/');
    expect(seen.filter((s) => s.includes('/fhir/R4'))).toEqual([]);
  });
});
