import type { Bundle, MeasureReport } from '@medplum/fhirtypes';
import type { GovernanceConfig } from '../config/governance-schema.js';
import type { Mappings } from '../config/mappings-schema.js';
import type { FhirClient } from '../fhir/client.js';
import { digest, type MeasureInput } from './digest.js';
import { readSources } from './fetch.js';
import { engagementAfterIntake, firstAppointmentAttendance, offeredByCriteria } from './measures/engagement.js';
import { escalationUse } from './measures/escalation.js';
import { crisisRecontact, missedContactReconnection, stepDownStability } from './measures/follow-up-windows.js';
import { personFeedback, recoveryGoalProgress } from './measures/recovery.js';
import { recoveryMaintenance } from './measures/recovery-maintenance.js';
import { roleIntegrity } from './measures/role-integrity.js';
import { documentationBurden } from './measures/documentation-burden.js';
import { today, type Period } from './period.js';
import { reportBundle, toMeasureReport } from './report.js';
import type { MeasureResult } from './result.js';

/** The measures of spec §6, in its order. */
const measures: ((input: MeasureInput, now: Date) => MeasureResult)[] = [
  engagementAfterIntake,
  offeredByCriteria,
  firstAppointmentAttendance,
  stepDownStability,
  crisisRecontact,
  escalationUse,
  missedContactReconnection,
  recoveryGoalProgress,
  personFeedback,
  recoveryMaintenance,
  roleIntegrity,
  documentationBurden,
];

/** What computing the measures needs: the FHIR server and the site's configuration. */
export interface GovernanceDeps {
  fhir: FhirClient;
  mappings: Pick<Mappings, 'site' | 'codes' | 'routing'>;
  governance: GovernanceConfig;
}

/** The ids of the measures, in report order. */
export const measureIds = [
  'engagement-after-intake',
  'offered-by-criteria',
  'first-appointment-attendance',
  'step-down-stability',
  'crisis-recontact',
  'escalation-use',
  'missed-contact-reconnection',
  'recovery-goal-progress',
  'person-feedback',
  'recovery-maintenance',
  'role-integrity',
  'documentation-burden',
] as const;

/** Reads the FHIR server for a period (fetch.ts) and computes every measure: one summary MeasureReport each. */
export async function computeMeasureReports(deps: GovernanceDeps, period: Period, now: Date = new Date()): Promise<Bundle<MeasureReport>> {
  const sources = await readSources(deps.fhir, deps.mappings.codes, deps.governance, period, deps.mappings.site.timeZone);
  const input: MeasureInput = {
    facts: digest(sources, deps.mappings.site, deps.mappings.codes, deps.mappings.routing),
    period,
    today: today(period.timeZone, now),
  };
  const reporter = { ...deps.mappings.site.organization };
  return reportBundle(
    measures.map((m) => toMeasureReport(m(input, now), period, now, reporter)),
    now,
  );
}
