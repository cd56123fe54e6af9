import type { CodeableConcept, Encounter } from '@medplum/fhirtypes';
import type { MappingContext, MappedResource } from '../context.js';
import { recordIdentity } from './common.js';

export interface PeerContactSpec {
  slot: string;
  date: string;
  mode?: keyof MappingContext['mappings']['codes']['encounterClassByMode'];
  reasonCode?: CodeableConcept[];
}

/**
 * The slot of a completed peer contact, keyed by its date: contacts accumulate across resends (a later
 * contact is a new Encounter, never a rewrite of the earlier one; a resend of the same contact finds its own).
 */
export function peerContactSlot(date: string): string {
  return `encounter/peer-contact/${date}`;
}

/** One completed peer contact (spec §5): class by mode, type peer support contact (+ HCPCS H0038). */
export function buildPeerContactEncounter(ctx: MappingContext, spec: PeerContactSpec): MappedResource {
  const { codes } = ctx.mappings;
  const encounter: Encounter = {
    resourceType: 'Encounter',
    ...recordIdentity(ctx, spec.slot, 'peer-pathway-encounter'),
    status: 'finished',
    class: codes.encounterClassByMode[spec.mode ?? 'in-person'],
    type: [{ coding: codes.peerContactType, text: 'Peer support contact' }],
    subject: ctx.person,
    participant: [
      {
        type: [
          {
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF', display: 'primary performer' }],
          },
        ],
        individual: ctx.peer,
      },
    ],
    period: { start: spec.date },
    ...(spec.reasonCode?.length ? { reasonCode: spec.reasonCode } : {}),
    serviceProvider: { ...ctx.mappings.site.organization },
  };
  return { slot: spec.slot, resource: encounter };
}
