import { z } from 'zod';
import { envelopeShape } from './envelope.js';
import { concernCategory, dateTime, maxListItems, reference, text, unsignedInt } from './primitives.js';

export const observedChanges = [
  'withdrawn-or-quieter',
  'missed-group-session',
  'missed-appointment',
  'housing-instability',
  'substance-use-change',
  'physical-health-change',
  'other',
] as const;

/** `concern-routing` (spec §3.4): a peer notices a change during ongoing support. */
export const concernRoutingSchema = z
  .object({
    ...envelopeShape,
    pathway: z.literal('concern-routing'),
    observedChanges: z.array(z.enum(observedChanges)).max(observedChanges.length),
    observedChangesText: text.optional(),
    concerns: z
      .array(z.object({ category: concernCategory, summary: text.max(500) }).strict())
      .min(1, 'at least one concern')
      .max(maxListItems),
    personAware: z.object({ informed: z.boolean(), agreesToSharing: z.boolean() }).strict(),
    lastEngagedAt: dateTime,
    missedContacts: unsignedInt,
    peerContact: z
      .object({
        completed: z.boolean(),
        date: dateTime,
        mode: z.enum(['in-person', 'phone', 'video', 'text']),
      })
      .strict()
      .optional(),
    carePlan: reference.optional(),
  })
  .strict();

export type ConcernRoutingRecord = z.infer<typeof concernRoutingSchema>;
