import type { CodesConfig, RoutingConfig, SiteConfig } from '../config/mappings-schema.js';
import type { GovernanceSources } from './fetch.js';
import {
  encounterHappened,
  crisisEpisodes,
  encounterEvent,
  type BlockedFacts,
  type ConcernFacts,
  type CrisisEpisode,
  type CrisisFacts,
  type EarlyEngagementFacts,
  type PeerContact,
  type PersonEvent,
  type PlanFacts,
  type RecoveryMaintenanceFacts,
  type RefusedFacts,
  type RoutedConcernFacts,
  type StepDownFacts,
  type TaskFacts,
} from './facts.js';
import type { Period } from './period.js';

/** Everything read from the FHIR server, turned into facts once for all measures. */
export interface Facts {
  earlyEngagement: EarlyEngagementFacts[];
  crisis: CrisisFacts[];
  /** Crisis episodes (spec §6): person + discharge date, of crisis-transition records and of the EHR's crisis discharges. */
  episodes: CrisisEpisode[];
  stepDown: StepDownFacts[];
  concern: ConcernFacts[];
  recoveryMaintenance: RecoveryMaintenanceFacts[];
  tasks: TaskFacts[];
  /** Owners of Tasks, included with them. */
  owners: GovernanceSources['owners'];
  goals: GovernanceSources['goals'];
  /** Crisis events by patient: each crisis episode (by discharge date) and each crisis-contact Encounter (by its start). */
  crisisEvents: Map<string, PersonEvent[]>;
  /** Peer-contact Encounters by patient (finished or not: contactsAfter decides). */
  peerContacts: Map<string, PeerContact[]>;
  routedConcerns: RoutedConcernFacts[];
  blocked: BlockedFacts[];
  refused: RefusedFacts[];
  site: SiteConfig;
  codes: CodesConfig;
  routing: RoutingConfig;
}

/** What each measure is computed from: the facts, the reporting period and today's local date. */
export interface MeasureInput {
  facts: Facts;
  period: Period;
  today: string;
}

function byPatient<T extends PersonEvent>(events: T[]): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const e of events) {
    if (!e.patient || !e.date) continue;
    const list = map.get(e.patient);
    if (list) list.push(e);
    else map.set(e.patient, [e]);
  }
  return map;
}

/**
 * The date a record counts under in its pathway (spec §6): the intake (early engagement), the start of peer
 * support (step-down), the discharge (crisis transition), the first send (concern routing), the start of
 * check-ins (recovery maintenance). Person feedback is reported per pathway by it.
 */
export function indexDate(plan: PlanFacts & { intakeDate?: string; startDate?: string; dischargeDate?: string }): string | undefined {
  switch (plan.pathway) {
    case 'early-engagement':
      return plan.intakeDate;
    case 'crisis-transition':
      return plan.dischargeDate;
    case 'concern-routing':
      return plan.recorded;
    default:
      return plan.startDate;
  }
}

/** The facts of what was read (fetch.ts readSources), joined for the measures: crisis episodes, each person's events. */
export function digest(sources: GovernanceSources, site: SiteConfig, codes: CodesConfig, routing: RoutingConfig): Facts {
  const tz = site.timeZone;
  const crisis = sources.carePlans['crisis-transition'];
  // Only a crisis Encounter that happened is a discharge or a re-contact (spec §6; facts.ts encounterHappened).
  const crisisEncounters = sources.crisisEncounters.filter(encounterHappened);
  const episodes = crisisEpisodes(crisis, crisisEncounters, tz);
  return {
    earlyEngagement: sources.carePlans['early-engagement'],
    crisis,
    episodes,
    stepDown: sources.carePlans['step-down'],
    concern: sources.carePlans['concern-routing'],
    recoveryMaintenance: sources.carePlans['recovery-maintenance'],
    tasks: sources.tasks,
    owners: sources.owners,
    goals: sources.goals,
    crisisEvents: byPatient<PersonEvent>([
      ...episodes.filter((e) => e.source === 'crisis-transition').map((e) => ({ patient: e.patient, date: e.dischargeDate, case: e.case })),
      ...crisisEncounters.map((e) => encounterEvent(e, tz)),
    ]),
    peerContacts: byPatient(sources.peerContacts),
    routedConcerns: sources.routedConcerns,
    blocked: sources.blocked,
    refused: sources.refused,
    site,
    codes,
    routing,
  };
}
