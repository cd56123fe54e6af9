import type { Task } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { WriteConflictError, type FhirClient } from '../fhir/client.js';
import { tokenSearchValue } from '../fhir/lookup/search-values.js';
import { systems } from '../contract/vocabulary.js';
import { escalationTask, raiseAndMark, reminderCommunication, type FollowUpRules } from './escalation.js';
import { checkedReminder, gatedEscalation } from './escalation-owner.js';
import { searchAll } from '../fhir/lookup/search-all.js';
import { followUpPaging } from './search-pages.js';
import { dueTime, hasFollowUpMark, pathwayCode, taskOrigin, type TaskOrigin } from './task-origin.js';

/** What one pass of the follow-up rules did. */
export interface FollowUpResult {
  /** References of the first Tasks escalated / whose owners were reminded. */
  escalated: string[];
  reminded: string[];
  /** Follow-ups another replica or a clinician got to first (the write was rolled back). */
  conflicts: number;
}

/** A Task nobody accepted: still `requested`, the adapter's own, not a follow-up itself, not followed up yet. */
async function unaccepted(fhir: FhirClient, code: string, log: Logger): Promise<{ task: Task; origin: TaskOrigin }[]> {
  const { matches: resources, truncated } = await searchAll<Task>(
    fhir,
    'Task',
    { code: tokenSearchValue(systems.pathway, code), status: 'requested' },
    followUpPaging,
  );
  if (truncated) log.warn({ code }, 'follow-up: open Task list truncated; the rest is seen on a later pass');
  return resources.flatMap((task) => {
    const origin = taskOrigin(task);
    // Checked, not trusted: a token search may match codes loosely (case, escapes).
    return origin && pathwayCode(task) === code && task.status === 'requested' && !task.partOf?.length && !hasFollowUpMark(task)
      ? [{ task, origin }]
      : [];
  });
}

/**
 * A crisis bridge's first-appointment tracking (spec §3.3) whose appointment date has passed with nobody
 * confirming it: the person may not have reached outpatient care (e.g. peer support had not reached them
 * and no one sent the record again), so it goes to a clinician like an overdue review. A missed or
 * cancelled appointment is left to its own bridge review, which is escalated in its own right.
 */
function unconfirmedCrisisBridge(task: Task): boolean {
  const crisis = task.reasonCode?.coding?.some((c) => c.system === systems.pathway && c.code === 'crisis-transition') ?? false;
  const status = task.businessStatus?.coding?.find((c) => c.system === systems.pathway)?.code;
  return crisis && status !== 'appointment-missed' && status !== 'appointment-cancelled' && status !== 'appointment-attended';
}

/**
 * One pass of the follow-up rules at `now`, computed from the FHIR server alone (a restarted service
 * catches up; several replicas may run it at once):
 * - a clinical-review Task still `requested` after its due time is escalated once to the on-call route, and
 *   so is a crisis bridge's first-appointment tracking whose date passed unconfirmed (unconfirmedCrisisBridge);
 * - a care-coordination review still `requested` `afterHoursOverdue` hours after its due time gets one
 *   reminder to its owner.
 * The scheduler never changes a Task's status: status belongs to the clinicians.
 */
export async function runFollowUp(fhir: FhirClient, rules: FollowUpRules, now: Date, log: Logger): Promise<FollowUpResult> {
  const result: FollowUpResult = { escalated: [], reminded: [], conflicts: 0 };
  const reminderAfterMs = rules.escalation.careCoordinationReminder.afterHoursOverdue * 3_600_000;
  const passes = [
    { code: 'clinical-review', graceMs: 0, mark: 'escalated' as const, build: escalationTask, done: result.escalated, applies: () => true },
    {
      code: 'first-appointment-tracking',
      graceMs: 0,
      mark: 'escalated' as const,
      build: escalationTask,
      done: result.escalated,
      applies: unconfirmedCrisisBridge,
    },
    {
      code: 'care-coordination-review',
      graceMs: reminderAfterMs,
      mark: 'reminder-sent' as const,
      build: reminderCommunication,
      done: result.reminded,
      applies: () => true,
    },
  ];
  for (const pass of passes) {
    for (const { task, origin } of (await unaccepted(fhir, pass.code, log)).filter((u) => pass.applies(u.task))) {
      const due = dueTime(task, rules.site.timeZone);
      if (!due || due.getTime() + pass.graceMs >= now.getTime()) continue;
      const built = pass.build(task, origin, now, rules);
      // The same pure core as a record's write judges it (pipeline assessFollowUp): profiles, gates, references.
      const checked = built.resourceType === 'Task' ? await gatedEscalation(fhir, task, built, rules) : checkedReminder(built, task, rules);
      const raised = checked.resource;
      if (!raised) {
        // Codes and locations only: issue texts may name configuration, never record content, but logs stay terse.
        const refused = checked.issues
          .filter((i) => i.severity === 'error')
          .map((i) => ({ code: i.details?.coding?.at(-1)?.code, at: i.expression }));
        log.error(
          { task: `Task/${task.id}`, refused },
          built.resourceType === 'Task'
            ? 'follow-up: no escalation owner passes the Task checks (on-call and default clinical route unresolved or peer roles); not escalated'
            : 'follow-up: the reminder does not pass its checks; not sent',
        );
        continue;
      }
      try {
        await raiseAndMark(fhir, task, raised, pass.mark);
        pass.done.push(`Task/${task.id}`);
      } catch (err) {
        if (!(err instanceof WriteConflictError)) throw err;
        result.conflicts++;
      }
    }
  }
  if (result.escalated.length || result.reminded.length) {
    log.info(
      { escalated: result.escalated, reminded: result.reminded, conflicts: result.conflicts },
      'follow-up: overdue Tasks followed up',
    );
  }
  return result;
}
