import { concernRoutingSchema, type ConcernRoutingRecord } from './concern-routing.js';
import { crisisTransitionSchema, type CrisisTransitionRecord } from './crisis-transition.js';
import { earlyEngagementSchema, type EarlyEngagementRecord } from './early-engagement.js';
import { recoveryMaintenanceSchema, type RecoveryMaintenanceRecord } from './recovery-maintenance.js';
import { stepDownSchema, type StepDownRecord } from './step-down.js';

/** One zod schema per pathway, keyed by the `pathway` discriminator. */
export const pathwaySchemas = {
  'early-engagement': earlyEngagementSchema,
  'step-down': stepDownSchema,
  'crisis-transition': crisisTransitionSchema,
  'concern-routing': concernRoutingSchema,
  'recovery-maintenance': recoveryMaintenanceSchema,
} as const;

/** A concern a record routes (spec §3.4 categories): what safety first and escalation use read. */
export interface RoutedConcern {
  category: string;
  summary?: string;
}

/**
 * The concerns each pathway routes, declared once per pathway: safety first reads every routed concern of
 * category `safety` from here (one event, one Task), so a new pathway that routes concerns cannot be
 * forgotten by it. Read defensively: a refused record's envelope reaches here without its other fields.
 */
export const routedConcerns: Record<PathwayCode, (record: Partial<Record<string, unknown>>) => RoutedConcern[]> = {
  'early-engagement': () => [],
  'step-down': () => [],
  'crisis-transition': (r) => (r.concernsRouted as RoutedConcern[] | undefined) ?? [],
  'concern-routing': (r) => (r.concerns as RoutedConcern[] | undefined) ?? [],
  'recovery-maintenance': () => [],
};

export type PathwayRecord =
  EarlyEngagementRecord | StepDownRecord | CrisisTransitionRecord | ConcernRoutingRecord | RecoveryMaintenanceRecord;
export type { EarlyEngagementRecord, StepDownRecord, CrisisTransitionRecord, ConcernRoutingRecord, RecoveryMaintenanceRecord };
export { pathwayCodes, type PathwayCode } from './envelope.js';
import type { PathwayCode } from './envelope.js';
export { parseRecord } from './parse.js';
