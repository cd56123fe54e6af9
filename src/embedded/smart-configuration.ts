/**
 * The SMART configuration of the embedded server (SMART App Launch 2.x §2.1 "/.well-known/smart-configuration",
 * backend services): where a client gets a token and how it authenticates. Only client_credentials is issued
 * (src/embedded/auth.ts), with the client secret in HTTP Basic or in the form.
 */
export function smartConfiguration(serviceRoot: string): Record<string, unknown> {
  return {
    token_endpoint: `${serviceRoot}/oauth2/token`,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    capabilities: ['client-confidential-symmetric'],
  };
}
