import type { Bundle, BundleEntry, CodeableConcept, OperationOutcomeIssue, PractitionerRole, Resource } from '@medplum/fhirtypes';
import type { SiteConfig } from '../../config/mappings-schema.js';
import type { ResolvedReference } from '../../contract/mapped.js';
import { issue } from '../../outcomes/index.js';
import type { Reference } from '../../records/primitives.js';
import { allowedTypes, collectReferences } from '../../records/references.js';
import type { FhirClient } from '../client.js';
import { hasIdentifier, tokenSearchValue } from './search-values.js';

export { collectReferences } from '../../records/references.js';

/**
 * Matches read per identifier search. More exact matches than one are ambiguous anyway; a full page of
 * loose matches (servers match tokens case-insensitively) without a decision is treated as ambiguous too.
 */
const identifierPage = 20;

/** The outcome of resolving a record's references on the FHIR server. */
export interface Resolution {
  /** Field path → what it resolved to; only references that resolved to exactly one resource of an allowed type. */
  resolved: Map<string, ResolvedReference>;
  /** One 422 issue per field that did not resolve, resolved to several, or to a type its role does not allow. */
  problems: OperationOutcomeIssue[];
  /** Field paths with a problem. */
  unresolved: string[];
  /** Literal references that are peer roles (spec §3.5). */
  peerRoles: string[];
}

interface Lookup {
  key: string;
  ref: Reference;
  types: readonly string[];
  urls: string[];
}

function typeList(types: readonly string[]): string {
  return types.length === 1 ? types[0]! : `${types.slice(0, -1).join(', ')} or ${types.at(-1)}`;
}

function lookupOf(path: string, ref: Reference): Lookup {
  const types = ref.type ? [ref.type] : allowedTypes(path);
  if (ref.reference) return { key: `lit:${ref.reference}`, ref, types, urls: [ref.reference] };
  const token = encodeURIComponent(tokenSearchValue(ref.identifier!.system, ref.identifier!.value));
  return {
    key: `id:${JSON.stringify([types, ref.identifier!.system, ref.identifier!.value])}`,
    ref,
    types,
    urls: types.map((t) => `${t}?identifier=${token}&_count=${identifierPage}`),
  };
}

type Found = { kind: 'one'; resource: Resource } | { kind: 'none' } | { kind: 'several'; count: number };

/** What one lookup found, every search match checked against the identifier asked for, exactly. */
function foundOf(lookup: Lookup, answers: (BundleEntry | undefined)[]): Found {
  if (lookup.ref.reference) {
    const r = answers[0]?.resource;
    return r && r.resourceType !== 'OperationOutcome' && r.resourceType !== 'Bundle' ? { kind: 'one', resource: r } : { kind: 'none' };
  }
  const { system, value } = lookup.ref.identifier!;
  const matches: Resource[] = [];
  let undecided = false;
  for (const answer of answers) {
    const r = answer?.resource;
    if (r?.resourceType !== 'Bundle') continue;
    const entries = (r as Bundle).entry ?? [];
    if (entries.length >= identifierPage) undecided = true;
    for (const e of entries) if (e.resource && hasIdentifier(e.resource, system, value)) matches.push(e.resource);
  }
  if (matches.length > 1 || (undecided && matches.length <= 1)) return { kind: 'several', count: Math.max(matches.length, identifierPage) };
  return matches.length === 1 ? { kind: 'one', resource: matches[0]! } : { kind: 'none' };
}

function problem(path: string, ref: Reference, found: Found, types: readonly string[]): OperationOutcomeIssue | undefined {
  // Never the identifier itself in the answer: an MRN is PHI (the field path says which one).
  const asked = ref.reference ? 'the reference given' : `the identifier given (${path}.identifier), character for character`;
  if (ref.type && !types.includes(ref.type)) {
    return issue('reference-wrong-type', 'business-rule', `"${path}" says type ${ref.type}; this field must be a ${typeList(types)}.`, [
      path,
    ]);
  }
  if (found.kind === 'none') {
    return issue(
      'reference-unresolved',
      'not-found',
      path === 'person'
        ? `The person does not resolve on the FHIR server: no Patient matches ${asked}. Send an existing Patient reference or an identifier that matches exactly one Patient.`
        : `"${path}" does not resolve on the FHIR server: no ${typeList(types)} matches ${asked}. Check the reference or identifier.`,
      [path],
    );
  }
  if (found.kind === 'several') {
    return issue(
      'reference-ambiguous',
      'multiple-matches',
      `"${path}": ${found.count > 2 ? 'many' : found.count} resources match ${asked}; it must match exactly one ${typeList(types)}. Send a literal reference instead.`,
      [path],
    );
  }
  const actual = found.resource.resourceType;
  const literalType = ref.reference?.split('/')[0];
  if (!types.includes(actual) || (ref.type && literalType && ref.type !== literalType)) {
    return issue(
      'reference-wrong-type',
      'business-rule',
      `"${path}" points to a ${actual}; this field must be a ${typeList(types)} (spec §1). Point it at the right kind of resource.`,
      [path],
    );
  }
  return undefined;
}

function hasPeerCode(role: PractitionerRole, site: SiteConfig): boolean {
  const codes: CodeableConcept[] = role.code ?? [];
  return codes.some((c) => c.coding?.some((cd) => site.peerRoleCodes.some((p) => p.system === cd.system && p.code === cd.code)));
}

/** The reads that resolve a record's references, and how their answers become a Resolution. */
export interface ReferenceReads {
  /** The batch entries (GETs), in order: a literal read or identifier searches per distinct reference. */
  requests: string[];
  /** The Resolution from the answers to exactly those requests, in the same order. */
  resolve(answers: (BundleEntry | undefined)[]): Resolution;
}

/**
 * Plans the reads of every reference of a record (conditional references are not resolved by servers
 * inside transactions: fhir-servers.md) and how each answer is checked: against the types its field may
 * hold (spec §1), for an identifier against exactly the identifier asked (spec §8), and which of them
 * are peer roles. This is the one place a reference's target is checked; the caller sends the reads in
 * its one batch (record-lookup.ts).
 */
export function referenceReads(record: unknown, site: SiteConfig): ReferenceReads {
  const refs = collectReferences(record).map((r) => ({ ...r, lookup: lookupOf(r.path, r.ref) }));
  const lookups = new Map<string, Lookup>();
  for (const r of refs) if (!lookups.has(r.lookup.key)) lookups.set(r.lookup.key, r.lookup);
  const plan = [...lookups.values()];
  return {
    requests: plan.flatMap((p) => p.urls),
    resolve(answers) {
      const found = new Map<string, Found>();
      let i = 0;
      for (const p of plan)
        found.set(
          p.key,
          foundOf(
            p,
            p.urls.map(() => answers[i++]),
          ),
        );
      const resolved = new Map<string, ResolvedReference>();
      const problems: OperationOutcomeIssue[] = [];
      for (const { path, ref, lookup } of refs) {
        const f = found.get(lookup.key)!;
        const bad = problem(path, ref, f, allowedTypes(path));
        if (bad) problems.push(bad);
        else if (f.kind === 'one') resolved.set(path, { literal: `${f.resource.resourceType}/${f.resource.id}`, resource: f.resource });
      }
      return { resolved, problems, unresolved: problems.flatMap((p) => p.expression ?? []), peerRoles: peerRolesOf(resolved, site) };
    },
  };
}

/** Resolves every reference of a record in one batch round trip (referenceReads), and nothing else. */
export async function resolveReferences(fhir: FhirClient, record: unknown, site: SiteConfig): Promise<Resolution> {
  const reads = referenceReads(record, site);
  const response = reads.requests.length
    ? await fhir.batch({
        resourceType: 'Bundle',
        type: 'batch',
        entry: reads.requests.map((url) => ({ request: { method: 'GET' as const, url } })),
      })
    : undefined;
  return reads.resolve(response?.entry ?? []);
}

function peerRolesOf(resolved: Map<string, ResolvedReference>, site: SiteConfig): string[] {
  const peers = new Set<string>();
  const peer = resolved.get('peerSpecialist');
  if (peer) peers.add(peer.literal);
  for (const { literal, resource } of resolved.values()) {
    if (resource.resourceType === 'PractitionerRole' && (literal === peer?.literal || hasPeerCode(resource as PractitionerRole, site))) {
      peers.add(literal);
      // The peer's own Practitioner is the same person as the peer role: never a clinical owner either.
      const practitioner = (resource as PractitionerRole).practitioner?.reference;
      if (practitioner) peers.add(practitioner);
    }
  }
  return [...peers];
}
