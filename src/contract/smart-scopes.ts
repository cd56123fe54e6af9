/**
 * SMART system scopes (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
 * `system/<ResourceType|*>.<permissions>`, where v2 permissions are an ordered, non-empty subset of
 * `cruds` (create, read, update, delete, search) and v1's `read`, `write` and `*` stand for `rs`, `cud`
 * and `cruds`. Only `system/` scopes are honoured: `patient/` and `user/` scopes need a patient or user
 * context this server does not track. A v2 scope with search parameters (`system/Observation.rs?category=…`)
 * grants nothing here: the server cannot enforce the restriction, so it does not pretend to.
 */

/** One SMART v2 permission: create, read (read, vread, instance history, operations), update (incl. patch), delete, search. */
export type SmartPermission = 'c' | 'r' | 'u' | 'd' | 's';

/** What a client may do: the permissions per resource type, `*` for every type. */
export interface SmartGrant {
  /** The client the grant belongs to (logged with each FHIR request). */
  clientId: string;
  allows(resourceType: string, permission: SmartPermission): boolean;
  /** The scopes the grant was made from, for messages and logs. */
  scopes: readonly string[];
}

const v1: Record<string, string> = { read: 'rs', write: 'cud', '*': 'cruds' };
const scopePattern = /^system\/(\*|[A-Z][A-Za-z]{1,63})\.(\*|read|write|c?r?u?d?s?)$/;

/** The resource type and permissions of one scope, or undefined when it is not a system scope this server honours. */
export function parseSystemScope(scope: string): { resourceType: string; permissions: Set<SmartPermission> } | undefined {
  const match = scopePattern.exec(scope);
  if (!match?.[1] || !match[2]) return undefined;
  const letters = v1[match[2]] ?? match[2];
  return { resourceType: match[1], permissions: new Set(letters.split('') as SmartPermission[]) };
}

/** True for a scope parseSystemScope honours (clients.json accepts these beside the adapter's own scopes). */
export function isSystemScope(scope: string): boolean {
  return parseSystemScope(scope) !== undefined;
}

/** The grant of a set of scopes; scopes that are not honoured system scopes add nothing. */
export function grantOf(clientId: string, scopes: readonly string[]): SmartGrant {
  const byType = new Map<string, Set<SmartPermission>>();
  for (const scope of scopes) {
    const parsed = parseSystemScope(scope);
    if (!parsed) continue;
    const held = byType.get(parsed.resourceType) ?? new Set<SmartPermission>();
    for (const p of parsed.permissions) held.add(p);
    byType.set(parsed.resourceType, held);
  }
  return {
    clientId,
    scopes,
    // `*` in a question (a system-wide search) is answered by wildcard scopes only.
    allows: (type, permission) => Boolean(byType.get('*')?.has(permission) || (type !== '*' && byType.get(type)?.has(permission))),
  };
}

/** What both grants allow (a token's scopes, cut down to what the client's registration lists). */
export function intersect(a: SmartGrant, b: SmartGrant): SmartGrant {
  return {
    clientId: a.clientId,
    scopes: a.scopes.filter((s) => isSystemScope(s)),
    allows: (type, p) => a.allows(type, p) && b.allows(type, p),
  };
}
