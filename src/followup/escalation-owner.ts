import type { Communication, OperationOutcomeIssue, Task } from '@medplum/fhirtypes';
import type { FhirClient } from '../fhir/client.js';
import { resolveReferences } from '../fhir/lookup/resolve.js';
import { loadProfiles, type Profile } from '../gates/load-profiles.js';
import { assessFollowUp, evaluationIssues } from '../pipeline/process-record.js';
import type { FollowUpRules } from './escalation.js';

let loaded: ReadonlyMap<string, Profile> | undefined;

/** The profiles the follow-up writes are checked against: the adapter's own (rules.profiles), else compiled once here. */
function profilesOf(rules: FollowUpRules): ReadonlyMap<string, Profile> {
  if (rules.profiles) return rules.profiles;
  loaded ??= loadProfiles();
  return loaded;
}

/**
 * The candidate owners of an escalation as reference fields of the contract (records/references.ts): both
 * are clinical routes, so each must resolve to a PractitionerRole, Practitioner, CareTeam or Organization.
 */
const configuredOwner = 'escalationRoute.clinicalOwner';
const fallbackOwner = 'escalationRoute.urgentContact';

/** What the follow-up job may write, or why not: the pure core's issues (evaluationIssues), for the log. */
export interface CheckedFollowUp<T> {
  resource?: T;
  issues: OperationOutcomeIssue[];
}

/**
 * The escalation Task as it may be written, judged by the pure core (pipeline assessFollowUp: base R4, the
 * Task profile, its gates — peer-not-clinical-owner included) with its configured owner, or else with the
 * site's default clinical route. The lookups are one batch (fhir/lookup/resolve.ts): both owners resolved
 * and type-checked as clinical routes, and which references are peer roles — a PractitionerRole with a
 * site peer-role code, and the peer who raised the first Task (its requester). No resource when neither
 * passes: the caller logs the issues (a misconfigured route, which start-up readiness also reports).
 */
export async function gatedEscalation(fhir: FhirClient, first: Task, task: Task, rules: FollowUpRules): Promise<CheckedFollowUp<Task>> {
  const fallback: NonNullable<Task['owner']> = { ...rules.site.defaultClinicalRoute };
  const resolution = await resolveReferences(
    fhir,
    { escalationRoute: { clinicalOwner: task.owner ?? {}, urgentContact: fallback } },
    rules.site,
  );
  const peerRoles = [...new Set([...(first.requester?.reference ? [first.requester.reference] : []), ...resolution.peerRoles])];
  const judged = (candidate: Task, path: string) =>
    assessFollowUp(
      [candidate],
      {
        resolution: { problems: resolution.problems.filter((p) => p.expression?.includes(path)), peerRoles },
      },
      profilesOf(rules),
    );
  const configured = judged(task, configuredOwner);
  if (!configured.blockers.length) return { resource: task, issues: evaluationIssues(configured) };
  const rerouted: Task = { ...task, owner: fallback };
  const second = judged(rerouted, fallbackOwner);
  return second.blockers.length ? { issues: evaluationIssues(second) } : { resource: rerouted, issues: evaluationIssues(second) };
}

/** The reminder as it may be written: the same pure core (base R4 and any profile it claims); it references nothing new. */
export function checkedReminder(reminder: Communication, first: Task, rules: FollowUpRules): CheckedFollowUp<Communication> {
  const peerRoles = first.requester?.reference ? [first.requester.reference] : [];
  const verdict = assessFollowUp([reminder], { resolution: { problems: [], peerRoles } }, profilesOf(rules));
  return verdict.blockers.length ? { issues: evaluationIssues(verdict) } : { resource: reminder, issues: evaluationIssues(verdict) };
}
