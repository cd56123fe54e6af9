import type { CodeableConcept, Extension, Task } from '@medplum/fhirtypes';
import type { AnyReference, MappingContext, MappedResource } from '../context.js';
import type { EnvelopeRecord } from '../../records/envelope.js';
import { extensions, type TaskCode } from '../../contract/vocabulary.js';
import { pathwayCoding, recordIdentity, sentence } from './common.js';
import { worklistNotes } from './worklist.js';

const taskDisplay: Record<TaskCode, string> = {
  'clinical-review': 'Clinical review',
  'care-coordination-review': 'Care-coordination review',
  'follow-up-action': 'Follow-up action',
  'scheduled-clinical-review': 'Scheduled clinical review',
  'outcome-review': 'Outcome review of peer support',
  'first-appointment-tracking': 'First appointment tracking',
  're-entry-review': 'Re-entry review',
};

export interface TaskSpec {
  slot: string;
  code: TaskCode;
  priority: Task['priority'];
  owner: AnyReference;
  description: string;
  businessStatus: string;
  due?: string;
  status?: Task['status'];
  /** Omitted for a safety Task raised while the record is blocked: there is no CarePlan then. */
  focusCarePlan?: boolean;
  /** Focus another resource than this record's CarePlan (an existing pathway CarePlan). */
  focus?: AnyReference;
  reasonCode?: CodeableConcept;
  extension?: Extension[];
  /** `due` is a date the record names (an appointment, a planned review): a resend that moves it moves the due time (MappedResource.dueFollowsRecord). */
  dueFollowsRecord?: boolean;
}

/**
 * A pathway Task (spec §5): intent order, requested by the peer, owned by whoever acts on it. Every Task
 * of every pathway is built here, so every worklist item states its reason (`description`, one or more
 * sentences), its due time, the person and — where they apply — the recent-crisis-risk flag, the
 * escalation instructions and the consent status (`note`, resources/worklist.ts), within what consent
 * allows.
 */
export function buildTask(ctx: MappingContext<EnvelopeRecord>, spec: TaskSpec): MappedResource {
  const task: Task = {
    resourceType: 'Task',
    ...recordIdentity(ctx, spec.slot, 'peer-pathway-task'),
    ...(spec.extension?.length ? { extension: spec.extension } : {}),
    status: spec.status ?? 'requested',
    businessStatus: { coding: [pathwayCoding(spec.businessStatus)], text: spec.businessStatus },
    intent: 'order',
    priority: spec.priority,
    code: { coding: [pathwayCoding(spec.code, taskDisplay[spec.code])], text: taskDisplay[spec.code] },
    description: sentence(spec.description),
    ...(spec.focusCarePlan === false ? {} : { focus: spec.focus ?? { reference: ctx.slotRef('careplan') } }),
    for: ctx.person,
    authoredOn: ctx.record.recordedAt,
    requester: ctx.peer,
    owner: spec.owner,
    ...(spec.reasonCode ? { reasonCode: spec.reasonCode } : {}),
    ...(spec.due ? { restriction: { period: { end: spec.due } } } : {}),
    note: worklistNotes(ctx, {
      due: spec.due,
      dutyOfCare: spec.extension?.some((e) => e.url === extensions.dutyOfCareException) ?? false,
      transparency: spec.extension?.some((e) => e.url === extensions.transparencyException) ?? false,
    }),
  };
  return { slot: spec.slot, resource: task, ...(spec.dueFollowsRecord ? { dueFollowsRecord: true } : {}) };
}

/**
 * The withdrawal of a Task an earlier send raised and this one no longer does, with the reason in plain
 * words (MappedResource.withdrawn): the write plan cancels it only while nobody has acted on it.
 */
export function withdrawTask(ctx: MappingContext<EnvelopeRecord>, slot: string, reason: string): MappedResource {
  return {
    slot,
    resource: { resourceType: 'Task', ...recordIdentity(ctx, slot, 'peer-pathway-task'), status: 'cancelled', intent: 'order' },
    withdrawn: { reason: sentence(reason) },
  };
}
