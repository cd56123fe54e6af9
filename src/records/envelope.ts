import { z } from 'zod';
import { consentCategory, dateTime, fhirUri, recipientKind, reference, text } from './primitives.js';

import { pathwayCodes } from '../contract/pathways.js';

export { pathwayCodes, type PathwayCode } from '../contract/pathways.js';

/** Each consent category and recipient kind at most once over: the lists are bounded by their vocabularies. */
const consentCategoryCount = 10;
const recipientKindCount = 4;

export const consentSchema = z
  .object({
    informationSharing: z.enum(['granted', 'declined', 'not-yet-discussed', 'withdrawn']),
    categories: z.array(consentCategory).max(consentCategoryCount),
    recipients: z.array(recipientKind).max(recipientKindCount),
    recordedAt: dateTime.optional(),
    recordedBy: reference.optional(),
    expires: dateTime.optional(),
  })
  .strict();

/**
 * The common envelope (spec §2). Fields whose absence is a gate failure (the escalation route's
 * clinical owner…) are optional here so that their absence is reported as that gate (422).
 */
export const envelopeShape = {
  recordId: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9\-._:]+$/, 'letters, digits and - . _ : only'),
  recordedAt: dateTime,
  source: z
    .object({
      // An absolute URI (FHIR Identifier.system): the identifier system of everything written for the record.
      system: fhirUri.regex(/^[A-Za-z][A-Za-z0-9+.-]*:./, 'expected an absolute URI such as urn:example:peer-platform'),
      organization: reference.optional(),
    })
    .strict(),
  person: reference,
  peerSpecialist: reference,
  consent: consentSchema,
  escalationRoute: z
    .object({
      clinicalOwner: reference.optional(),
      instructions: text.optional(),
      urgentContact: reference.optional(),
    })
    .strict()
    .optional(),
  safety: z
    .object({
      immediateConcernDisclosed: z.boolean(),
      summary: text.optional(),
      disclosedAt: dateTime.optional(),
    })
    .strict(),
  /** The peer's own relational notes: accepted, never mapped, logged or echoed. */
  peerNotes: z.string().max(20_000).optional(),
  /** The person's feedback (spec §2, every pathway): reported per pathway by governance (§6 person-feedback). */
  personFeedback: z
    .object({ score: z.number().int().min(1).max(5), collectedAt: dateTime })
    .strict()
    .optional(),
};

export type Consent = z.infer<typeof consentSchema>;

/**
 * The envelope of spec §4 that safety first needs — `recordId`, `source`, `person`, `peerSpecialist`,
 * `safety` — read on its own from a record the full schema refused. Other fields (unknown, wrong or from
 * another pathway) are ignored here: they are what the 400 is about.
 */
export const safetyEnvelopeSchema = z.object({
  recordId: envelopeShape.recordId,
  source: envelopeShape.source,
  person: envelopeShape.person,
  peerSpecialist: envelopeShape.peerSpecialist,
  safety: envelopeShape.safety,
});

/** What every record has, and all that the safety review of spec §4 is built from. */
export interface EnvelopeRecord {
  recordId: string;
  pathway: string;
  recordedAt: string;
  source: z.infer<typeof envelopeShape.source>;
  person: z.infer<typeof envelopeShape.person>;
  peerSpecialist: z.infer<typeof envelopeShape.peerSpecialist>;
  consent: Consent;
  escalationRoute?: z.infer<typeof envelopeShape.escalationRoute>;
  safety: z.infer<typeof envelopeShape.safety>;
  personFeedback?: z.infer<typeof envelopeShape.personFeedback>;
}

/** No usable consent: nothing is consented (the safety review then records the duty-of-care exception). */
const noConsent: Consent = { informationSharing: 'not-yet-discussed', categories: [], recipients: [] };

/**
 * The envelope of a value the record schema refused, when its safety-first part is valid (spec §4);
 * recordedAt, consent and escalationRoute are used where each is valid on its own, else left out.
 * `now` dates the review when neither disclosedAt nor recordedAt is usable.
 */
export function safetyEnvelopeOf(value: unknown, now: Date): EnvelopeRecord | undefined {
  const parsed = safetyEnvelopeSchema.safeParse(value);
  if (!parsed.success) return undefined;
  const v = value as Record<string, unknown>;
  const recordedAt = envelopeShape.recordedAt.safeParse(v.recordedAt);
  const consent = consentSchema.safeParse(v.consent);
  const route = envelopeShape.escalationRoute.safeParse(v.escalationRoute);
  const pathway = typeof v.pathway === 'string' && (pathwayCodes as readonly string[]).includes(v.pathway) ? v.pathway : 'unknown';
  return {
    ...parsed.data,
    pathway,
    recordedAt: recordedAt.success ? recordedAt.data : (parsed.data.safety.disclosedAt ?? now.toISOString()),
    consent: consent.success ? consent.data : noConsent,
    ...(route.success && route.data ? { escalationRoute: route.data } : {}),
  };
}
