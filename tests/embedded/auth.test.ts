import { MedplumClient } from '@medplum/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_ID, CLIENT_SECRET, startHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ loadDemoDirectory: false });
});
afterAll(async () => {
  await h.stop();
});

describe('embedded FHIR server authentication', () => {
  it('refuses a request without a token with 401, an OperationOutcome and WWW-Authenticate', async () => {
    const res = await fetch(h.base + 'Patient');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
  });

  it('refuses an unknown token', async () => {
    const res = await fetch(h.base + 'Patient', { headers: { authorization: 'Bearer nope' } });
    expect(res.status).toBe(401);
  });

  it('accepts the static token', async () => {
    const res = await h.request('GET', 'Patient');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/fhir+json');
  });

  it('serves the CapabilityStatement without a token', async () => {
    const res = await fetch(h.base + 'metadata');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { resourceType: string }).resourceType).toBe('CapabilityStatement');
  });

  it('issues a working token for client_credentials in the form body', async () => {
    const res = await fetch(h.root + 'oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; token_type: string; expires_in: number };
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBe(3600);
    const read = await fetch(h.base + 'Patient', { headers: { authorization: `Bearer ${body.access_token}` } });
    expect(read.status).toBe(200);
  });

  it('accepts client credentials in HTTP Basic', async () => {
    const res = await fetch(h.root + 'oauth2/token', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: 'Basic ' + Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64'),
      },
      body: 'grant_type=client_credentials',
    });
    expect(res.status).toBe(200);
  });

  it('refuses a bad client secret with 401', async () => {
    const res = await fetch(h.root + 'oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: 'wrong' }),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('works with MedplumClient client credentials (baseUrl = service root)', async () => {
    const client = new MedplumClient({ baseUrl: h.root, fhirUrlPath: 'fhir/R4', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    await client.startClientLogin(CLIENT_ID, CLIENT_SECRET);
    const patient = await client.createResource({ resourceType: 'Patient', gender: 'unknown' });
    expect((await client.readResource('Patient', patient.id)).gender).toBe('unknown');
  });
});
