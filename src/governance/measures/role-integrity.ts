import { localReference } from '../../fhir/references.js';
import type { Case, TaskFacts } from '../facts.js';
import { recordIdOf } from '../facts.js';
import type { MeasureInput } from '../digest.js';
import { inPeriod } from '../period.js';
import { cohortGroup, strataValues, type MeasureResult } from '../result.js';
import { clinicalTaskCodes, trackingTaskCodes } from '../../contract/vocabulary.js';

/**
 * Task codes a peer role must never own (spec §5, §6 role integrity): the clinical ones, and tracking a
 * clinical appointment, which is the appointment clinician's (a peer owning it holds the clinician's part).
 */
export const roleIntegrityTaskCodes: readonly string[] = [...clinicalTaskCodes, ...trackingTaskCodes];

/** Gates that fail when a record has no usable escalation route (spec §3.5). */
export const escalationRouteGates = [
  'ee-escalation-route',
  'ct-escalation-route',
  'cr-escalation-route',
  'sd-escalation-instructions',
  'rm-escalation-route',
] as const;

/**
 * A peer role (spec §3.5): a PractitionerRole with one of the site's peer-role codes, or — for a Task the
 * adapter wrote, whose requester is the record's peer specialist — that same peer specialist.
 */
function ownedByPeer(t: TaskFacts, input: MeasureInput): boolean {
  const owner = t.owner;
  if (!owner) return false;
  if (t.case.identifier && owner.reference && owner.reference === localReference(t.task.requester?.reference)) return true;
  const role = owner.containedRole ?? (owner.reference ? input.facts.owners.get(owner.reference) : undefined);
  const peerCodes = input.facts.site.peerRoleCodes;
  return (
    role?.resourceType === 'PractitionerRole' &&
    (role.code ?? []).some((cc) => cc.coding?.some((c) => peerCodes.some((p) => p.system === c.system && p.code === c.code)))
  );
}

/** One record, however many resources point at it. */
function distinctRecords<T extends { case: Case }>(items: T[]): T[] {
  const seen = new Map<string, T>();
  for (const i of items) {
    const key = recordIdOf(i.case) ?? i.case.reference;
    if (!seen.has(key)) seen.set(key, i);
  }
  return [...seen.values()];
}

/**
 * Clinical and tracking Tasks owned by a peer role (target 0); records blocked in the period, by gate
 * (peer-not-clinician and peer-not-clinical-owner among them); records without an escalation route.
 */
export function roleIntegrity(input: MeasureInput): MeasureResult {
  const { facts, period } = input;
  const clinical = facts.tasks.filter(
    (t) => t.code !== undefined && roleIntegrityTaskCodes.includes(t.code) && inPeriod(t.authored, period),
  );
  const peerOwned = clinical.filter((t) => ownedByPeer(t, input));
  const blockedEvents = facts.blocked.filter((b) => inPeriod(b.recorded, period));
  // A record blocked twice (resent, or by other gates) is one blocked record, counted under each of its gates.
  const byRecord = new Map<string, { case: Case; gates: Set<string> }>();
  for (const b of blockedEvents) {
    const key = recordIdOf(b.case) ?? b.case.reference;
    const entry = byRecord.get(key) ?? { case: b.case, gates: new Set<string>() };
    b.gates.forEach((g) => entry.gates.add(g));
    byRecord.set(key, entry);
  }
  const blocked = [...byRecord.values()].map((b) => ({ case: b.case, gates: [...b.gates] }));
  const plans = [...facts.earlyEngagement, ...facts.crisis, ...facts.stepDown, ...facts.concern].filter((p) =>
    inPeriod(p.recorded, period),
  );
  const withoutRoute = distinctRecords([
    ...blocked.filter((b) => b.gates.some((g) => (escalationRouteGates as readonly string[]).includes(g))),
    ...plans.filter((p) => !p.hasEscalationRoute),
  ]);
  return {
    id: 'role-integrity',
    groups: [
      cohortGroup('clinical-tasks-owned-by-peer-role', peerOwned),
      cohortGroup('blocked-records', blocked, [
        {
          code: 'gate',
          values: strataValues(
            [],
            blocked.flatMap((b) => b.gates),
          ),
          of: (b) => b.gates,
        },
      ]),
      cohortGroup('records-without-escalation-route', withoutRoute),
    ],
    evidence: blockedEvents.map((b) => b.case),
  };
}
