import { randomBytes } from 'node:crypto';

/** Process configuration from the environment, with every default in one place. */
export interface EnvConfig {
  port: number;
  /** Unset: the embedded FHIR server is served by this process at /fhir/R4. */
  fhirBaseUrl?: string;
  fhirClientId?: string;
  fhirClientSecret?: string;
  /** A static bearer token for the FHIR server, when it does not use client credentials. */
  fhirAccessToken?: string;
  dataDir: string;
  apiToken: string;
  /** True when API_TOKEN was not given and one was generated for this process. */
  apiTokenGenerated: boolean;
  mappingsDir?: string;
  fhirTimeoutMs: number;
  maxBodyBytes: number;
  logLevel: string;
}

/** Reads the environment once at start-up. */
export function readEnv(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const apiToken = env.API_TOKEN?.trim();
  return {
    port: Number(env.PORT ?? 8080),
    fhirBaseUrl: env.FHIR_BASE_URL?.trim() || undefined,
    fhirClientId: env.FHIR_CLIENT_ID?.trim() || undefined,
    fhirClientSecret: env.FHIR_CLIENT_SECRET?.trim() || undefined,
    fhirAccessToken: env.FHIR_ACCESS_TOKEN?.trim() || undefined,
    dataDir: env.DATA_DIR?.trim() || './data',
    apiToken: apiToken || randomBytes(24).toString('base64url'),
    apiTokenGenerated: !apiToken,
    mappingsDir: env.MAPPINGS_DIR?.trim() || undefined,
    fhirTimeoutMs: Number(env.FHIR_TIMEOUT_MS ?? 10_000),
    maxBodyBytes: Number(env.MAX_BODY_BYTES ?? 256 * 1024),
    logLevel: env.LOG_LEVEL ?? 'info',
  };
}
