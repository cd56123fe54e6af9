import type { Reference as FhirReference } from '@medplum/fhirtypes';
import type { Mappings } from '../config/mappings-schema.js';
import type { ConsentCategory, RecipientKind } from '../config/mappings-schema.js';
import type { EnvelopeRecord } from '../records/envelope.js';
import type { PathwayRecord } from '../records/index.js';
import type { Reference } from '../records/primitives.js';
import { collectReferences } from '../records/references.js';
import { slotFullUrl, slotIdentifier } from '../contract/identity.js';
import { SiteTime } from './instants.js';
import type { ResolvedReference } from '../contract/mapped.js';

export type { MappedResource, ResolvedReference } from '../contract/mapped.js';

/**
 * A reference whose target type is checked at run time (resolution), not by the compiler: Medplum's
 * typed `Reference<T>` cannot know what a record's reference points to.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyReference = FhirReference<any>;

/**
 * What mapping needs besides the record: the site's configuration and what the FHIR server told us.
 * `R` is the whole pathway record, or only its envelope when the safety review is raised for a record
 * the schema refused (spec §4): builders that need only the envelope take `MappingContext<EnvelopeRecord>`.
 */
export class MappingContext<R extends EnvelopeRecord = PathwayRecord> {
  /** Record dates as instants, in the site's time zone (spec §8). */
  readonly time: SiteTime;
  /** Each reference object of the record → what it resolved to (resolution checked its type for its field). */
  private readonly resolved: ReadonlyMap<Reference, ResolvedReference>;

  constructor(
    readonly record: R,
    readonly mappings: Mappings,
    /** Field path → resolution (fhir/resolve.ts): only references that resolved to an allowed type. */
    resolvedByPath: ReadonlyMap<string, ResolvedReference>,
    /** Literal references that are peer roles (spec §3.5). */
    readonly peerRoles: readonly string[],
    /** Slot → `Type/id` of resources this record already wrote; other slots get a urn:uuid. */
    private readonly existing: ReadonlyMap<string, string> = new Map(),
  ) {
    this.time = new SiteTime(mappings.site.timeZone);
    this.resolved = new Map(
      collectReferences(record).flatMap(({ path, ref }) => {
        const r = resolvedByPath.get(path);
        return r ? [[ref, r] as const] : [];
      }),
    );
  }

  /** The literal `Type/id` a record reference resolved to, if it did. */
  literal(ref: Reference | undefined): string | undefined {
    return ref ? this.resolved.get(ref)?.literal : undefined;
  }

  /** A FHIR Reference for a record reference (with its display), if it resolved. */
  ref(ref: Reference | undefined): AnyReference | undefined {
    const literal = this.literal(ref);
    return literal ? { reference: literal, ...(ref?.display ? { display: ref.display } : {}) } : undefined;
  }

  /** True when the reference is the record's peer specialist or a peer PractitionerRole. */
  isPeerRole(literal: string | undefined): boolean {
    return literal !== undefined && this.peerRoles.includes(literal);
  }

  /** The person (Patient) the record is about. */
  get person(): AnyReference {
    const p = this.record.person;
    // Unresolved: the record is blocked, but a safety review still needs to say whom it is about.
    return (
      this.ref(p) ?? {
        ...(p.identifier ? { identifier: p.identifier } : {}),
        display: `Unresolved person reference ${p.reference ?? ''}`.trim(),
      }
    );
  }

  /** The peer specialist. */
  get peer(): AnyReference {
    return this.ref(this.record.peerSpecialist) ?? { display: this.record.peerSpecialist.display ?? 'Peer specialist' };
  }

  /** The clinical owner of the escalation route when present and not a peer role; else undefined. */
  get clinicalOwner(): AnyReference | undefined {
    return this.clinicalRef(this.record.escalationRoute?.clinicalOwner);
  }

  /** A record reference as a clinical owner (spec §3.5): resolved and not a peer role, else undefined. */
  clinicalRef(ref: Reference | undefined): AnyReference | undefined {
    const owner = this.ref(ref);
    return owner && !this.isPeerRole(owner.reference) ? owner : undefined;
  }

  /** The owner of clinical review: the escalation route, failing that the site's default clinical route. */
  get clinicalReviewOwner(): AnyReference {
    return this.clinicalOwner ?? { ...this.mappings.site.defaultClinicalRoute };
  }

  /** Who owns a review the record names an owner for: that owner when it is a clinical owner, else the route of clinical review (never a peer). */
  reviewOwner(ref: Reference | undefined): AnyReference {
    return this.clinicalRef(ref) ?? this.clinicalReviewOwner;
  }

  /** The business identifier of a slot. */
  identifier(slot: string) {
    return slotIdentifier(this.record.source.system, this.record.recordId, slot);
  }

  /** How a resource in this record's Bundle refers to another slot. */
  slotRef(slot: string): string {
    return this.existing.get(slot) ?? slotFullUrl(this.record.source.system, this.record.recordId, slot);
  }

  /**
   * Whether the consent was in force at a disclosure (spec §3.5 "Consent in force"): not expired before it
   * (`expires`: a date-only value grants through that local day, SiteTime.endMs) and not recorded after it.
   */
  consentInForce(at: string = this.record.recordedAt): boolean {
    const { expires, recordedAt } = this.record.consent;
    const when = this.time.ms(at);
    return (expires === undefined || when < this.time.endMs(expires)) && (recordedAt === undefined || this.time.ms(recordedAt) <= when);
  }

  /** Whether the consent in force at `at` (default: the record's recordedAt) lets a category go to a kind of recipient (spec §2, §3.5). */
  consents(category: ConsentCategory, recipient: RecipientKind, at?: string): boolean {
    const c = this.record.consent;
    return (
      c.informationSharing === 'granted' && c.categories.includes(category) && c.recipients.includes(recipient) && this.consentInForce(at)
    );
  }

  /** The site's reference for a kind of recipient, or a record-specific one. */
  recipient(kind: Exclude<RecipientKind, 'receiving-clinician'>): AnyReference {
    return { ...this.mappings.site.recipients[kind] };
  }
}
