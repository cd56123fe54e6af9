import { createHash } from 'node:crypto';
import type { Coding, Identifier } from '@medplum/fhirtypes';

/**
 * The business identifier of one slot of one record: `{source.system, recordId/slot}`.
 * Every write is found again by it, which is what makes a resend an update and never a double.
 */
export function slotIdentifier(sourceSystem: string, recordId: string, slot: string): Identifier {
  return { system: sourceSystem, value: `${recordId}/${slot}` };
}

/**
 * The tag every resource written for a record carries: `{source.system, recordId}`. The slot
 * identifiers differ per resource (and audit slots hold a hash), so this is what lets one `_tag`
 * search find all of a record's resources: the status view a source polls is built from it.
 */
export function recordTag(sourceSystem: string, recordId: string): Coding {
  return { system: sourceSystem, code: recordId };
}

/** A name-based (v5-style) urn:uuid, so the same record always yields byte-identical Bundles. */
export function slotFullUrl(sourceSystem: string, recordId: string, slot: string): string {
  const h = createHash('sha1').update(`${sourceSystem}|${recordId}|${slot}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
