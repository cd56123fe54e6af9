import type { Coding, Extension, Meta } from '@medplum/fhirtypes';
import { profileUrl, systems } from '../vocabulary.js';
import type { MappingContext } from '../context.js';
import { recordTag } from '../identity.js';

/** identifier + meta.profile (spec §5) and the record tag, which every resource written for a record carries. */
export function recordIdentity(ctx: MappingContext, slot: string, profileId: string): { identifier: [ReturnType<MappingContext['identifier']>]; meta: Meta } {
  return { identifier: [ctx.identifier(slot)], meta: { profile: [profileUrl(profileId)], tag: [recordTag(ctx.record.source.system, ctx.record.recordId)] } };
}

/** A coding of the pathway CodeSystem. */
export function pathwayCoding(code: string, display?: string): Coding {
  return { system: systems.pathway, code, ...(display ? { display } : {}) };
}

/** A simple extension, skipped when the value is undefined. */
export function ext(url: string, value: Omit<Extension, 'url'> | undefined): Extension[] {
  return value === undefined ? [] : [{ url, ...value }];
}

/** A FHIR dateTime `hours` after `from` (an ISO date or date-time). */
export function addHours(from: string, hours: number): string {
  const start = new Date(from.length === 10 ? `${from}T00:00:00Z` : from);
  return new Date(start.getTime() + hours * 3_600_000).toISOString();
}

/** A FHIR instant from an ISO date or date-time (AuditEvent.recorded needs an instant). */
export function toInstant(value: string): string {
  return new Date(value.length === 10 ? `${value}T00:00:00Z` : value).toISOString();
}
