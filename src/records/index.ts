import { concernRoutingSchema, type ConcernRoutingRecord } from './concern-routing.js';
import { crisisTransitionSchema, type CrisisTransitionRecord } from './crisis-transition.js';
import { earlyEngagementSchema, type EarlyEngagementRecord } from './early-engagement.js';
import { stepDownSchema, type StepDownRecord } from './step-down.js';

/** One zod schema per pathway, keyed by the `pathway` discriminator. */
export const pathwaySchemas = {
  'early-engagement': earlyEngagementSchema,
  'step-down': stepDownSchema,
  'crisis-transition': crisisTransitionSchema,
  'concern-routing': concernRoutingSchema,
} as const;

export type PathwayRecord = EarlyEngagementRecord | StepDownRecord | CrisisTransitionRecord | ConcernRoutingRecord;
export type { EarlyEngagementRecord, StepDownRecord, CrisisTransitionRecord, ConcernRoutingRecord };
export { pathwayCodes, type PathwayCode } from './envelope.js';
export { parseRecord } from './parse.js';
