import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

/** The issuer and audience every test service is configured with. */
export const issuer = 'https://idp.test.example/realms/care';
export const audience = 'https://adapter.test.example';
/** Source systems of the registered test clients. */
export const ownSource = 'urn:example:peer-platform';
export const otherSource = 'urn:example:other-platform';

/** The registered test clients (written to clients.json): what each may do. */
export const testClients = [
  {
    clientId: 'ct-submitter',
    sourceSystems: [ownSource],
    scopes: ['pathway-records/crisis-transition.write', 'pathway-records.validate', 'pathway-records.read'],
  },
  {
    clientId: 'other-source',
    sourceSystems: [otherSource],
    scopes: ['pathway-records/*.write', 'pathway-records.validate', 'pathway-records.read'],
  },
  { clientId: 'governance', sourceSystems: [], scopes: ['governance.read'] },
];

/** A local identity provider: a signing key, its JWKS and clients.json on disk, and a token minter. */
export interface TestIdp {
  env: Record<string, string>;
  jwks: { keys: JWK[] };
  /** Mints a token for `clientId`; `claims` override or add claims, `expiresIn` is seconds from now (negative = expired). */
  mint(
    clientId: string,
    scope: string,
    opts?: { claims?: Record<string, unknown>; expiresIn?: number; foreignKey?: boolean },
  ): Promise<string>;
}

/** Creates the IdP; `remote` leaves AUTH_JWKS_FILE out (the test serves the JWKS itself). */
export async function createTestIdp(opts: { remote?: boolean } = {}): Promise<TestIdp> {
  const dir = mkdtempSync(join(tmpdir(), 'ppf-idp-'));
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const foreign = await generateKeyPair('RS256');
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' }] };
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify(jwks));
  writeFileSync(join(dir, 'clients.json'), JSON.stringify({ clients: testClients }));
  return {
    jwks,
    env: {
      AUTH_ISSUER: issuer,
      AUTH_AUDIENCE: audience,
      AUTH_CLIENTS_FILE: join(dir, 'clients.json'),
      ...(opts.remote ? {} : { AUTH_JWKS_FILE: join(dir, 'jwks.json') }),
    },
    async mint(clientId, scope, { claims = {}, expiresIn = 300, foreignKey = false } = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ scope, client_id: clientId, ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: 'test-key-1', typ: 'at+jwt' })
        .setIssuer((claims.iss as string) ?? issuer)
        .setAudience((claims.aud as string) ?? audience)
        .setSubject(`service-account-${clientId}`)
        .setIssuedAt(now - 600)
        .setExpirationTime(now + expiresIn)
        .sign(foreignKey ? foreign.privateKey : privateKey);
    },
  };
}
