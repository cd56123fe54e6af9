/**
 * The SMART configuration of the embedded server (SMART App Launch 2.x §2.1 "/.well-known/smart-configuration",
 * backend services, https://hl7.org/fhir/smart-app-launch/conformance.html): where a client gets a token and
 * how it authenticates. Only client_credentials is issued (src/embedded/auth.ts), with the client secret in
 * HTTP Basic or in the form; permissions are SMART v2 (and v1) system scopes.
 */
export function smartConfiguration(tokenEndpoint: string): Record<string, unknown> {
  return {
    token_endpoint: tokenEndpoint,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    scopes_supported: ['system/*.cruds', 'system/*.rs'],
    capabilities: ['client-confidential-symmetric', 'permission-v2', 'permission-v1'],
  };
}
