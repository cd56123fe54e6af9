import type { Task } from '@medplum/fhirtypes';
import type { EarlyEngagementRecord } from '../../records/index.js';
import type { MappingContext, MappedResource } from '../context.js';
import { buildTask } from '../resources/task.js';
import { trackingDescription } from '../appointment-status.js';
import { safetyRaised } from '../triggers/safety.js';

/** Slot of the Task for the record's follow-up action. */
export const followUpSlot = 'task/follow-up-action';
/** Slot of the Task raised when the first appointment was missed. */
export const missedFollowUpSlot = 'task/missed-appointment-follow-up';
/** Slot of the first-appointment tracking Task. */
export const trackingSlot = 'task/first-appointment-tracking';

/**
 * Routine engagement stops on a safety disclosure (spec §3.1): its Tasks are put on hold. A Task on
 * hold is one a resend no longer touches, so it resumes only when someone who has seen the clinical
 * review moves it on, not because the peer's system sent the record again.
 */
function routineStatus(ctx: MappingContext): Task['status'] {
  return safetyRaised(ctx) ? 'on-hold' : 'requested';
}

/** The record's follow-up action as a Task for its owner (a peer may own it: it is not a clinical code). */
export function followUpTask(ctx: MappingContext, r: EarlyEngagementRecord): MappedResource[] {
  const owner = ctx.ref(r.followUpAction.owner);
  // Unresolved owner: the record is blocked on that reference and nothing routine is written.
  if (!owner) return [];
  return [
    buildTask(ctx, {
      slot: followUpSlot,
      code: 'follow-up-action',
      priority: ctx.mappings.routing.followUpAction.priority,
      owner,
      description: r.followUpAction.description,
      businessStatus: safetyRaised(ctx) ? 'paused-for-clinical-review' : 'follow-up-planned',
      due: r.followUpAction.due,
      dueFollowsRecord: true,
      status: routineStatus(ctx),
    }),
  ];
}

/**
 * First-appointment outcomes are tracked (spec §3.1): a tracking Task for the appointment owner while
 * an appointment is booked, completed once attended; a missed appointment raises a follow-up for the
 * owner to re-engage the person.
 */
export function appointmentTasks(ctx: MappingContext, r: EarlyEngagementRecord): MappedResource[] {
  const appointment = r.nextAppointment;
  const owner = ctx.ref(appointment.owner);
  if (!owner || appointment.status === 'not-booked') return [];
  const out = [
    buildTask(ctx, {
      slot: trackingSlot,
      code: 'first-appointment-tracking',
      priority: ctx.mappings.routing.firstAppointmentTracking.priority,
      owner,
      description: trackingDescription(
        `the first therapy appointment after intake for ${r.intake.service}`,
        appointment,
        appointment.status === 'missed' ? `A follow-up to re-engage the person is raised (${missedFollowUpSlot}).` : undefined,
      ),
      businessStatus: `appointment-${appointment.status}`,
      due: appointment.date,
      dueFollowsRecord: true,
      status: appointment.status === 'attended' ? 'completed' : 'requested',
    }),
  ];
  if (appointment.status === 'missed') {
    const rule = ctx.mappings.routing.followUpAction;
    out.push(
      buildTask(ctx, {
        slot: missedFollowUpSlot,
        code: 'follow-up-action',
        priority: rule.priority,
        owner,
        description: `The first therapy appointment on ${appointment.date} was missed: contact the person to re-engage and offer a new appointment.`,
        businessStatus: 'appointment-missed',
        ...(rule.dueHours !== undefined ? { due: ctx.time.addHours(r.recordedAt, rule.dueHours, 'recordedAt') } : {}),
        status: routineStatus(ctx),
      }),
    );
  }
  return out;
}
