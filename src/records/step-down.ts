import { z } from 'zod';
import { envelopeShape } from './envelope.js';
import { date, dateTime, fhirCode, fhirString, fhirUri, maxListItems, reference, text, unsignedInt } from './primitives.js';

/**
 * Each recovery goal becomes a Goal in the record's one transaction, which a Medplum server caps at
 * 50 updates (a resend updates every entry): 30 keep the largest record under 40.
 */
export const maxRecoveryGoals = 30;

/** `step-down` (spec §3.2): from intensive outpatient to standard therapy and community recovery. */
export const stepDownSchema = z
  .object({
    ...envelopeShape,
    pathway: z.literal('step-down'),
    stepDownReason: text,
    stepDownReasonCode: z
      .object({ system: fhirUri, code: fhirCode, display: fhirString(200).optional() })
      .strict()
      .optional(),
    fromService: z.object({ service: text, owner: reference.optional() }).strict(),
    receivingPathway: z
      .object({
        service: text,
        owner: reference,
        confirmed: z.boolean(),
        confirmedBy: reference.optional(),
        confirmedAt: dateTime.optional(),
      })
      .strict(),
    stabilityConfirmedBy: reference,
    personAgreement: z.object({ agreedToPeerInvolvement: z.boolean(), recordedAt: dateTime }).strict(),
    peerSupportPurpose: text,
    recoveryGoals: z
      .array(
        z
          .object({
            description: text,
            targetDate: date.optional(),
            status: z.enum(['in-progress', 'achieved', 'not-achieved']).optional(),
          })
          .strict(),
      )
      .max(maxRecoveryGoals),
    warningSigns: z.array(text).min(1, 'at least one relapse warning sign').max(maxListItems),
    communityConnectionPlan: z
      .array(z.object({ activity: text, schedule: text.optional(), contact: text.optional() }).strict())
      .min(1, 'at least one community connection')
      .max(maxListItems),
    clinicalReviewDate: date,
    peerSupportPeriod: z.object({ start: date, end: date.optional(), reviewDate: date.optional() }).strict(),
    monitoring: z.object({ missedTherapySessions: unsignedInt, worseningSymptomsReported: z.boolean() }).strict(),
  })
  .strict();

export type StepDownRecord = z.infer<typeof stepDownSchema>;
