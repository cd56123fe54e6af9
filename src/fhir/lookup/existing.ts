import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { MappedResource } from '../../contract/mapped.js';
import type { FhirClient } from '../client.js';
import { tokenSearchValue } from './search-values.js';

/** Types without an `identifier` element in R4: their business identity is a meta.tag. */
const taggedTypes = new Set(['AuditEvent', 'Provenance']);

/** The business identity of a mapped resource: its identifier, or its tag for audit types. */
function identityOf(resource: Resource): { system: string; value: string } {
  const withId = resource as { identifier?: { system?: string; value?: string }[] };
  const id = taggedTypes.has(resource.resourceType)
    ? { system: resource.meta?.tag?.[0]?.system, value: resource.meta?.tag?.[0]?.code }
    : withId.identifier?.[0];
  return { system: id?.system ?? '', value: id?.value ?? '' };
}

/** The search token that finds a mapped resource again, escaped by FHIR's rules (search-values.ts). */
export function identityToken(resource: Resource): string {
  const id = identityOf(resource);
  return tokenSearchValue(id.system, id.value);
}

/** A key no two different identities share (a system may hold `|`). */
function identityKey(id: { system: string; value: string }): string {
  return JSON.stringify([id.system, id.value]);
}

/** The identities a found resource carries: its identifiers, or its tags for audit types. */
function identitiesOf(r: Resource): { system: string; value: string }[] {
  return taggedTypes.has(r.resourceType)
    ? (r.meta?.tag ?? []).map((t) => ({ system: t.system ?? '', value: t.code ?? '' }))
    : ((r as { identifier?: { system?: string; value?: string }[] }).identifier ?? []).map((i) => ({
        system: i.system ?? '',
        value: i.value ?? '',
      }));
}

/**
 * Slot → the found resource that carries exactly that slot's identity. Every candidate is checked against
 * exactly the identity asked for (system and value character for character): searches match tokens
 * loosely, so a case-insensitive or escape-blind match finds nothing. Pure.
 */
export function matchExisting(mapped: MappedResource[], candidates: Iterable<Resource>): Map<string, Resource> {
  const slotByIdentity = new Map(mapped.map((m) => [identityKey(identityOf(m.resource)), m.slot]));
  const existing = new Map<string, Resource>();
  for (const r of candidates) {
    const slot = identitiesOf(r)
      .map((id) => slotByIdentity.get(identityKey(id)))
      .find((x) => x !== undefined);
    if (slot) existing.set(slot, r);
  }
  return existing;
}

/** The resources of a searchset answer; throws when the answer is not one (the lookup cannot be trusted). */
export function searchsetResources(result: Resource | undefined, what: string): Resource[] {
  if (result?.resourceType !== 'Bundle') throw new Error(`existing-resource search for ${what} did not answer a searchset`);
  return ((result as Bundle).entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
}

/**
 * Finds what an earlier send of the same record already wrote, slot by slot, in one batch round trip:
 * one search per resource type, identifiers OR-ed with commas. Used for the slots the record lookup
 * (record-lookup.ts) could not answer from its tag searches.
 */
export async function findExisting(fhir: FhirClient, mapped: MappedResource[]): Promise<Map<string, Resource>> {
  if (!mapped.length) return new Map();
  const byType = new Map<string, MappedResource[]>();
  for (const m of mapped) byType.set(m.resource.resourceType, [...(byType.get(m.resource.resourceType) ?? []), m]);
  const types = [...byType.keys()];
  const batch: Bundle = {
    resourceType: 'Bundle',
    type: 'batch',
    entry: types.map((type) => {
      const param = taggedTypes.has(type) ? '_tag' : 'identifier';
      const tokens = (byType.get(type) ?? []).map((m) => encodeURIComponent(identityToken(m.resource)));
      return { request: { method: 'GET' as const, url: `${type}?${param}=${tokens.join(',')}&_count=${tokens.length + 10}` } };
    }),
  };
  const response = await fhir.batch(batch);
  return matchExisting(
    mapped,
    types.flatMap((type, i) => searchsetResources(response.entry?.[i]?.resource, type)),
  );
}
