import type { CodesConfig, SiteConfig } from '../config/mappings-schema.js';
import type { GovernanceSources } from './fetch.js';
import {
  blockedFacts, concernFacts, crisisFacts, earlyEngagementFacts, encounterEvent, recoveryMaintenanceFacts, stepDownFacts, taskFacts,
  type BlockedFacts, type ConcernFacts, type CrisisFacts, type EarlyEngagementFacts, type PersonEvent, type RecoveryMaintenanceFacts,
  type StepDownFacts, type TaskFacts,
} from './facts.js';
import type { Period } from './period.js';

/** Everything read from the FHIR server, turned into facts once for all measures. */
export interface Facts {
  earlyEngagement: EarlyEngagementFacts[];
  crisis: CrisisFacts[];
  stepDown: StepDownFacts[];
  concern: ConcernFacts[];
  recoveryMaintenance: RecoveryMaintenanceFacts[];
  tasks: TaskFacts[];
  /** Owners of Tasks, included with them. */
  owners: GovernanceSources['owners'];
  goals: GovernanceSources['goals'];
  /** Crisis re-contacts by patient: crisis-transition records and crisis-contact Encounters. */
  crisisEvents: Map<string, PersonEvent[]>;
  /** Completed peer contacts by patient. */
  peerContacts: Map<string, PersonEvent[]>;
  blocked: BlockedFacts[];
  site: SiteConfig;
  codes: CodesConfig;
}

/** What each measure is computed from: the facts, the reporting period and today's local date. */
export interface MeasureInput {
  facts: Facts;
  period: Period;
  today: string;
}

function byPatient(events: PersonEvent[]): Map<string, PersonEvent[]> {
  const map = new Map<string, PersonEvent[]>();
  for (const e of events) {
    if (!e.patient || !e.date) continue;
    map.set(e.patient, [...(map.get(e.patient) ?? []), e]);
  }
  return map;
}

/** Reads every source resource once, in the site's time zone. */
export function digest(sources: GovernanceSources, site: SiteConfig, codes: CodesConfig): Facts {
  const tz = site.timeZone;
  const crisis = sources.carePlans['crisis-transition'].map((p) => crisisFacts(p, tz));
  return {
    earlyEngagement: sources.carePlans['early-engagement'].map((p) => earlyEngagementFacts(p, tz)),
    crisis,
    stepDown: sources.carePlans['step-down'].map((p) => stepDownFacts(p, tz)),
    concern: sources.carePlans['concern-routing'].map((p) => concernFacts(p, tz)),
    recoveryMaintenance: sources.carePlans['recovery-maintenance'].map((p) => recoveryMaintenanceFacts(p, tz)),
    tasks: sources.tasks.map((t) => taskFacts(t, tz)),
    owners: sources.owners,
    goals: sources.goals,
    crisisEvents: byPatient([
      ...crisis.map((c) => ({ patient: c.patient, date: c.dischargeDate, case: c.case })),
      ...sources.crisisEncounters.map((e) => encounterEvent(e, tz)),
    ]),
    peerContacts: byPatient(sources.peerContacts.map((e) => encounterEvent(e, tz))),
    blocked: sources.blocked.map((e) => blockedFacts(e, tz)),
    site,
    codes,
  };
}
