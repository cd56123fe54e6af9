import type { Task } from '@medplum/fhirtypes';
import { recordKeyOf, type Case, type TaskFacts } from '../facts.js';
import type { MeasureInput } from '../digest.js';
import { inPeriod, localDate } from '../period.js';
import { cohortGroup, proportionGroup, strataValues, type MeasureResult, type Outcome } from '../result.js';
import { followUpMarks, systems } from '../../contract/vocabulary.js';

/** Task codes of the two routing channels (mappings/routing.json). */
export const routingTaskCodes = ['clinical-review', 'care-coordination-review'] as const;
/** Why an escalation was raised; `unspecified` when its Task says nothing of why (an EHR's own Task, say). */
const reasons = ['concern-routed', 'safety-concern-disclosed', 'step-down-monitoring-trigger', 'unspecified'] as const;
/** What the follow-up scheduler did to a routing Task nobody accepted in time (src/followup). */
const followUps = ['escalated', 'reminder-sent', 'none'] as const;
const statuses = ['requested', 'accepted', 'in-progress', 'on-hold', 'completed', 'cancelled'] as const;

function businessStatus(t: TaskFacts): string | undefined {
  return t.task.businessStatus?.coding?.find((c) => c.system === systems.pathway)?.code;
}

/**
 * The reason a routing Task was raised. The follow-up scheduler overwrites businessStatus with its mark,
 * so the reason is then read from what stays: the safety slot, the step-down trigger's reason codes, the
 * routed concern categories. A Task that says none of these is `unspecified`, never guessed.
 */
export function reasonOf(t: TaskFacts): string {
  if (t.case.identifier?.value?.endsWith('/task/safety-review')) return 'safety-concern-disclosed';
  const status = businessStatus(t);
  if (status && !(followUpMarks as readonly string[]).includes(status)) return status;
  const coded = t.task.reasonCode?.coding ?? [];
  if (coded.some((c) => c.system === systems.pathway)) return 'step-down-monitoring-trigger';
  if (coded.some((c) => c.system === systems.concernCategory)) return 'concern-routed';
  return 'unspecified';
}

function followUpOf(t: TaskFacts | undefined): string {
  const status = t && businessStatus(t);
  return status && (followUpMarks as readonly string[]).includes(status) ? status : 'none';
}

/**
 * Acted on by its due time: work began (executionPeriod.start, or lastModified once it moved on) at or
 * before restriction.period.end. A date-only due time means by the end of that local day.
 */
function actedInTime(t: TaskFacts | undefined, now: Date, timeZone: string): Outcome {
  const due = t?.task.restriction?.period?.end;
  if (!t || !due) return 'excluded';
  const dueDateOnly = due.length === 10;
  const before = (at: string) => (dueDateOnly ? (localDate(at, timeZone) as string) <= due : Date.parse(at) <= Date.parse(due));
  if (t.actedAt) return before(t.actedAt) ? 'numerator' : 'not-met';
  // Not acted on yet: a failure once the due time has passed, not yet judged before.
  return before(now.toISOString()) ? 'excluded' : 'not-met';
}

/**
 * An escalation carried by several Tasks (a concern category routed to two owners: a Task each) is acted
 * on in time when every one of them was: one too late fails it; one not yet due leaves it undecided.
 */
function allActedInTime(tasks: TaskFacts[], now: Date, timeZone: string): Outcome {
  const outcomes = tasks.map((t) => actedInTime(t, now, timeZone));
  if (!outcomes.length) return 'excluded';
  if (outcomes.includes('not-met')) return 'not-met';
  return outcomes.includes('excluded') ? 'excluded' : 'numerator';
}

/** The follow-up scheduler's strongest mark on any of the Tasks: escalated, else reminder sent, else none. */
function followUpOfAll(tasks: TaskFacts[]): string {
  const marks = tasks.map(followUpOf);
  return followUps.find((f) => marks.includes(f)) ?? 'none';
}

/** One escalation: a routed concern, a safety disclosure, or another routing Task. */
interface Escalation {
  case: Case;
  reason: string;
  channel: string;
  /** The Tasks that carry it: a concern's, its record's Tasks of its channel that name its category; else the Task itself. */
  tasks: TaskFacts[];
}

/**
 * A record's Tasks of one channel, found by code and record (the slot `task/<channel>`, or
 * `task/<channel>/<owner>` where the pathway names who a concern was routed to: one Task per owner).
 */
function channelTasksOf(routingTasks: TaskFacts[]): Map<string, TaskFacts[]> {
  const byRecordAndChannel = new Map<string, TaskFacts[]>();
  for (const t of routingTasks) {
    const key = recordKeyOf(t.case);
    const value = t.case.identifier?.value ?? '';
    const slot = value.slice(value.indexOf('/') + 1);
    if (!key || !(slot === `task/${t.code}` || slot.startsWith(`task/${t.code}/`))) continue;
    const k = JSON.stringify([key, t.code]);
    byRecordAndChannel.set(k, [...(byRecordAndChannel.get(k) ?? []), t]);
  }
  return byRecordAndChannel;
}

/** The Tasks of a concern: those of its record and channel that name its category (reasonCode), else all of them. */
function concernTasks(tasks: TaskFacts[], category: string): TaskFacts[] {
  const naming = tasks.filter((t) => t.task.reasonCode?.coding?.some((c) => c.system === systems.concernCategory && c.code === category));
  return naming.length ? naming : tasks;
}

/**
 * Escalation use (spec §6): each routed concern (a notification's payload item labelled with a concern
 * category, in every pathway, dated by when it was routed) and each safety disclosure (the record's one
 * stat safety review: a routed `safety` concern is that same event) — plus any other routing Task raised
 * in the period (a step-down monitoring trigger; a Task without a reason, as `unspecified`). The share
 * whose Task was acted on within its due time (a concern routed without a Task of its own has no due time:
 * excluded); clinical-review Tasks raised in the period by status.
 */
export function escalationUse(input: MeasureInput, now: Date): MeasureResult {
  const { facts, period } = input;
  const tz = facts.site.timeZone;
  // An escalation the scheduler raised is part of the routed Task (partOf): it is counted there, as escalated.
  const routingTasks = facts.tasks.filter(
    (t) => (routingTaskCodes as readonly (string | undefined)[]).includes(t.code) && !t.task.partOf?.length,
  );
  const channelTasks = channelTasksOf(routingTasks);
  const concerns: Escalation[] = facts.routedConcerns
    .filter((c) => c.category !== 'safety' && inPeriod(c.sent, period))
    .map((c) => {
      const channel = facts.routing.concerns[c.category as keyof typeof facts.routing.concerns]?.channel ?? 'unspecified';
      const key = recordKeyOf(c.case);
      const tasks = key ? concernTasks(channelTasks.get(JSON.stringify([key, channel])) ?? [], c.category) : [];
      return { case: c.case, reason: 'concern-routed', channel, tasks };
    });
  // A routing Task raised for routed concerns is counted as those concerns, not again.
  const others: Escalation[] = routingTasks
    .filter((t) => inPeriod(t.authored, period) && reasonOf(t) !== 'concern-routed')
    .map((t) => ({ case: t.case, reason: reasonOf(t), channel: t.code as string, tasks: [t] }));
  const routed = [...concerns, ...others];
  const clinical = routingTasks.filter((t) => t.code === 'clinical-review' && inPeriod(t.authored, period));
  const statusOf = (t: TaskFacts): Task['status'] => t.task.status;
  return {
    id: 'escalation-use',
    groups: [
      cohortGroup('routed', routed, [
        {
          code: 'reason',
          values: strataValues(
            reasons,
            routed.map((e) => e.reason),
          ),
          of: (e) => [e.reason],
        },
        {
          code: 'channel',
          values: strataValues(
            routingTaskCodes,
            routed.map((e) => e.channel),
          ),
          of: (e) => [e.channel],
        },
        { code: 'follow-up', values: [...followUps], of: (e) => [followUpOfAll(e.tasks)] },
      ]),
      proportionGroup('routed-acted-on-within-due-time', routed, (e) => allActedInTime(e.tasks, now, tz)),
      cohortGroup('clinical-review-by-status', clinical, [
        { code: 'status', values: strataValues(statuses, clinical.map(statusOf)), of: (t) => [statusOf(t)] },
      ]),
    ],
    evidence: [],
  };
}
