import { z } from 'zod';
import { priorities } from './mappings-schema.js';

const reference = z.object({ reference: z.string().regex(/^[A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/), display: z.string().optional() }).strict();

/** mappings/escalation.json: what happens to review Tasks nobody accepted in time. */
export const escalationSchema = z
  .object({
    $comment: z.string().optional(),
    clinicalReview: z
      .object({
        /** Who gets the escalation; the site's defaultClinicalRoute when absent. */
        onCallRoute: reference.optional(),
        priority: z.enum(priorities),
        /** Due time of the escalation Task, in hours after it is raised. */
        dueHours: z.number().positive(),
      })
      .strict(),
    careCoordinationReminder: z
      .object({
        /** Hours past its due time a still-unaccepted care-coordination Task waits before its owner is reminded. */
        afterHoursOverdue: z.number().min(0),
        priority: z.enum(priorities),
      })
      .strict(),
  })
  .strict();

const webhook = z
  .object({
    url: z
      .string()
      .url()
      .refine((u) => /^https?:\/\//.test(u), 'http(s) only'),
    /** The name of the environment variable holding the HMAC secret: never the secret itself in mappings/. */
    secretEnv: z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'an environment variable name such as WEBHOOK_SECRET_PEER_PLATFORM'),
  })
  .strict();

/** mappings/webhooks.json: source.system → where to push status changes of its records' Tasks. */
export const webhooksSchema = z
  .object({
    $comment: z.string().optional(),
    sources: z.record(z.string().min(1), webhook),
  })
  .strict();

export type EscalationConfig = z.infer<typeof escalationSchema>;
export type WebhooksConfig = z.infer<typeof webhooksSchema>;
