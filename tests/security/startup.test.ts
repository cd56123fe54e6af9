import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEnv } from '../../src/config/env.js';
import { MappingsError } from '../../src/config/mappings.js';
import { authConfigFromEnv, AuthConfigError } from '../../src/server/auth/config.js';
import { apiTokenFileName, resolveStaticToken } from '../../src/server/auth/static-token.js';
import { startService } from '../../src/server/start.js';
import { fixture, startTestService } from '../harness.js';
import { createTestIdp, issuer } from './idp.js';

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});
afterAll(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

describe('the static token when API_TOKEN is not given', () => {
  it('is generated once into DATA_DIR/api-token (owner-only) and reused by later starts', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ppf-token-')), 'data');
    const first = resolveStaticToken(undefined, dir, false);
    expect(first.generated).toBe(true);
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const file = join(dir, apiTokenFileName);
    expect(first.file).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.token);
    expect(resolveStaticToken(undefined, dir, false)).toEqual({ token: first.token, generated: false, file });
  });

  it('is per run with DATA_DIR=:memory:, absent when OAuth is configured, and API_TOKEN always wins', () => {
    const mem = resolveStaticToken(undefined, ':memory:', false);
    expect(mem.generated).toBe(true);
    expect(resolveStaticToken(undefined, ':memory:', false).token).not.toBe(mem.token);
    expect(resolveStaticToken(undefined, ':memory:', true)).toEqual({ generated: false });
    expect(resolveStaticToken('given', ':memory:', true)).toEqual({ token: 'given', generated: false });
  });

  it('a service started without API_TOKEN reports the generated token once, and accepts it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ppf-svc-'));
    const env = readEnv({ PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
    const first = await startService(env, { host: '127.0.0.1' });
    const token = first.generatedApiToken!;
    expect(token).toBeTruthy();
    const res = await fetch(`${first.url}/pathway-records/$validate`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(fixture('crisis-transition', 'st-1')),
    });
    expect(res.status).toBe(200);
    await first.close();
    const second = await startService(env, { host: '127.0.0.1' });
    expect(second.generatedApiToken).toBeUndefined();
    expect(second.apiTokenFile).toBe(join(dataDir, apiTokenFileName));
    const again = await fetch(`${second.url}/pathway-records/$validate`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(again.status).toBe(200);
    await second.close();
  });
});

describe('start-up refuses an auth configuration that would be open or unusable', () => {
  const base = { DATA_DIR: ':memory:' };
  it('AUTH_ISSUER without an audience or keys, or AUTH_* without an issuer', () => {
    expect(() => authConfigFromEnv(readEnv({ ...base, AUTH_ISSUER: issuer, AUTH_JWKS_URL: 'https://idp.example/jwks' }))).toThrow(
      AuthConfigError,
    );
    expect(() => authConfigFromEnv(readEnv({ ...base, AUTH_ISSUER: issuer, AUTH_AUDIENCE: 'a' }))).toThrow(AuthConfigError);
    expect(() => authConfigFromEnv(readEnv({ ...base, AUTH_AUDIENCE: 'a' }))).toThrow(AuthConfigError);
  });

  it('a clients.json that breaks its schema (unknown scope), or is missing while OAuth is on', () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'ppf-clients-')), 'clients.json');
    writeFileSync(
      bad,
      JSON.stringify({ clients: [{ clientId: 'x', sourceSystems: ['urn:x:y'], scopes: ['pathway-records/everything.write'] }] }),
    );
    expect(() => authConfigFromEnv(readEnv({ ...base, AUTH_CLIENTS_FILE: bad }))).toThrow(/unknown scope/);
    const oauth = { ...base, AUTH_ISSUER: issuer, AUTH_AUDIENCE: 'a', AUTH_JWKS_URL: 'https://idp.example/jwks' };
    expect(() => authConfigFromEnv(readEnv({ ...oauth, AUTH_CLIENTS_FILE: '/nonexistent/clients.json' }))).toThrow(MappingsError);
  });

  it('the shipped mappings/clients.json is valid', () => {
    expect(authConfigFromEnv(readEnv(base)).auth.clients.clients.length).toBeGreaterThan(0);
  });
});

describe("keys from the IdP's JWKS URL", () => {
  it('verifies tokens against a fetched JWKS, and answers 503 (not 401) while the keys cannot be fetched', async () => {
    const idp = await createTestIdp({ remote: true });
    // Plain http: nock's interception of TLS sockets in undici is flaky.
    const jwksUrl = 'http://idp.test.example/realms/care/protocol/openid-connect/certs';
    const svc = await startTestService({ ...idp.env, AUTH_JWKS_URL: jwksUrl });
    try {
      nock('http://idp.test.example').get('/realms/care/protocol/openid-connect/certs').reply(503);
      const token = await idp.mint('ct-submitter', 'pathway-records.validate');
      const call = () =>
        fetch(`${svc.url}/pathway-records/$validate`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
          body: '{}',
        });
      const down = await call();
      expect(down.status).toBe(503);
      expect(down.headers.get('retry-after')).toBeTruthy();
      expect(((await down.json()) as any).issue[0].details.coding[0].code).toBe('auth-unavailable');
      nock('http://idp.test.example').get('/realms/care/protocol/openid-connect/certs').reply(200, idp.jwks);
      expect((await call()).status).toBe(200);
    } finally {
      await svc.close();
    }
  });
});
