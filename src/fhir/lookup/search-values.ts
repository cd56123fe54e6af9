import type { Coding, Identifier, Resource } from '@medplum/fhirtypes';

/**
 * Escapes one value for a FHIR search parameter: `\`, `,`, `|` and `$` get a backslash
 * (FHIR R4 search §3.1.1.x "Escaping Search Parameters"). Every value the adapter puts into a search —
 * identifiers, tags, codes, conditional creates — goes through here, so an identifier value `A-7|B` is
 * asked for as `A-7\|B` and never read as system `…|A-7`, value `B`.
 */
export function escapeSearchValue(value: string): string {
  return value.replace(/[\\,|$]/g, '\\$&');
}

/** A token search value `system|code` (identifier, _tag, code), each part escaped. */
export function tokenSearchValue(system: string, code: string): string {
  return `${escapeSearchValue(system)}|${escapeSearchValue(code)}`;
}

/**
 * True when the resource carries exactly this identifier: same system and value, character for character
 * (spec §8 "Identity is exact"). What a search returns is checked with this, never trusted: servers match
 * tokens case-insensitively, and some ignore escapes.
 */
export function hasIdentifier(resource: Resource, system: string, value: string): boolean {
  const ids = (resource as { identifier?: Identifier[] }).identifier ?? [];
  return ids.some((id) => id.system === system && id.value === value);
}

/** True when the resource carries exactly this tag (system and code, character for character). */
export function hasTag(resource: Resource, system: string, code: string): boolean {
  return (resource.meta?.tag ?? []).some((t: Coding) => t.system === system && t.code === code);
}
