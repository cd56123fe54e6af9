import { createHash } from 'node:crypto';
import type { AuditEvent, Provenance } from '@medplum/fhirtypes';
import type { AnyReference, MappingContext, MappedResource } from '../context.js';
import { recordTag } from '../../contract/identity.js';
import { profileUrl, recordMonthTag, systems } from '../../contract/vocabulary.js';

const adapterDevice = { display: 'peer-pathways-fhir adapter' };
const agentTypes = new Set(['Practitioner', 'PractitionerRole', 'RelatedPerson', 'Patient', 'Device', 'Organization']);
const destinationRole = {
  coding: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110152', display: 'Destination Role ID' }],
};

/**
 * A reference as audit resources carry it: what identifies the target, never a display. Displays come
 * from the record (a person's name, a worker's note) and audit trails are exported to places that
 * must hold references and codes only. An unresolved reference with nothing else keeps `fallback`.
 */
function bare(ref: AnyReference, fallback: string): AnyReference {
  if (ref.reference) return { reference: ref.reference };
  if (ref.identifier) return { identifier: ref.identifier };
  return { display: fallback };
}

/** A short, stable hash of content: what makes a Provenance or an audit record idempotent. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/**
 * The Provenance of one accepted write (spec §5): the peer as author with the peer role, the adapter as
 * assembler, the source record as entity. Its slot carries a hash of what was written, so a retried
 * write finds it again instead of doubling it.
 */
export function buildProvenance(ctx: MappingContext, targets: AnyReference[]): MappedResource {
  const slot = `provenance/${contentHash(targets)}`;
  const provenance: Provenance = {
    resourceType: 'Provenance',
    meta: { profile: [profileUrl('peer-pathway-provenance')] },
    target: targets,
    occurredDateTime: ctx.record.recordedAt,
    recorded: ctx.time.instant(ctx.record.recordedAt, 'recordedAt'),
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] },
        role: [{ coding: [ctx.mappings.codes.peerRoleCoding] }],
        who: bare(ctx.peer, 'Peer specialist'),
      },
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'assembler' }] },
        who: adapterDevice,
      },
    ],
    entity: [
      {
        role: 'source',
        what: { identifier: { system: ctx.record.source.system, value: ctx.record.recordId }, display: `${ctx.record.pathway} record` },
      },
    ],
  };
  // Provenance has no identifier element in R4: its business identity is a tag.
  provenance.meta = { ...provenance.meta, tag: auditTags(ctx, slot) };
  return { slot, resource: provenance };
}

/** The tag that identifies an audit resource (AuditEvent, Provenance), which have no `identifier`. */
export function auditTag(ctx: MappingContext, slot: string) {
  const id = ctx.identifier(slot);
  return { system: id.system, code: id.value };
}

/** An audit resource's tags: its identity first (existing.ts reads tag[0]), then the record tag. */
function auditTags(ctx: MappingContext, slot: string) {
  return [auditTag(ctx, slot), recordTag(ctx.record.source.system, ctx.record.recordId)];
}

/** An AuditEvent for a disclosure (IHE BALP-style export): who sent what kind of content to whom. */
export function buildDisclosureAudit(ctx: MappingContext, communicationSlot: string, recipient: AnyReference): MappedResource {
  // Keyed by the recipient too: a disclosure to someone else is another event, never a rewrite of this one.
  const slot = `audit/disclosure/${communicationSlot}/${contentHash([recipient.reference ?? recipient.display ?? ''])}`;
  const event: AuditEvent = {
    resourceType: 'AuditEvent',
    meta: { profile: [profileUrl('peer-pathway-audit-event')], tag: auditTags(ctx, slot) },
    type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110106', display: 'Export' },
    subtype: [{ system: systems.pathway, code: 'disclosure', display: 'Information disclosed to a care recipient' }],
    action: 'C',
    recorded: ctx.time.instant(ctx.record.recordedAt, 'recordedAt'),
    outcome: '0',
    agent: [
      { who: bare(ctx.peer, 'Peer specialist'), requestor: true },
      // AuditEvent.agent.who cannot be a CareTeam in R4: such a recipient is named and kept as an entity.
      agentTypes.has(recipient.reference?.split('/')[0] ?? '')
        ? { who: bare(recipient, 'Recipient'), requestor: false, type: destinationRole }
        : { name: recipient.reference ?? 'recipient', requestor: false, type: destinationRole },
    ],
    source: { observer: adapterDevice },
    entity: [
      ...(agentTypes.has(recipient.reference?.split('/')[0] ?? '') ? [] : [{ what: bare(recipient, 'Recipient'), name: 'recipient' }]),
      {
        what: { reference: ctx.slotRef(communicationSlot) },
        role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '4', display: 'Domain Resource' },
      },
      {
        what: bare(ctx.person, 'Person'),
        role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
      },
    ],
  };
  return { slot, resource: event };
}

/**
 * An AuditEvent recording that a record was blocked, by which gates, and when the record was made:
 * references and codes only. `firstSent` is the record's first send (an earlier block, or its CarePlan
 * when it was accepted before): a record is dated by its first send (spec §6), so a block sent again
 * later keeps that date (`period.start`) and month tag; undefined on a first send (this send's recordedAt).
 * `acceptedVersion` is the versionId of the record's CarePlan, when an earlier send was accepted.
 */
export function buildBlockedAudit(
  ctx: MappingContext,
  gateKeys: string[],
  at: string,
  firstSent?: string,
  acceptedVersion?: string,
): MappedResource {
  // Keyed by the gates, and by the accepted CarePlan's version when the record was accepted before: a block
  // after an accepted send is an event of its own (the record's status reads the latest block against the
  // CarePlan's last write: followup/record-status.ts), the same block sent again is the same event.
  const slot = `audit/blocked/${contentHash(acceptedVersion === undefined ? gateKeys : [gateKeys, acceptedVersion])}`;
  const made = firstSent ?? ctx.time.instant(ctx.record.recordedAt, 'recordedAt');
  const month = recordMonthTag(made);
  const event: AuditEvent = {
    resourceType: 'AuditEvent',
    meta: { profile: [profileUrl('peer-pathway-audit-event')], tag: [...auditTags(ctx, slot), ...(month ? [month] : [])] },
    type: { system: systems.pathway, code: 'record-blocked', display: 'Pathway record blocked by a gate' },
    subtype: gateKeys.map((code) => ({ system: systems.gate, code })),
    action: 'C',
    // When the record was made (its recordedAt): governance dates a blocked record by it (spec §6), not by `recorded`.
    period: { start: made },
    recorded: at,
    outcome: '4',
    outcomeDesc: `Blocked by ${gateKeys.join(', ')}`,
    agent: [{ who: bare(ctx.peer, 'Peer specialist'), requestor: true }],
    source: { observer: adapterDevice },
    entity: [
      { what: { identifier: { system: ctx.record.source.system, value: ctx.record.recordId } }, name: ctx.record.pathway },
      ...(ctx.literal(ctx.record.person) ? [{ what: bare(ctx.person, 'Person') }] : []),
    ],
  };
  return { slot, resource: event };
}
