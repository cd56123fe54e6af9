import type { Annotation, CodeableConcept, Element, Extension } from '@medplum/fhirtypes';
import type { ConcernCategory, ConsentCategory, RecipientKind } from '../config/mappings-schema.js';
import type { EnvelopeRecord } from '../records/envelope.js';
import type { MappingContext } from './context.js';
import type { PayloadItem } from './resources/communication.js';

/**
 * The one place that decides what content about the person is written and what may travel (spec §2,
 * §3.5, §5 "Consent governs the record, not only the message").
 *
 * - **The record** (every resource written, which the care team reads on the FHIR server): content of a
 *   consent category — engagement barriers, recovery goals, warning signs, community connections,
 *   concern summaries… — is written only when the consent in force covers that category for the
 *   `care-team` (`recordsContent`). Otherwise the element says that such content exists and was not
 *   shared: FHIR's data-absent-reason `masked` (`maskedString`, `maskedConcept`, `maskedNote`), never the
 *   content. Operational facts (pathway, dates, owners, appointment status, gate outcomes, Task states)
 *   are not consent content and are always written.
 * - **A message** (a Communication to a recipient): optional content goes only where consent covers it for
 *   that recipient (`consentedItems`); content that is the disclosure itself always goes into the Bundle
 *   so that the consent gates see it and block it when it is not covered.
 * - **Safety** travels under the duty of care whatever the consent (spec §4), with the exception recorded
 *   (triggers/safety.ts).
 */

/** FHIR's data-absent-reason extension (R4 core, context: any Element). */
export const dataAbsentReasonUrl = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason';

/** The data-absent-reason `masked`: "the information is not available due to security, privacy or related reasons". */
export const maskedExtension: Extension = { url: dataAbsentReasonUrl, valueCode: 'masked' };

/**
 * Content of a consent category about the person whose record is written: which category each kind of
 * content belongs to (spec §2 `Category`). Community connections are part of the person's recovery plan,
 * so `recovery-goals` covers them (the contract has no category of their own).
 */
export const contentCategory = {
  engagementBarriers: 'engagement-barriers',
  recoveryGoals: 'recovery-goals',
  warningSigns: 'warning-signs',
  communityConnections: 'recovery-goals',
  peerContactSummary: 'peer-contact-summary',
} as const satisfies Record<string, ConsentCategory>;

/** Whether content of a consent category may be written to the care team's record (consent in force at `recordedAt`). */
export function recordsContent(ctx: MappingContext<EnvelopeRecord>, category: ConsentCategory): boolean {
  return ctx.consents(category, 'care-team');
}

/**
 * A string element of consent-category content: `{ [key]: text }` when the record may hold it, else the
 * element absent with the reason `masked` (`{ _[key]: { extension: [masked] } }`, FHIR JSON's form for a
 * primitive's extensions, R4 §2.6.2).
 */
export function maskedString<K extends string>(
  ctx: MappingContext<EnvelopeRecord>,
  category: ConsentCategory,
  key: K,
  text: string,
): Record<string, string | Element> {
  return recordsContent(ctx, category) ? { [key]: text } : { [`_${key}`]: { extension: [maskedExtension] } };
}

/** A CodeableConcept of consent-category content, or one that only says it was masked. */
export function maskedConcept(ctx: MappingContext<EnvelopeRecord>, category: ConsentCategory, concept: CodeableConcept): CodeableConcept {
  return recordsContent(ctx, category) ? concept : { extension: [maskedExtension] };
}

/** A note of consent-category content, or a note saying such content was recorded by peer support and not shared. */
export function maskedNote(ctx: MappingContext<EnvelopeRecord>, category: ConsentCategory, what: string, text: string): Annotation {
  return recordsContent(ctx, category)
    ? { text }
    : {
        extension: [maskedExtension],
        text: `${what} was recorded by peer support and is not shared: the consent in force does not cover ${category} for the care team.`,
      };
}

/**
 * Consent categories whose content is an operational fact the receiving service already owns (spec §5:
 * appointment status), not content about the person: written whatever the care team's consent.
 */
const operationalCategories: ReadonlySet<ConsentCategory> = new Set(['appointment-status']);

/**
 * Whether a message's payload item may carry its words (spec §5 "Consent governs the record, not only the
 * message"): a Communication is written to the care team's record too, so its content needs the category
 * consented for the message's recipient kind AND for the `care-team` (an operational category needs only
 * the recipient). Otherwise the payload keeps its category label (the consent gates judge that) and says
 * the content was not shared. A safety concern under the duty of care carries what its caller chose
 * (triggers/concern-channels.ts: its summary only where consented).
 */
export function payloadContentShared(
  ctx: MappingContext,
  item: { category: ConsentCategory; concern?: string | undefined },
  recipient: RecipientKind,
  dutyOfCare: boolean,
): boolean {
  if (dutyOfCare && item.concern === 'safety') return true;
  return ctx.consents(item.category, recipient) && (operationalCategories.has(item.category) || recordsContent(ctx, item.category));
}

/** The words a payload item carries when its content is not shared (payloadContentShared): its category only. */
export function maskedPayloadText(category: ConsentCategory): string {
  return `Peer support recorded content of category ${category}; it is not shared: the consent in force does not cover ${category} for both this recipient and the care team.`;
}

/** Optional content for a message: only the items consent covers for that recipient. */
export function consentedItems(ctx: MappingContext, recipient: RecipientKind, items: PayloadItem[]): PayloadItem[] {
  return items.filter((item) => ctx.consents(item.category, recipient));
}

/** The routing rule of a concern category (mappings/routing.json). */
export function concernRule(ctx: MappingContext, category: ConcernCategory) {
  return ctx.mappings.routing.concerns[category];
}

/** A routed concern as a payload item: its consent category, its concern category and its summary. */
export function concernItem(ctx: MappingContext, category: ConcernCategory, summary: string): PayloadItem {
  return { category: concernRule(ctx, category).consentCategory, concern: category, text: summary };
}

/**
 * Whether a routed concern's own words (its summary) may be written on its channel's Task and message:
 * the consent in force covers its category for the channel's recipient and for the care team (whose
 * record it is written in), and the person agrees to the routing being shared. Otherwise only its
 * category travels — the minimum to act on.
 */
export function concernSummaryShared(ctx: MappingContext, category: ConcernCategory, personAgrees: boolean): boolean {
  const rule = concernRule(ctx, category);
  return personAgrees && ctx.consents(rule.consentCategory, rule.recipientKind) && recordsContent(ctx, rule.consentCategory);
}

/** True when every item is a safety concern: routed under the duty of care whatever the consent says. */
export function allSafety(items: PayloadItem[]): boolean {
  return items.length > 0 && items.every((i) => i.concern === 'safety');
}
