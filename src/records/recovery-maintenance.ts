import { z } from 'zod';
import { envelopeShape } from './envelope.js';
import { date, maxListItems, reference, text, unsignedInt } from './primitives.js';
import { maxRecoveryGoals } from './step-down.js';

const recoveryGoal = z
  .object({
    description: text,
    targetDate: date.optional(),
    status: z.enum(['in-progress', 'achieved', 'not-achieved']).optional(),
  })
  .strict();

/**
 * `recovery-maintenance` (spec §3.6): light peer check-ins after discharge from treatment, and a fast,
 * named way back into care (`reEntryRoute`). Fields whose absence is a gate (`discharge.dischargedBy`,
 * `reEntryRoute.owner`) are optional here so that their absence is reported as that gate (422).
 */
export const recoveryMaintenanceSchema = z
  .object({
    ...envelopeShape,
    pathway: z.literal('recovery-maintenance'),
    discharge: z.object({ date, fromService: text, dischargedBy: reference.optional() }).strict(),
    personAgreement: z.object({ agreedToPeerInvolvement: z.boolean(), recordedAt: envelopeShape.recordedAt }).strict(),
    peerSupportPurpose: text,
    recoveryGoals: z.array(recoveryGoal).max(maxRecoveryGoals),
    warningSigns: z.array(text).min(1, 'at least one relapse warning sign agreed at discharge').max(maxListItems),
    checkIns: z
      .object({
        frequency: z.enum(['weekly', 'fortnightly', 'monthly']),
        start: date,
        end: date.optional(),
        reviewDate: date.optional(),
      })
      .strict(),
    reEntryRoute: z.object({ service: text, owner: reference.optional(), instructions: text.optional() }).strict(),
    monitoring: z
      .object({
        since: date.optional(),
        missedCheckIns: unsignedInt,
        warningSignsObserved: z.array(text).max(maxListItems),
      })
      .strict()
      .refine((m) => m.since !== undefined || (m.missedCheckIns === 0 && m.warningSignsObserved.length === 0), {
        error: 'monitoring.since is required when missed check-ins or observed warning signs are reported',
        path: ['since'],
      }),
    lastCheckIn: z
      .object({
        date,
        completed: z.boolean(),
        mode: z.enum(['in-person', 'phone', 'video', 'text']).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type RecoveryMaintenanceRecord = z.infer<typeof recoveryMaintenanceSchema>;
