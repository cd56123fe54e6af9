import type { Task } from '@medplum/fhirtypes';
import type { TaskFacts } from '../facts.js';
import type { MeasureInput } from '../digest.js';
import { inPeriod, localDate } from '../period.js';
import { cohortGroup, proportionGroup, strataValues, type MeasureResult, type Outcome } from '../result.js';
import { followUpMarks, systems } from '../../contract/vocabulary.js';

/** Task codes of the two routing channels (mappings/routing.json). */
export const routingTaskCodes = ['clinical-review', 'care-coordination-review'] as const;
/** Why a routing Task was raised, as the mappers set its businessStatus. */
const reasons = ['concern-routed', 'safety-concern-disclosed', 'step-down-monitoring-trigger'] as const;
/** What the follow-up scheduler did to a routing Task nobody accepted in time (src/followup). */
const followUps = ['escalated', 'reminder-sent', 'none'] as const;
const statuses = ['requested', 'accepted', 'in-progress', 'on-hold', 'completed', 'cancelled'] as const;

function businessStatus(t: TaskFacts): string | undefined {
  return t.task.businessStatus?.coding?.find((c) => c.system === systems.pathway)?.code;
}

/**
 * The reason a routing Task was raised. The follow-up scheduler overwrites businessStatus with its mark,
 * so the reason is then read from what stays: the safety slot, or the step-down trigger's reason codes.
 */
function reasonOf(t: TaskFacts): string {
  if (t.case.identifier?.value?.endsWith('/task/safety-review')) return 'safety-concern-disclosed';
  const status = businessStatus(t);
  if (status && !(followUpMarks as readonly string[]).includes(status)) return status;
  return t.task.reasonCode?.coding?.some((c) => c.system === systems.pathway) ? 'step-down-monitoring-trigger' : 'concern-routed';
}

function followUpOf(t: TaskFacts): string {
  const status = businessStatus(t);
  return status && (followUpMarks as readonly string[]).includes(status) ? status : 'none';
}

/**
 * Acted on by its due time: work began (executionPeriod.start, or lastModified once it moved on) at or
 * before restriction.period.end. A date-only due time means by the end of that local day.
 */
function actedInTime(t: TaskFacts, now: Date, timeZone: string): Outcome {
  const due = t.task.restriction?.period?.end;
  if (!due) return 'excluded';
  const dueDateOnly = due.length === 10;
  const before = (at: string) => (dueDateOnly ? (localDate(at, timeZone) as string) <= due : Date.parse(at) <= Date.parse(due));
  if (t.actedAt) return before(t.actedAt) ? 'numerator' : 'not-met';
  // Not acted on yet: a failure once the due time has passed, not yet judged before.
  return before(now.toISOString()) ? 'excluded' : 'not-met';
}

/** Concerns and safety disclosures routed (Tasks raised in the period); share acted on within due time; clinical reviews by status. */
export function escalationUse(input: MeasureInput, now: Date): MeasureResult {
  const { facts, period } = input;
  // An escalation the scheduler raised is part of the routed Task (partOf): it is counted there, as escalated.
  const routed = facts.tasks.filter((t) => (routingTaskCodes as readonly (string | undefined)[]).includes(t.code) && !t.task.partOf?.length && inPeriod(t.authored, period));
  const clinical = routed.filter((t) => t.code === 'clinical-review');
  const statusOf = (t: TaskFacts): Task['status'] => t.task.status;
  return {
    id: 'escalation-use',
    groups: [
      cohortGroup('routed', routed, [
        { code: 'reason', values: strataValues(reasons, routed.map(reasonOf)), of: (t) => [reasonOf(t)] },
        { code: 'channel', values: [...routingTaskCodes], of: (t) => [t.code as string] },
        { code: 'follow-up', values: [...followUps], of: (t) => [followUpOf(t)] },
      ]),
      proportionGroup('routed-acted-on-within-due-time', routed, (t) => actedInTime(t, now, facts.site.timeZone)),
      cohortGroup('clinical-review-by-status', clinical, [
        { code: 'status', values: strataValues(statuses, clinical.map(statusOf)), of: (t) => [statusOf(t)] },
      ]),
    ],
    evidence: [],
  };
}
