import type { Bundle, PractitionerRole, Reference, Task } from '@medplum/fhirtypes';
import type { FhirClient } from '../fhir/client.js';
import { evaluateGates } from '../gates/evaluate.js';
import { loadProfiles, type Profile } from '../gates/load-profiles.js';
import type { FollowUpRules } from './escalation.js';

let profiles: ReadonlyMap<string, Profile> | undefined;

/** The project's compiled profiles (read once): the escalation's Task passes the same gates as every Task. */
function taskProfiles(): ReadonlyMap<string, Profile> {
  profiles ??= loadProfiles();
  return profiles;
}

/**
 * The peer roles among the references an escalation could be owned by (spec §3.5): the peer who raised
 * the first Task (its requester), and any PractitionerRole carrying one of the site's peer-role codes.
 */
async function peerRolesAmong(fhir: FhirClient, first: Task, candidates: Reference[], rules: FollowUpRules): Promise<string[]> {
  const peers = new Set<string>(first.requester?.reference ? [first.requester.reference] : []);
  const roles = candidates.map((c) => c.reference).filter((r): r is string => !!r?.startsWith('PractitionerRole/'));
  if (roles.length) {
    const answer = await fhir.search('PractitionerRole', { _id: roles.map((r) => r.slice('PractitionerRole/'.length)).join(','), _count: String(roles.length) });
    for (const e of answer.entry ?? []) {
      const role = e.resource as PractitionerRole | undefined;
      const peer = role?.code?.some((c) => c.coding?.some((cd) => rules.site.peerRoleCodes.some((p) => p.system === cd.system && p.code === cd.code)));
      if (role?.id && peer) peers.add(`PractitionerRole/${role.id}`);
    }
  }
  return [...peers];
}

/** The failed gates of a Task the adapter is about to write, with the given peer roles. */
function failedGates(task: Task, peerRoles: string[]): string[] {
  const bundle: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: task, request: { method: 'POST', url: 'Task' } }] };
  return evaluateGates(bundle, taskProfiles(), { peerRoles }).filter((g) => !g.passed).map((g) => g.key);
}

/**
 * The escalation Task as it may be written: it passes the Task gates (peer-not-clinical-owner included)
 * with its configured owner, or else with the site's default clinical route; undefined when neither
 * passes (the caller logs it: a misconfigured route, which start-up readiness also reports).
 */
export async function gatedEscalation(fhir: FhirClient, first: Task, task: Task, rules: FollowUpRules): Promise<Task | undefined> {
  const fallback: NonNullable<Task['owner']> = { ...rules.site.defaultClinicalRoute };
  const peerRoles = await peerRolesAmong(fhir, first, [task.owner ?? {}, fallback], rules);
  if (!failedGates(task, peerRoles).length) return task;
  const rerouted: Task = { ...task, owner: fallback };
  return failedGates(rerouted, peerRoles).length ? undefined : rerouted;
}
