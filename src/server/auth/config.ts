import type { EnvConfig } from '../../config/env.js';
import { clientsFilePath, loadClients } from '../../config/clients.js';
import type { FhirConnection } from '../../fhir/client.js';
import { discoverTokenEndpoint, SmartBackendAuth } from '../../fhir/smart-backend-auth.js';
import type { AuthConfig } from './authenticate.js';
import { createJwtVerifier } from './jwt.js';
import { resolveStaticToken, type StaticToken } from './static-token.js';

/** Raised at start-up for an auth configuration that would leave the adapter open or unusable. */
export class AuthConfigError extends Error {}

/** Builds the callers' authentication from the environment; a bad configuration stops start-up. */
export function authConfigFromEnv(env: EnvConfig): { auth: AuthConfig; staticToken: StaticToken } {
  const oauth = Boolean(env.authIssuer);
  if (oauth && !env.authAudience)
    throw new AuthConfigError('AUTH_AUDIENCE is required with AUTH_ISSUER: without it a token for any other service would be accepted');
  if (oauth && !env.authJwksUrl && !env.authJwksFile)
    throw new AuthConfigError('AUTH_JWKS_URL (or AUTH_JWKS_FILE) is required with AUTH_ISSUER');
  if (!oauth && (env.authAudience || env.authJwksUrl || env.authJwksFile))
    throw new AuthConfigError('AUTH_ISSUER is required with AUTH_AUDIENCE / AUTH_JWKS_URL / AUTH_JWKS_FILE');
  const staticToken = resolveStaticToken(env.apiToken, env.dataDir, oauth);
  const clients = loadClients(clientsFilePath(env.authClientsFile, env.mappingsDir), oauth);
  const jwt =
    env.authIssuer && env.authAudience
      ? createJwtVerifier({
          issuer: env.authIssuer,
          audience: env.authAudience,
          jwksUrl: env.authJwksUrl,
          jwksFile: env.authJwksFile,
          clockSkewSeconds: env.authClockSkewSeconds,
        })
      : undefined;
  return { auth: { staticToken: staticToken.token, jwt, clients }, staticToken };
}

/**
 * How the adapter authenticates to an external FHIR server: SMART Backend Services (FHIR_PRIVATE_KEY),
 * client credentials with a secret (FHIR_CLIENT_SECRET), or a static token (FHIR_ACCESS_TOKEN). The
 * token endpoint of the first two is FHIR_TOKEN_URL, else the server's `.well-known/smart-configuration`.
 */
export function fhirCredentialsFromEnv(
  env: EnvConfig,
): Pick<FhirConnection, 'clientId' | 'clientSecret' | 'accessToken' | 'tokenProvider' | 'tokenUrl'> {
  if (env.fhirPrivateKey || env.fhirKeyId) {
    if (!env.fhirClientId || !env.fhirPrivateKey || !env.fhirKeyId) {
      throw new AuthConfigError(
        'SMART Backend Services towards the FHIR server needs FHIR_CLIENT_ID, FHIR_PRIVATE_KEY and FHIR_KEY_ID together',
      );
    }
    return {
      tokenProvider: new SmartBackendAuth({
        tokenUrl: env.fhirTokenUrl ?? discoverTokenEndpoint(env.fhirBaseUrl ?? '', env.fhirTimeoutMs),
        clientId: env.fhirClientId,
        privateKey: env.fhirPrivateKey,
        keyId: env.fhirKeyId,
        alg: env.fhirKeyAlg,
        scope: env.fhirScope,
        timeoutMs: env.fhirTimeoutMs,
      }),
    };
  }
  if (Boolean(env.fhirClientId) !== Boolean(env.fhirClientSecret)) {
    throw new AuthConfigError(
      'FHIR_CLIENT_ID needs FHIR_CLIENT_SECRET (client credentials), or FHIR_PRIVATE_KEY and FHIR_KEY_ID (SMART Backend Services)',
    );
  }
  return { clientId: env.fhirClientId, clientSecret: env.fhirClientSecret, accessToken: env.fhirAccessToken, tokenUrl: env.fhirTokenUrl };
}
