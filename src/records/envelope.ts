import { z } from 'zod';
import { consentCategory, date, dateTime, maxUriLength, recipientKind, reference, text } from './primitives.js';

/** The four pathways of the contract (spec §2). */
export const pathwayCodes = ['early-engagement', 'step-down', 'crisis-transition', 'concern-routing'] as const;
export type PathwayCode = (typeof pathwayCodes)[number];

export const consentSchema = z.object({
  informationSharing: z.enum(['granted', 'declined', 'not-yet-discussed', 'withdrawn']),
  categories: z.array(consentCategory),
  recipients: z.array(recipientKind),
  recordedAt: dateTime.optional(),
  recordedBy: reference.optional(),
  expires: z.union([dateTime, date]).optional(),
}).strict();

/**
 * The common envelope (spec §2). Fields whose absence is a gate failure (the escalation route's
 * clinical owner…) are optional here so that their absence is reported as that gate (422).
 */
export const envelopeShape = {
  recordId: z.string().trim().min(1).max(64).regex(/^[A-Za-z0-9\-._:]+$/, 'letters, digits and - . _ : only'),
  recordedAt: dateTime,
  source: z.object({ system: z.string().max(maxUriLength).url({ error: 'expected a URI such as urn:example:peer-platform' }).or(z.string().max(maxUriLength).regex(/^urn:[a-z0-9-]+:.+$/i)), organization: reference.optional() }).strict(),
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
