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

/**
 * Finds what an earlier send of the same record already wrote, slot by slot, in one batch round trip:
 * one search per resource type, identifiers OR-ed with commas.
 */
export async function findExisting(fhir: FhirClient, mapped: MappedResource[]): Promise<Map<string, Resource>> {
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
  // Every match is checked against exactly the identity asked for: searches match tokens loosely.
  const slotByIdentity = new Map(mapped.map((m) => [identityKey(identityOf(m.resource)), m.slot]));
  const existing = new Map<string, Resource>();
  response.entry?.forEach((entry, i) => {
    const result = entry.resource;
    if (result?.resourceType !== 'Bundle') {
      throw new Error(`existing-resource search for ${types[i]} did not answer a searchset`);
    }
    for (const match of (result as Bundle).entry ?? []) {
      const r = match.resource;
      if (!r) continue;
      const ids = taggedTypes.has(r.resourceType)
        ? (r.meta?.tag ?? []).map((t) => ({ system: t.system ?? '', value: t.code ?? '' }))
        : ((r as { identifier?: { system?: string; value?: string }[] }).identifier ?? []).map((i) => ({ system: i.system ?? '', value: i.value ?? '' }));
      // Keyed by system and value character for character: a case-insensitive or escape-blind match finds nothing.
      const slot = ids.map((id) => slotByIdentity.get(identityKey(id))).find((x) => x !== undefined);
      if (slot) existing.set(slot, r);
    }
  });
  return existing;
}
