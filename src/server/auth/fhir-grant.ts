import type { ExternalTokenVerifier } from '../../embedded/auth.js';
import { grantOf, intersect } from '../../contract/smart-scopes.js';
import { clientIdOf, type AuthConfig } from './authenticate.js';
import { looksLikeJwt } from './jwt.js';
import { scopesOfClaims } from '../../contract/scopes.js';

/**
 * How the embedded FHIR server checks the site IdP's access tokens: the same verification as the
 * adapter's own endpoints (issuer, audience, signature, expiry), the same registration
 * (mappings/clients.json), and a grant of the SMART system scopes (`system/Task.rs`…) that both the
 * token carries and the registration lists. A registered client without such scopes may do nothing (403).
 * Undefined when no IdP is configured: then only the static API_TOKEN and the adapter's own client get in.
 */
export function embeddedFhirTokens(auth: AuthConfig): ExternalTokenVerifier | undefined {
  const jwt = auth.jwt;
  if (!jwt) return undefined;
  return async (token) => {
    if (!looksLikeJwt(token)) return undefined;
    const result = await jwt(token);
    if (!result.ok) return undefined;
    const clientId = clientIdOf(result.claims);
    const registration = auth.clients.clients.find((c) => c.clientId === clientId);
    if (!clientId || !registration) return undefined;
    return intersect(grantOf(clientId, scopesOfClaims(result.claims)), grantOf(clientId, registration.scopes));
  };
}
