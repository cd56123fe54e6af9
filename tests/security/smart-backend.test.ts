import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readEnv } from '../../src/config/env.js';
import { FhirClient } from '../../src/fhir/client.js';
import { assertionLifetimeSeconds, discoverTokenEndpoint, SmartBackendAuth } from '../../src/fhir/smart-backend-auth.js';
import { AdapterError } from '../../src/outcomes/index.js';
import { AuthConfigError, fhirCredentialsFromEnv } from '../../src/server/auth/config.js';

// Plain http: nock's interception of TLS sockets in undici is flaky (an unhandled error after a mocked 401).
const authBase = 'http://auth.fhir.test.example';
const tokenUrl = `${authBase}/oauth2/token`;
const fhirOrigin = 'http://fhir.test.example';
/** A FHIR base as every FHIR tool takes it: nothing is appended to it. */
const fhirBase = `${fhirOrigin}/fhir/R4`;
const clientId = 'peer-pathways-adapter';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const keyFile = join(mkdtempSync(join(tmpdir(), 'ppf-smart-')), 'adapter-key.pem');
writeFileSync(keyFile, pem, { mode: 0o600 });

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});
afterEach(() => {
  nock.cleanAll();
});
afterAll(() => {
  nock.enableNetConnect();
});

/** What the token endpoint received, request by request. */
const received: URLSearchParams[] = [];

function tokenEndpoint(answers: Array<[number, object]>) {
  const scope = nock(authBase);
  for (const [status, body] of answers) {
    scope
      .post('/oauth2/token', (form: Record<string, string>) => {
        received.push(new URLSearchParams(form));
        return true;
      })
      .reply(status, body);
  }
  return scope;
}

function provider(now?: () => number) {
  return new SmartBackendAuth({
    tokenUrl,
    clientId,
    privateKey: keyFile,
    keyId: 'adapter-key-2026',
    alg: 'RS384',
    scope: 'system/*.crus',
    timeoutMs: 2000,
    now,
  });
}

describe('SMART Backend Services towards the FHIR server', () => {
  it('asks for a token with a signed client assertion: iss = sub = client id, aud = token URL, exp ≤ 5 min, a fresh jti', async () => {
    received.length = 0;
    const scope = tokenEndpoint([
      [200, { access_token: 'tok-1', token_type: 'bearer', expires_in: 300 }],
      [200, { access_token: 'tok-2', expires_in: 300 }],
    ]);
    const auth = provider();
    expect(await auth.token()).toBe('tok-1');
    auth.invalidate();
    expect(await auth.token()).toBe('tok-2');
    scope.done();
    const jtis = new Set<string>();
    for (const form of received) {
      expect(form.get('grant_type')).toBe('client_credentials');
      expect(form.get('scope')).toBe('system/*.crus');
      expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      const assertion = form.get('client_assertion')!;
      expect(decodeProtectedHeader(assertion)).toMatchObject({ alg: 'RS384', kid: 'adapter-key-2026', typ: 'JWT' });
      // Verifying with the public key proves the signature; the options check the claims.
      const { payload } = await jwtVerify(assertion, publicKey, {
        issuer: clientId,
        subject: clientId,
        audience: tokenUrl,
        algorithms: ['RS384'],
      });
      expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(assertionLifetimeSeconds);
      expect(payload.exp! - payload.iat!).toBeGreaterThan(0);
      expect(typeof payload.jti).toBe('string');
      jtis.add(payload.jti!);
    }
    expect(jtis.size).toBe(2);
  });

  it('caches the token until shortly before it expires, and shares one request between concurrent callers', async () => {
    let now = Date.parse('2026-11-20T10:00:00Z');
    const scope = tokenEndpoint([
      [200, { access_token: 'tok-a', expires_in: 300 }],
      [200, { access_token: 'tok-b', expires_in: 300 }],
    ]);
    const auth = provider(() => now);
    expect(await Promise.all([auth.token(), auth.token(), auth.token()])).toEqual(['tok-a', 'tok-a', 'tok-a']);
    now += 230_000;
    expect(await auth.token()).toBe('tok-a');
    now += 20_000; // 250 s: within the refresh margin of a 300 s token
    expect(await auth.token()).toBe('tok-b');
    scope.done();
  });

  it('FhirClient sends the token, and after a 401 gets a fresh one and sends the request once more', async () => {
    const tokens = tokenEndpoint([
      [200, { access_token: 'stale', expires_in: 3600 }],
      [200, { access_token: 'fresh', expires_in: 3600 }],
    ]);
    const fhir = nock(fhirOrigin)
      .get('/fhir/R4/metadata')
      .matchHeader('authorization', 'Bearer stale')
      .reply(401, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] })
      .get('/fhir/R4/metadata')
      .matchHeader('authorization', 'Bearer fresh')
      .reply(200, {
        resourceType: 'CapabilityStatement',
        status: 'active',
        kind: 'instance',
        date: '2026-01-01',
        fhirVersion: '4.0.1',
        format: ['json'],
      });
    const client = new FhirClient({ baseUrl: fhirBase, timeoutMs: 2000, tokenProvider: provider() });
    expect((await client.metadata()).resourceType).toBe('CapabilityStatement');
    tokens.done();
    fhir.done();
  });

  it('a refused client assertion is a 503 naming the OAuth error, never repeating the assertion or a token', async () => {
    received.length = 0;
    tokenEndpoint([[401, { error: 'invalid_client', error_description: 'unknown key adapter-key-2026' }]]);
    const err = await provider()
      .token()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterError);
    expect((err as AdapterError).status).toBe(503);
    const text = JSON.stringify((err as AdapterError).outcome);
    expect(text).toContain('invalid_client');
    expect(text).not.toContain(received[0]!.get('client_assertion')!.slice(-20));
  });

  it("finds the token endpoint in the server's .well-known/smart-configuration when FHIR_TOKEN_URL is unset", async () => {
    received.length = 0;
    const discovery = nock(fhirOrigin)
      .get('/fhir/R4/.well-known/smart-configuration')
      .reply(200, { token_endpoint: tokenUrl, grant_types_supported: ['client_credentials'] });
    const tokens = tokenEndpoint([[200, { access_token: 'discovered', expires_in: 300 }]]);
    const auth = new SmartBackendAuth({
      tokenUrl: discoverTokenEndpoint(fhirBase, 2000),
      clientId,
      privateKey: pem,
      keyId: 'k1',
      alg: 'RS384',
      scope: 'system/*.crus',
      timeoutMs: 2000,
    });
    expect(await auth.token()).toBe('discovered');
    const { payload } = await jwtVerify(received[0]!.get('client_assertion')!, publicKey, { audience: tokenUrl });
    expect(payload.iss).toBe(clientId);
    discovery.done();
    tokens.done();
  });

  it('a server without a SMART configuration is a 503 telling the operator to set FHIR_TOKEN_URL', async () => {
    nock(fhirOrigin).get('/fhir/R4/.well-known/smart-configuration').reply(404, { resourceType: 'OperationOutcome' });
    const err = await discoverTokenEndpoint(fhirBase, 2000)().catch((e: unknown) => e);
    expect((err as AdapterError).status).toBe(503);
    expect(JSON.stringify((err as AdapterError).outcome)).toContain('set FHIR_TOKEN_URL');
  });

  it('is chosen by FHIR_PRIVATE_KEY, and a partial configuration stops start-up', () => {
    const base = { FHIR_BASE_URL: fhirBase, FHIR_TOKEN_URL: tokenUrl, FHIR_CLIENT_ID: clientId, FHIR_KEY_ID: 'k1' };
    expect(fhirCredentialsFromEnv(readEnv({ ...base, FHIR_PRIVATE_KEY: pem })).tokenProvider).toBeInstanceOf(SmartBackendAuth);
    expect(() => fhirCredentialsFromEnv(readEnv(base))).toThrow(AuthConfigError);
    expect(() => fhirCredentialsFromEnv(readEnv({ ...base, FHIR_PRIVATE_KEY: pem, FHIR_KEY_ALG: 'HS256' }))).toThrow(/FHIR_KEY_ALG/);
    expect(fhirCredentialsFromEnv(readEnv({ FHIR_BASE_URL: fhirBase, FHIR_CLIENT_ID: 'c', FHIR_CLIENT_SECRET: 's' }))).toEqual({
      clientId: 'c',
      clientSecret: 's',
      accessToken: undefined,
      tokenUrl: undefined,
    });
    expect(() => fhirCredentialsFromEnv(readEnv({ FHIR_BASE_URL: fhirBase, FHIR_CLIENT_ID: 'c' }))).toThrow(/FHIR_CLIENT_SECRET/);
  });
});
