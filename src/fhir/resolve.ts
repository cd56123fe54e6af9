import type { Bundle, BundleEntry, CodeableConcept, PractitionerRole, Resource } from '@medplum/fhirtypes';
import type { SiteConfig } from '../config/mappings-schema.js';
import { referenceKey, type ResolvedReference } from '../mapping/context.js';
import type { PathwayRecord } from '../records/index.js';
import type { Reference } from '../records/primitives.js';
import type { FhirClient } from './client.js';

/** Types an identifier-only reference may point to, by field: the person is a Patient, the rest are actors. */
const actorTypes = ['PractitionerRole', 'Practitioner', 'CareTeam', 'Organization'];
const referenceKeys = new Set(['reference', 'type', 'identifier', 'display']);

/** Every reference in a record, with the field path it sits at. */
export function collectReferences(value: unknown, path = ''): { path: string; ref: Reference }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => collectReferences(v, `${path}[${i}]`));
  if (typeof value !== 'object' || value === null) return [];
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  if ((typeof obj.reference === 'string' || typeof obj.identifier === 'object') && keys.every((k) => referenceKeys.has(k))) {
    return [{ path, ref: obj as Reference }];
  }
  return keys.flatMap((k) => collectReferences(obj[k], path ? `${path}.${k}` : k));
}

/**
 * True when a resolved resource has a type its field can hold: the person is a Patient, `carePlan` a
 * CarePlan, every other reference an actor. A literal `Type/id` of another type exists on the server but
 * would make an invalid resource (e.g. a PractitionerRole as Consent.patient): it is unresolved (422).
 */
function fitsField(path: string, resourceType: string): boolean {
  if (path === 'person') return resourceType === 'Patient';
  if (path === 'carePlan') return resourceType === 'CarePlan';
  return actorTypes.includes(resourceType);
}

function lookups(path: string, ref: Reference): string[] {
  if (ref.reference) return [ref.reference];
  const types = ref.type ? [ref.type] : path === 'person' ? ['Patient'] : actorTypes;
  const token = encodeURIComponent(`${ref.identifier?.system}|${ref.identifier?.value}`);
  return types.map((t) => `${t}?identifier=${token}&_count=2`);
}

function firstResource(entry: BundleEntry | undefined): Resource | undefined {
  const r = entry?.resource;
  if (!r) return undefined;
  if (r.resourceType === 'Bundle') {
    const matches = (r as Bundle).entry ?? [];
    // An identifier that matches two resources is ambiguous: treat it as unresolved, never guess.
    return matches.length === 1 ? matches[0]?.resource : undefined;
  }
  return r.resourceType === 'OperationOutcome' ? undefined : r;
}

/** The outcome of resolving a record's references on the FHIR server. */
export interface Resolution {
  resolved: Map<string, ResolvedReference>;
  /** Field paths whose reference did not resolve to exactly one resource. */
  unresolved: string[];
  /** Literal references that are peer roles (spec §3.5). */
  peerRoles: string[];
}

function hasPeerCode(role: PractitionerRole, site: SiteConfig): boolean {
  const codes: CodeableConcept[] = role.code ?? [];
  return codes.some((c) => c.coding?.some((cd) => site.peerRoleCodes.some((p) => p.system === cd.system && p.code === cd.code)));
}

/**
 * Resolves every reference of a record in one batch round trip (conditional references are not
 * resolved by servers inside transactions: fhir-servers.md), and finds which of them are peer roles.
 */
export async function resolveReferences(fhir: FhirClient, record: PathwayRecord, site: SiteConfig): Promise<Resolution> {
  const refs = collectReferences(record);
  const unique = new Map<string, { path: string; ref: Reference }>();
  for (const r of refs) if (!unique.has(referenceKey(r.ref))) unique.set(referenceKey(r.ref), r);
  const plan = [...unique.entries()].map(([key, r]) => ({ key, urls: lookups(r.path, r.ref) }));
  const batch: Bundle = {
    resourceType: 'Bundle',
    type: 'batch',
    entry: plan.flatMap((p) => p.urls.map((url) => ({ request: { method: 'GET' as const, url } }))),
  };
  const response = await fhir.batch(batch);
  const resolved = new Map<string, ResolvedReference>();
  let i = 0;
  for (const p of plan) {
    const found = p.urls.map(() => firstResource(response.entry?.[i++])).filter((r): r is Resource => !!r);
    if (found.length === 1 && found[0]?.id) resolved.set(p.key, { literal: `${found[0].resourceType}/${found[0].id}`, resource: found[0] });
  }
  const unresolved = refs.filter((r) => {
    const found = resolved.get(referenceKey(r.ref));
    return !found || !fitsField(r.path, found.resource.resourceType);
  }).map((r) => r.path);
  return { resolved, unresolved, peerRoles: peerRolesOf(record, resolved, site) };
}

function peerRolesOf(record: PathwayRecord, resolved: Map<string, ResolvedReference>, site: SiteConfig): string[] {
  const peers = new Set<string>();
  const peer = resolved.get(referenceKey(record.peerSpecialist));
  if (peer) peers.add(peer.literal);
  for (const { literal, resource } of resolved.values()) {
    if (resource.resourceType === 'PractitionerRole' && (literal === peer?.literal || hasPeerCode(resource, site))) {
      peers.add(literal);
      // The peer's own Practitioner is the same person as the peer role: never a clinical owner either.
      if (resource.practitioner?.reference) peers.add(resource.practitioner.reference);
    }
  }
  return [...peers];
}
