import { availableParallelism } from 'node:os';
/** Process configuration from the environment, with every default in one place. */
export interface EnvConfig {
  port: number;
  /** Where to listen: 127.0.0.1 by default (this machine only); 0.0.0.0 or :: to serve others. */
  host: string;
  /** How long SIGTERM waits for requests in flight before the process exits anyway. */
  shutdownGraceMs: number;
  /**
   * The FHIR base (the address `metadata` hangs under), without a trailing slash:
   * `https://api.medplum.com/fhir/R4`, `https://hapi.example.org/fhir`. Unset: the embedded FHIR
   * server is served by this process at /fhir/R4.
   */
  fhirBaseUrl?: string;
  fhirClientId?: string;
  fhirClientSecret?: string;
  /** A static bearer token for the FHIR server, when it does not use client credentials. */
  fhirAccessToken?: string;
  dataDir: string;
  /**
   * Adapter processes on this machine (`serve`, cluster mode), sharing PORT and DATA_DIR; default the
   * number of cores (os.availableParallelism). DATA_DIR=:memory: cannot be shared: it runs one.
   */
  workers: number;
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
  /** The FHIR server's token endpoint; unset: `token_endpoint` of its `.well-known/smart-configuration`. */
  fhirTokenUrl?: string;
  /** SMART Backend Services (private_key_jwt): the private key (PEM, JWK JSON, or a path to either)… */
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

/**
 * An environment variable with a value the service cannot use. The message is one line that names the
 * variable, what was found and what is expected, so that an operator can fix it without reading code.
 */
export class EnvError extends Error {
  constructor(
    readonly variable: string,
    expected: string,
    found: string,
  ) {
    super(`${variable}=${JSON.stringify(found.length > 60 ? `${found.slice(0, 60)}…` : found)} is not valid: expected ${expected}.`);
  }
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Reads and checks one variable at a time; every check names the variable it refuses. */
function reader(env: NodeJS.ProcessEnv) {
  const text = (name: string): string | undefined => env[name]?.trim() || undefined;
  return {
    text,
    /** A whole number in [min, max]; unset or empty gives the default. */
    integer(name: string, fallback: number, min: number, max: number): number {
      const raw = text(name);
      if (raw === undefined) return fallback;
      const value = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(value) || value < min || value > max) throw new EnvError(name, `a whole number from ${min} to ${max}`, raw);
      return value;
    },
    /** An absolute http(s) URL. */
    url(name: string): string | undefined {
      const raw = text(name);
      if (raw === undefined) return undefined;
      let parsed: URL | undefined;
      try {
        parsed = new URL(raw);
      } catch {
        parsed = undefined;
      }
      if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.search || parsed.hash || parsed.username) {
        throw new EnvError(name, 'an absolute http(s) URL without query, fragment or credentials', raw);
      }
      return raw;
    },
    oneOf(name: string, fallback: string, allowed: string[]): string {
      const raw = text(name);
      if (raw === undefined) return fallback;
      if (!allowed.includes(raw)) throw new EnvError(name, `one of ${allowed.join(', ')}`, raw);
      return raw;
    },
  };
}

/** A listen address: an IPv4 or IPv6 literal, or a host name (`localhost`). */
function hostOf(raw: string | undefined): string {
  if (raw === undefined) return '127.0.0.1';
  if (
    /^[0-9.]+$/.test(raw)
      ? /^(\d{1,3})(\.\d{1,3}){3}$/.test(raw) && raw.split('.').every((p) => Number(p) <= 255)
      : /^[0-9a-f:]+$/i.test(raw)
        ? raw.includes(':')
        : /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(raw)
  )
    return raw;
  throw new EnvError(
    'HOST',
    'an IP address to listen on (127.0.0.1 for this machine only, 0.0.0.0 for every interface) or a host name',
    raw,
  );
}

/**
 * Reads the environment once at start-up; a value that cannot be used throws EnvError naming the
 * variable (the CLI prints its one line and exits with code 2).
 */
export function readEnv(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const r = reader(env);
  const day = 86_400_000;
  return {
    port: r.integer('PORT', 8080, 0, 65_535),
    host: hostOf(r.text('HOST')),
    shutdownGraceMs: r.integer('SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
    // The FHIR base as every FHIR tool writes it; a trailing slash is the same base.
    fhirBaseUrl: r.url('FHIR_BASE_URL')?.replace(/\/+$/, ''),
    fhirClientId: r.text('FHIR_CLIENT_ID'),
    fhirClientSecret: r.text('FHIR_CLIENT_SECRET'),
    fhirAccessToken: r.text('FHIR_ACCESS_TOKEN'),
    dataDir: r.text('DATA_DIR') ?? './data',
    workers: r.integer('WORKERS', availableParallelism(), 1, 256),
    apiToken: r.text('API_TOKEN'),
    authIssuer: r.text('AUTH_ISSUER'),
    authAudience: r.text('AUTH_AUDIENCE'),
    authJwksUrl: r.url('AUTH_JWKS_URL'),
    authJwksFile: r.text('AUTH_JWKS_FILE'),
    authClockSkewSeconds: r.integer('AUTH_CLOCK_SKEW_SECONDS', 60, 0, 3_600),
    authClientsFile: r.text('AUTH_CLIENTS_FILE'),
    // 100 requests/s per client: a guard against a runaway sender, not a throttle on an integration engine's backlog.
    rateLimitPerMinute: r.integer('RATE_LIMIT_PER_MINUTE', 6_000, 0, 10_000_000),
    fhirTokenUrl: r.url('FHIR_TOKEN_URL'),
    fhirPrivateKey: r.text('FHIR_PRIVATE_KEY'),
    fhirKeyId: r.text('FHIR_KEY_ID'),
    fhirKeyAlg: r.text('FHIR_KEY_ALG') ?? 'RS384',
    fhirScope: r.text('FHIR_SCOPE') ?? 'system/*.crus',
    mappingsDir: r.text('MAPPINGS_DIR'),
    fhirTimeoutMs: r.integer('FHIR_TIMEOUT_MS', 10_000, 1, 600_000),
    fhirBreakerCooldownMs: r.integer('FHIR_BREAKER_COOLDOWN_MS', 5_000, 0, 600_000),
    maxBodyBytes: r.integer('MAX_BODY_BYTES', 256 * 1024, 1, 64 * 1024 * 1024),
    logLevel: r.oneOf('LOG_LEVEL', 'info', logLevels),
    escalationIntervalMs: r.integer('ESCALATION_INTERVAL_MS', 60_000, 0, day),
    webhookIntervalMs: r.integer('WEBHOOK_INTERVAL_MS', 30_000, 0, day),
    webhookRetryBaseMs: r.integer('WEBHOOK_RETRY_BASE_MS', 2_000, 1, day),
  };
}
