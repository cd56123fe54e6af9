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
  /** API_TOKEN as given; when unset, start-up generates one (or none with OAuth): see static-token.ts. */
  apiToken?: string;
  /** OAuth callers: the IdP's issuer; unset = the static API_TOKEN only. */
  authIssuer?: string;
  /** The audience tokens must be issued for (this adapter). */
  authAudience?: string;
  /** The IdP's JWKS, by URL or as a file. */
  authJwksUrl?: string;
  authJwksFile?: string;
  /** Allowed clock difference with the IdP for exp/nbf/iat. */
  authClockSkewSeconds: number;
  /** Client registrations; default clients.json in the mappings folder. */
  authClientsFile?: string;
  /** Requests per minute per authenticated client; 0 turns the limit off. */
  rateLimitPerMinute: number;
  /** SMART Backend Services (private_key_jwt) towards the FHIR server: its token endpoint… */
  fhirTokenUrl?: string;
  /** …the private key (PEM, JWK JSON, or a path to either)… */
  fhirPrivateKey?: string;
  /** …its key id (`kid`, as published in the adapter's JWKS), algorithm and the scopes asked for. */
  fhirKeyId?: string;
  fhirKeyAlg: string;
  fhirScope: string;
  mappingsDir?: string;
  fhirTimeoutMs: number;
  /** How long the circuit breaker in front of the FHIR server stays open before probing it again. */
  fhirBreakerCooldownMs: number;
  maxBodyBytes: number;
  logLevel: string;
  /** How often overdue review Tasks are escalated / reminded (src/followup); 0 turns it off. */
  escalationIntervalMs: number;
  /** How often Task changes are looked for and pushed to webhooks (mappings/webhooks.json); 0 turns it off. */
  webhookIntervalMs: number;
  /** The first wait before a failed webhook delivery is retried; it doubles on each retry. */
  webhookRetryBaseMs: number;
}

/** Reads the environment once at start-up. */
export function readEnv(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  return {
    port: Number(env.PORT ?? 8080),
    fhirBaseUrl: env.FHIR_BASE_URL?.trim() || undefined,
    fhirClientId: env.FHIR_CLIENT_ID?.trim() || undefined,
    fhirClientSecret: env.FHIR_CLIENT_SECRET?.trim() || undefined,
    fhirAccessToken: env.FHIR_ACCESS_TOKEN?.trim() || undefined,
    dataDir: env.DATA_DIR?.trim() || './data',
    apiToken: env.API_TOKEN?.trim() || undefined,
    authIssuer: env.AUTH_ISSUER?.trim() || undefined,
    authAudience: env.AUTH_AUDIENCE?.trim() || undefined,
    authJwksUrl: env.AUTH_JWKS_URL?.trim() || undefined,
    authJwksFile: env.AUTH_JWKS_FILE?.trim() || undefined,
    authClockSkewSeconds: Number(env.AUTH_CLOCK_SKEW_SECONDS ?? 60),
    authClientsFile: env.AUTH_CLIENTS_FILE?.trim() || undefined,
    // 100 requests/s per client: a guard against a runaway sender, not a throttle on an integration engine's backlog.
    rateLimitPerMinute: Number(env.RATE_LIMIT_PER_MINUTE ?? 6_000),
    fhirTokenUrl: env.FHIR_TOKEN_URL?.trim() || undefined,
    fhirPrivateKey: env.FHIR_PRIVATE_KEY?.trim() || undefined,
    fhirKeyId: env.FHIR_KEY_ID?.trim() || undefined,
    fhirKeyAlg: env.FHIR_KEY_ALG?.trim() || 'RS384',
    fhirScope: env.FHIR_SCOPE?.trim() || 'system/*.crus',
    mappingsDir: env.MAPPINGS_DIR?.trim() || undefined,
    fhirTimeoutMs: Number(env.FHIR_TIMEOUT_MS ?? 10_000),
    fhirBreakerCooldownMs: Number(env.FHIR_BREAKER_COOLDOWN_MS ?? 5_000),
    maxBodyBytes: Number(env.MAX_BODY_BYTES ?? 256 * 1024),
    logLevel: env.LOG_LEVEL ?? 'info',
    escalationIntervalMs: Number(env.ESCALATION_INTERVAL_MS ?? 60_000),
    webhookIntervalMs: Number(env.WEBHOOK_INTERVAL_MS ?? 30_000),
    webhookRetryBaseMs: Number(env.WEBHOOK_RETRY_BASE_MS ?? 2_000),
  };
}
