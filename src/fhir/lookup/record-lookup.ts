import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { SiteConfig } from '../../config/mappings-schema.js';
import type { MappedResource } from '../../contract/mapped.js';
import { recordTag } from '../../contract/identity.js';
import { systems } from '../../contract/vocabulary.js';
import type { FhirClient } from '../client.js';
import { findExisting, matchExisting, searchsetResources } from './existing.js';
import { referenceReads, type Resolution } from './resolve.js';
import { hasTag, tokenSearchValue } from './search-values.js';

/**
 * The resource types the adapter writes for a record (one profile each in profiles/), every one carrying
 * the record's tag (contract/identity.ts recordTag). A mapped resource of a type not listed here is still
 * found: existingSlots searches it by identity.
 */
export const recordTypes = ['CarePlan', 'Task', 'Communication', 'Encounter', 'Consent', 'Goal', 'Provenance', 'AuditEvent'] as const;

/**
 * Resources read per type per record. A record's slots of one type are a handful; a longer list (a record
 * blocked or updated very many times leaves an AuditEvent or a Provenance each) is not read whole: that
 * type's slots are then searched by identity.
 */
const perType = 50;

/** What the FHIR server holds for a record, read before mapping: by type, with the types whose list was cut. */
export interface WrittenResources {
  byType: Map<string, Resource[]>;
  /** Types whose tag search was not complete (a full page): their slots are looked up by identity. */
  partial: Set<string>;
}

/** The answers of a record's one lookup round trip. */
export interface RecordLookup {
  /** The record's references, resolved and type-checked (resolve.ts), and which of them are peer roles. */
  resolution: Resolution;
  /** Everything written for the record before, exactly its tag (existing slots are picked from it after mapping). */
  written: WrittenResources;
}

/**
 * The one lookup round trip of a record, before mapping (no mapping is needed to ask it): one FHIR `batch`
 * of GETs holding the reads of every reference (resolve.ts: literal reads, identifier searches) and one
 * `Type?_tag=<source.system>|<recordId>` search per type the adapter writes. Every answer is checked as the
 * separate lookups check it: references by their type table and exact identifier, written resources by
 * the exact tag here and by the exact slot identity in existingSlots. `references` is what the references
 * are collected from (the record, or only its envelope for a safety review on its own).
 */
export async function lookUpRecord(
  fhir: FhirClient,
  record: { source: { system: string }; recordId: string },
  references: unknown,
  site: SiteConfig,
  types: readonly string[] = recordTypes,
): Promise<RecordLookup> {
  const reads = referenceReads(references, site);
  const tag = recordTag(record.source.system, record.recordId);
  const tagToken = encodeURIComponent(tokenSearchValue(tag.system!, tag.code!));
  const tagSearches = types.map((type) => `${type}?_tag=${tagToken}&_count=${perType}`);
  const response: Bundle = await fhir.batch({
    resourceType: 'Bundle',
    type: 'batch',
    entry: [...reads.requests, ...tagSearches].map((url) => ({ request: { method: 'GET' as const, url } })),
  });
  const answers = response.entry ?? [];
  const written: WrittenResources = { byType: new Map(), partial: new Set() };
  types.forEach((type, i) => {
    const answer = answers[reads.requests.length + i]?.resource;
    const found = searchsetResources(answer, type);
    if (found.length >= perType || (answer as Bundle).link?.some((l) => l.relation === 'next')) written.partial.add(type);
    // Tag search may match codes case-insensitively: keep exactly this record's resources.
    written.byType.set(
      type,
      found.filter((r) => r.resourceType === type && hasTag(r, tag.system!, tag.code!)),
    );
  });
  return { resolution: reads.resolve(answers.slice(0, reads.requests.length)), written };
}

/** Types nobody but the adapter updates: a record of what happened, never edited (so their tag stays). */
const immutableTypes = new Set(['Provenance', 'AuditEvent']);

/**
 * Slot → the resource an earlier send wrote there, for the record mapped once: picked from what the record
 * lookup read (no I/O), and found by identity (findExisting, a second round trip) only for a slot the tag
 * searches cannot vouch for:
 * - its type was not read, or not read whole (more than `perType` of the record's resources of that type);
 * - the record was sent before, the slot was not found, and its type is one others update (Task, CarePlan…):
 *   a server that does not carry tags forward on update (Medplum: medplum/medplum#2596) loses our tag when a
 *   client PUTs the resource without it, but keeps the identifier, so the slot is asked for by identity
 *   rather than created twice. A first send (nothing tagged for the record) has nothing to lose.
 */
export async function existingSlots(fhir: FhirClient, mapped: MappedResource[], written: WrittenResources): Promise<Map<string, Resource>> {
  const read = (type: string) => written.byType.has(type) && !written.partial.has(type);
  const existing = matchExisting(
    mapped.filter((m) => read(m.resource.resourceType)),
    [...written.byType.values()].flat(),
  );
  const sentBefore = [...written.byType.values()].some((found) => found.length > 0);
  // A withdrawal (MappedResource.withdrawn) is looked for by tag only: a Task that lost our tag was PUT by
  // someone else, who has most likely moved it on — it is left alone rather than costing a second round trip.
  const rest = mapped.filter(
    (m) =>
      !existing.has(m.slot) &&
      !(m.withdrawn && read(m.resource.resourceType)) &&
      (!read(m.resource.resourceType) || (sentBefore && !immutableTypes.has(m.resource.resourceType))),
  );
  if (rest.length) for (const [slot, r] of await findExisting(fhir, rest)) existing.set(slot, r);
  return existing;
}

/** The slot prefix of a record's blocked-record audits (mapping/resources/audit.ts buildBlockedAudit). */
export const blockedAuditSlotPrefix = 'audit/blocked/';

/**
 * Slot → the record's earlier `record-blocked` AuditEvents (`audit/blocked/<hash of the gates>`). The audit
 * of a block is built only once the gates have run, after the mapped slots were picked (existingSlots), so
 * its earlier events are picked here: from what the record lookup read, or — when the record has more
 * AuditEvents than one page of it — by one search of the record's tag and the type. A record is dated by
 * its first send (spec §6): a block sent again finds its event (the same gates: nothing new is written) and
 * the date of the first block (pipeline/process-record.ts blockedPlan).
 */
export async function blockedAudits(
  fhir: FhirClient,
  record: { source: { system: string }; recordId: string },
  written: WrittenResources,
): Promise<Map<string, Resource>> {
  const tag = recordTag(record.source.system, record.recordId);
  let audits = written.byType.get('AuditEvent') ?? [];
  if (written.partial.has('AuditEvent') || !written.byType.has('AuditEvent')) {
    const type = tokenSearchValue(systems.pathway, 'record-blocked');
    const found = await fhir.search('AuditEvent', { _tag: tokenSearchValue(tag.system!, tag.code!), type, _count: '1000' });
    audits = searchsetResources(found, 'AuditEvent').filter((r) => hasTag(r, tag.system!, tag.code!));
  }
  const prefix = `${record.recordId}/${blockedAuditSlotPrefix}`;
  const found = new Map<string, Resource>();
  for (const a of audits) {
    if (a.resourceType !== 'AuditEvent' || a.type?.system !== systems.pathway || a.type.code !== 'record-blocked') continue;
    const identity = a.meta?.tag?.[0];
    if (identity?.system === record.source.system && identity.code?.startsWith(prefix))
      found.set(identity.code.slice(record.recordId.length + 1), a);
  }
  return found;
}
