import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { MappedResource } from '../mapping/context.js';
import type { FhirClient } from './client.js';

/** Types without an `identifier` element in R4: their business identity is a meta.tag. */
const taggedTypes = new Set(['AuditEvent', 'Provenance']);

/** The token that finds a mapped resource again: its identifier, or its tag for audit types. */
export function identityToken(resource: Resource): string {
  const withId = resource as { identifier?: { system?: string; value?: string }[] };
  const id = withId.identifier?.[0] ?? { system: resource.meta?.tag?.[0]?.system, value: resource.meta?.tag?.[0]?.code };
  return `${id.system}|${id.value}`;
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
  const slotByToken = new Map(mapped.map((m) => [identityToken(m.resource), m.slot]));
  const existing = new Map<string, Resource>();
  response.entry?.forEach((entry, i) => {
    const result = entry.resource;
    if (result?.resourceType !== 'Bundle') {
      throw new Error(`existing-resource search for ${types[i]} did not answer a searchset`);
    }
    for (const match of (result as Bundle).entry ?? []) {
      const slot = match.resource && slotByToken.get(identityToken(match.resource));
      if (slot && match.resource) existing.set(slot, match.resource);
    }
  });
  return existing;
}
