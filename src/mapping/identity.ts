import { createHash } from 'node:crypto';
import type { Identifier } from '@medplum/fhirtypes';

/**
 * The business identifier of one slot of one record: `{source.system, recordId/slot}`.
 * Every write is found again by it, which is what makes a resend an update and never a double.
 */
export function slotIdentifier(sourceSystem: string, recordId: string, slot: string): Identifier {
  return { system: sourceSystem, value: `${recordId}/${slot}` };
}

/** A name-based (v5-style) urn:uuid, so the same record always yields byte-identical Bundles. */
export function slotFullUrl(sourceSystem: string, recordId: string, slot: string): string {
  const h = createHash('sha1').update(`${sourceSystem}|${recordId}|${slot}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
