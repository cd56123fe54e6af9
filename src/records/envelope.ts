import { z } from 'zod';
import { consentCategory, dateTime, fhirUri, recipientKind, reference, text } from './primitives.js';

/** The four pathways of the contract (spec §2). */
export const pathwayCodes = ['early-engagement', 'step-down', 'crisis-transition', 'concern-routing'] as const;
export type PathwayCode = (typeof pathwayCodes)[number];

/** Each consent category and recipient kind at most once over: the lists are bounded by their vocabularies. */
const consentCategoryCount = 10;
const recipientKindCount = 4;

export const consentSchema = z.object({
  informationSharing: z.enum(['granted', 'declined', 'not-yet-discussed', 'withdrawn']),
  categories: z.array(consentCategory).max(consentCategoryCount),
  recipients: z.array(recipientKind).max(recipientKindCount),
  recordedAt: dateTime.optional(),
  recordedBy: reference.optional(),
  expires: dateTime.optional(),
}).strict();

/**
 * The common envelope (spec §2). Fields whose absence is a gate failure (the escalation route's
 * clinical owner…) are optional here so that their absence is reported as that gate (422).
 */
export const envelopeShape = {
  recordId: z.string().trim().min(1).max(64).regex(/^[A-Za-z0-9\-._:]+$/, 'letters, digits and - . _ : only'),
  recordedAt: dateTime,
  source: z.object({
    // An absolute URI (FHIR Identifier.system): the identifier system of everything written for the record.
    system: fhirUri.regex(/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/, 'expected an absolute URI such as urn:example:peer-platform'),
    organization: reference.optional(),
  }).strict(),
  person: reference,
  peerSpecialist: reference,
  consent: consentSchema,
  escalationRoute: z.object({
    clinicalOwner: reference.optional(),
    instructions: text.optional(),
    urgentContact: reference.optional(),
  }).strict().optional(),
  safety: z.object({
    immediateConcernDisclosed: z.boolean(),
    summary: text.optional(),
    disclosedAt: dateTime.optional(),
  }).strict(),
  /** The peer's own relational notes: accepted, never mapped, logged or echoed. */
  peerNotes: z.string().max(20_000).optional(),
};

export type Consent = z.infer<typeof consentSchema>;
