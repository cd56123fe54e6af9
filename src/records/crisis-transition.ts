import { z } from 'zod';
import { envelopeShape } from './envelope.js';
import { concernCategory, date, dateTime, reference, text } from './primitives.js';

/** `crisis-transition` (spec §3.3): the peer bridge from crisis stabilisation to outpatient care. */
export const crisisTransitionSchema = z.object({
  ...envelopeShape,
  pathway: z.literal('crisis-transition'),
  transitionSource: z.object({
    service: z.enum(['crisis-stabilization', 'inpatient', 'crisis-line', 'emergency-department']),
    dischargedAt: dateTime,
  }).strict(),
  recentCrisisRiskActive: z.boolean(),
  peerRole: text,
  firstAppointment: z.object({
    date: dateTime,
    clinician: reference,
    status: z.enum(['booked', 'attended', 'missed', 'cancelled', 'rescheduled']),
  }).strict(),
  engagementConcern: text,
  peerContact: z.object({
    completed: z.boolean(),
    date: dateTime.optional(),
    outcome: z.enum(['reached-and-prepared', 'reached-concerns-raised', 'not-reached']),
  }).strict(),
  concernsRouted: z.array(z.object({ category: concernCategory, routedTo: reference, routedAt: dateTime }).strict()),
  receivingClinicianNotification: z.object({ notified: z.boolean(), clinician: reference, at: dateTime.optional() }).strict(),
  receivingTeam: z.object({
    team: reference,
    responsibilityConfirmed: z.boolean(),
    confirmedBy: reference.optional(),
    at: dateTime.optional(),
  }).strict(),
  clinicalFollowUp: z.object({ planned: z.boolean(), date: date.or(dateTime).optional(), clinician: reference.optional() }).strict(),
}).strict();

export type CrisisTransitionRecord = z.infer<typeof crisisTransitionSchema>;
