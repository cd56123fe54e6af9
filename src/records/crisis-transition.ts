import { z } from 'zod';
import { envelopeShape } from './envelope.js';
import { concernCategory, dateTime, reference, text } from './primitives.js';

/**
 * Each routed concern becomes a Communication and an AuditEvent in the record's one transaction, which a
 * Medplum server caps at 50 updates (a resend updates every entry): 16 keep the largest record under 45.
 */
export const maxConcernsRouted = 16;

/** `crisis-transition` (spec §3.3): the peer bridge from crisis stabilisation to outpatient care. */
export const crisisTransitionSchema = z
  .object({
    ...envelopeShape,
    pathway: z.literal('crisis-transition'),
    transitionSource: z
      .object({
        service: z.enum(['crisis-stabilization', 'inpatient', 'crisis-line', 'emergency-department']),
        dischargedAt: dateTime,
      })
      .strict(),
    recentCrisisRiskActive: z.boolean(),
    peerRole: text,
    firstAppointment: z
      .object({
        date: dateTime,
        clinician: reference,
        status: z.enum(['booked', 'attended', 'missed', 'cancelled', 'rescheduled']),
      })
      .strict(),
    engagementConcern: text,
    peerContact: z
      .object({
        completed: z.boolean(),
        date: dateTime.optional(),
        outcome: z.enum(['reached-and-prepared', 'reached-concerns-raised', 'not-reached']),
      })
      .strict(),
    concernsRouted: z
      .array(z.object({ category: concernCategory, routedTo: reference, routedAt: dateTime }).strict())
      .max(maxConcernsRouted),
    receivingClinicianNotification: z.object({ notified: z.boolean(), clinician: reference, at: dateTime.optional() }).strict(),
    receivingTeam: z
      .object({
        team: reference,
        responsibilityConfirmed: z.boolean(),
        confirmedBy: reference.optional(),
        at: dateTime.optional(),
      })
      .strict(),
    clinicalFollowUp: z.object({ planned: z.boolean(), date: dateTime.optional(), clinician: reference.optional() }).strict(),
  })
  .strict();

export type CrisisTransitionRecord = z.infer<typeof crisisTransitionSchema>;
