import type { ConceptMap } from '@medplum/fhirtypes';
import { z } from 'zod';
import type { SourceMapping } from './source-schema.js';

/** The contract's consent categories (spec §2). */
export const consentCategories = [
  'appointment-status',
  'engagement-barriers',
  'recovery-goals',
  'warning-signs',
  'clinical-concerns',
  'safety-concerns',
  'practical-needs',
  'housing',
  'substance-use',
  'peer-contact-summary',
] as const;
/** The contract's consent recipients (spec §2). */
export const recipientKinds = ['care-team', 'receiving-clinician', 'case-manager', 'psychiatric-provider'] as const;
/** Concern categories (spec §3.4). */
export const concernCategories = ['clinical-deterioration', 'safety', 'housing', 'practical-needs', 'substance-use'] as const;
/** Task priorities (FHIR request-priority). */
export const priorities = ['routine', 'urgent', 'asap', 'stat'] as const;

const reference = z.object({ reference: z.string().regex(/^[A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/), display: z.string().optional() }).strict();
const coding = z.object({ system: z.string().min(1), code: z.string().min(1), display: z.string().optional() }).strict();
const taskRule = z.object({ priority: z.enum(priorities), dueHours: z.number().positive().optional() }).strict();

export const siteSchema = z
  .object({
    $comment: z.string().optional(),
    organization: reference,
    defaultClinicalRoute: reference,
    recipients: z
      .object({
        'care-team': reference,
        'case-manager': reference,
        'psychiatric-provider': reference,
      })
      .strict(),
    peerRoleCodes: z.array(coding.omit({ display: true })).min(1),
    /** IANA zone of the site: date-only record values are days in this zone (spec §8). */
    timeZone: z
      .string()
      .min(1)
      .refine(
        (tz) => {
          try {
            new Intl.DateTimeFormat('en-US', { timeZone: tz });
            return true;
          } catch {
            return false;
          }
        },
        { error: 'expected an IANA time zone such as Europe/London or America/Los_Angeles' },
      ),
  })
  .strict();

const concernRule = z
  .object({
    consentCategory: z.enum(consentCategories),
    channel: z.enum(['clinical-review', 'care-coordination-review']),
    recipientKind: z.enum(recipientKinds),
    priority: z.enum(priorities),
    dueHours: z.number().positive(),
  })
  .strict();

export const routingSchema = z
  .object({
    $comment: z.string().optional(),
    concerns: z
      .object({
        'clinical-deterioration': concernRule,
        safety: concernRule,
        housing: concernRule,
        'practical-needs': concernRule,
        'substance-use': concernRule,
      })
      .strict(),
    safetyDisclosure: taskRule.required({ dueHours: true }),
    triggeredClinicalReview: taskRule.required({ dueHours: true }),
    firstAppointmentTracking: taskRule,
    followUpAction: taskRule,
    scheduledClinicalReview: taskRule,
    outcomeReview: taskRule,
    /** Recovery maintenance's re-entry review (spec §3.6): default urgent, due 72 hours after recordedAt. */
    reEntryReview: taskRule.required({ dueHours: true }).default({ priority: 'urgent', dueHours: 72 }),
    /**
     * The clinical review of a failed crisis bridge (spec §3.3), due hours after recordedAt: `urgent` by
     * default, and `withCrisisRisk` (default `stat`, 1 hour) when recentCrisisRiskActive.
     */
    crisisBridgeFailure: z
      .object({
        priority: z.enum(priorities),
        dueHours: z.number().positive(),
        withCrisisRisk: z.object({ priority: z.enum(priorities), dueHours: z.number().positive() }).strict(),
      })
      .strict()
      .default({ priority: 'urgent', dueHours: 24, withCrisisRisk: { priority: 'stat', dueHours: 1 } }),
  })
  .strict();

export const thresholdsSchema = z
  .object({
    $comment: z.string().optional(),
    missedTherapySessions: z.number().int().min(1),
    /** Recovery maintenance (spec §3.6): this many missed check-ins raise a re-entry review. */
    missedCheckIns: z.number().int().min(1).default(2),
  })
  .strict();

export const codesSchema = z
  .object({
    $comment: z.string().optional(),
    carePlanCategory: coding,
    peerContactType: z.array(coding).min(1),
    encounterClassByMode: z.object({ 'in-person': coding, phone: coding, video: coding, text: coding }).strict(),
    peerRoleCoding: coding,
    consentScope: coding,
    consentCategory: coding,
    consentPurpose: coding,
    communicationCategory: coding,
  })
  .strict();

export type SiteConfig = z.infer<typeof siteSchema>;
export type RoutingConfig = z.infer<typeof routingSchema>;
export type ThresholdsConfig = z.infer<typeof thresholdsSchema>;
export type CodesConfig = z.infer<typeof codesSchema>;
export type ConcernCategory = (typeof concernCategories)[number];
export type ConsentCategory = (typeof consentCategories)[number];
export type RecipientKind = (typeof recipientKinds)[number];

/** Everything read from `mappings/`, checked. */
export interface Mappings {
  site: SiteConfig;
  routing: RoutingConfig;
  thresholds: ThresholdsConfig;
  codes: CodesConfig;
  /** mappings/sources/*.json: field aliases, value maps and code translations per sending system. */
  sources: SourceMapping[];
  /** mappings/conceptmaps/*.json: FHIR ConceptMaps, local codes → contract or standard codes. */
  conceptMaps: ConceptMap[];
}
