import type { Bundle, Communication, Task } from '@medplum/fhirtypes';
import type { EscalationConfig } from '../config/followup-schema.js';
import type { CodesConfig, SiteConfig } from '../config/mappings-schema.js';
import type { FhirClient } from '../fhir/client.js';
import type { Profile } from '../gates/load-profiles.js';
import { tokenSearchValue } from '../fhir/lookup/search-values.js';
import type { AnyReference } from '../mapping/context.js';
import { recordTag } from '../contract/identity.js';
import { pathwayCoding } from '../mapping/resources/common.js';
import { extensions, profileUrl } from '../contract/vocabulary.js';
import { followUpMark, type TaskOrigin } from './task-origin.js';

/** What the follow-up rules read from mappings/. */
export interface FollowUpRules {
  site: SiteConfig;
  codes: CodesConfig;
  escalation: EscalationConfig;
  /** The adapter's compiled profiles, which what the jobs write is checked against (loaded once here when absent). */
  profiles?: ReadonlyMap<string, Profile>;
}

/** Slot suffixes of what the scheduler raises for a Task: one of each, ever (conditional create). */
export const escalationSuffix = 'escalation';
export const reminderSuffix = 'reminder';

function addHours(at: Date, hours: number): string {
  return new Date(at.getTime() + hours * 3_600_000).toISOString();
}

/**
 * The escalation of a clinical review nobody accepted in time: a new Task for the on-call route, part
 * of the first, same focus and person, requested by the organization (the adapter acts for it, not the
 * peer). It states the first Task's reason (its description, already in the care team's record), so that
 * on-call can act without opening it first; a safety review's disclosure goes with it under the same duty
 * of care, with the exception recorded on the escalation too (spec §4). Its notes are the first Task's
 * (person, crisis-risk flag, escalation route, consent status: spec §5) with the due time its own.
 */
export function escalationTask(first: Task, origin: TaskOrigin, now: Date, rules: FollowUpRules): Task {
  const rule = rules.escalation.clinicalReview;
  const due = addHours(now, rule.dueHours);
  const dutyOfCare = first.extension?.filter((e) => e.url === extensions.dutyOfCareException) ?? [];
  const reason = first.description ? ` Its reason: ${first.description}` : '';
  const notes = (first.note ?? []).filter((n) => !n.text?.startsWith('Due: '));
  return {
    resourceType: 'Task',
    meta: { profile: [profileUrl('peer-pathway-task')], tag: [recordTag(origin.source, origin.recordId)] },
    identifier: [{ system: origin.source, value: `${origin.value}/${escalationSuffix}` }],
    ...(dutyOfCare.length ? { extension: dutyOfCare } : {}),
    status: 'requested',
    businessStatus: { coding: [pathwayCoding('escalation-raised')], text: 'escalation-raised' },
    intent: 'order',
    priority: rule.priority,
    code: first.code,
    description: `Escalated: ${first.code?.text?.toLowerCase() ?? 'clinical review'} Task/${first.id} was due ${first.restriction?.period?.end} and nobody has accepted it. Accept or reassign it.${reason}`,
    partOf: [{ reference: `Task/${first.id}` }],
    ...(first.focus ? { focus: first.focus } : {}),
    for: first.for,
    authoredOn: now.toISOString(),
    requester: { ...rules.site.organization },
    owner: { ...(rule.onCallRoute ?? rules.site.defaultClinicalRoute) },
    restriction: { period: { end: due } },
    note: [
      { text: `Due: by ${due} (escalation; the first review was due ${first.restriction?.period?.end ?? 'at no recorded time'}).` },
      ...notes,
    ],
  };
}

/**
 * The reminder of a care-coordination review still not accepted well past its due time: a notification
 * to the Task's owner about the Task, with no content beyond the Task's own reference and due time.
 */
export function reminderCommunication(first: Task, origin: TaskOrigin, now: Date, rules: FollowUpRules): Communication {
  return {
    resourceType: 'Communication',
    meta: { tag: [recordTag(origin.source, origin.recordId)] },
    identifier: [{ system: origin.source, value: `${origin.value}/${reminderSuffix}` }],
    status: 'completed',
    category: [{ coding: [rules.codes.communicationCategory] }],
    priority: rules.escalation.careCoordinationReminder.priority,
    ...(first.for ? { subject: first.for as AnyReference } : {}),
    basedOn: [{ reference: `Task/${first.id}` }],
    about: [{ reference: `Task/${first.id}` }],
    recipient: first.owner ? [first.owner as AnyReference] : [],
    sender: { ...rules.site.organization },
    sent: now.toISOString(),
    payload: [
      {
        contentString: `Reminder: care-coordination review Task/${first.id} was due ${first.restriction?.period?.end} and has not been accepted.`,
      },
    ],
  };
}

/**
 * One atomic write: create what the scheduler raises (only if nothing has that identifier yet) and
 * mark the first Task, If-Match its version. Two replicas racing, or a clinician accepting the Task
 * in between, make the If-Match fail (412: WriteConflictError) and the whole write roll back, so a
 * Task is followed up once and never after someone took it.
 */
export async function raiseAndMark(
  fhir: FhirClient,
  first: Task,
  raised: Task | Communication,
  mark: 'escalated' | 'reminder-sent',
): Promise<void> {
  const id = raised.identifier![0]!;
  const marked: Task = { ...first, businessStatus: followUpMark(mark) };
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        resource: raised,
        request: {
          method: 'POST',
          url: raised.resourceType,
          ifNoneExist: `identifier=${encodeURIComponent(tokenSearchValue(id.system!, id.value!))}`,
        },
      },
      { resource: marked, request: { method: 'PUT', url: `Task/${first.id}`, ifMatch: `W/"${first.meta?.versionId}"` } },
    ],
  };
  await fhir.transaction(bundle);
}
