import { z } from 'zod';
import { envelopeShape } from './envelope.js';
import { consentCategory, date, dateTime, maxListItems, recipientKind, reference, text, unsignedInt } from './primitives.js';

/**
 * Each disclosure becomes a Communication and an AuditEvent in the record's one transaction, which a
 * Medplum server caps at 50 updates (a resend updates every entry): 16 keep the largest record under 45.
 */
export const maxInformationShared = 16;

export const engagementBarriers = [
  'overwhelmed-by-process',
  'unsure-what-therapy-involves',
  'mistrust-of-services',
  'practical-barrier',
  'none-identified',
  'other',
] as const;

/** `early-engagement` (spec §3.1): peer orientation between intake and the first therapy appointment. */
export const earlyEngagementSchema = z
  .object({
    ...envelopeShape,
    pathway: z.literal('early-engagement'),
    intake: z.object({ date, service: text, eligible: z.boolean(), criteria: z.array(text).max(maxListItems) }).strict(),
    peerSupportOffer: z.object({ offered: z.boolean(), offeredAt: dateTime.optional(), reasonNotOffered: text.optional() }).strict(),
    personPreference: z.enum(['accepted', 'declined', 'undecided']),
    engagementBarriers: z.array(z.enum(engagementBarriers)).max(engagementBarriers.length),
    engagementBarriersText: text.optional(),
    peerContact: z
      .object({
        completed: z.boolean(),
        date: dateTime.optional(),
        mode: z.enum(['in-person', 'phone', 'video', 'text']).optional(),
        attempts: unsignedInt.optional(),
      })
      .strict(),
    informationShared: z
      .array(z.object({ category: consentCategory, recipient: recipientKind, sharedAt: dateTime }).strict())
      .max(maxInformationShared),
    nextAppointment: z
      .object({
        date: dateTime,
        status: z.enum(['booked', 'attended', 'missed', 'cancelled', 'rescheduled', 'not-booked']),
        owner: reference.optional(),
      })
      .strict(),
    followUpAction: z.object({ description: text, due: dateTime, owner: reference }).strict(),
  })
  .strict();

export type EarlyEngagementRecord = z.infer<typeof earlyEngagementSchema>;
