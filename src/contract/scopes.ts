import { pathwayCodes, type PathwayCode } from './pathways.js';

/**
 * The adapter's scopes, one per capability. They follow the shape of SMART scopes
 * (`<area>/<what>.<action>`) without pretending to be FHIR resource scopes: a pathway record is not
 * a FHIR resource, and an IdP admin should see at a glance what each one lets a client do.
 */
export const scopes = {
  /** Submit records of any pathway. */
  writeAll: 'pathway-records/*.write',
  /** Dry-run a record (POST /pathway-records/$validate): nothing written, but references are resolved. */
  validate: 'pathway-records.validate',
  /** Read the status of records. */
  read: 'pathway-records.read',
  /** Read governance evidence (GET /governance*). */
  governance: 'governance.read',
} as const;

/** The scope to submit records of one pathway. */
export function writeScope(pathway: PathwayCode): string {
  return `pathway-records/${pathway}.write`;
}

/** Every scope the adapter knows: what the static API_TOKEN holds, and what clients.json may grant. */
export const knownScopes: readonly string[] = [
  ...pathwayCodes.map(writeScope),
  scopes.writeAll,
  scopes.validate,
  scopes.read,
  scopes.governance,
];

/** True when the scopes allow writing records of `pathway` (its own scope or the wildcard). */
export function canWrite(granted: ReadonlySet<string>, pathway: PathwayCode): boolean {
  return granted.has(scopes.writeAll) || granted.has(writeScope(pathway));
}

/** True when the scopes allow writing records of at least one pathway. */
export function canWriteAny(granted: ReadonlySet<string>): boolean {
  return granted.has(scopes.writeAll) || pathwayCodes.some((p) => granted.has(writeScope(p)));
}

/** Splits a token's `scope` (space-separated string, RFC 8693/9068) or `scp` (string or array) claim. */
export function scopesOfClaims(claims: Record<string, unknown>): string[] {
  const raw = claims.scope ?? claims.scp;
  if (typeof raw === 'string') return raw.split(/\s+/).filter(Boolean);
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string');
  return [];
}
