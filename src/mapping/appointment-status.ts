import type { CarePlanActivity, CarePlanActivityDetail } from '@medplum/fhirtypes';
import type { AnyReference } from './context.js';
import { pathwayCoding } from './resources/common.js';

const activityStatus = {
  booked: 'scheduled',
  rescheduled: 'scheduled',
  attended: 'completed',
  missed: 'stopped',
  cancelled: 'cancelled',
  'not-booked': 'not-started',
} as const satisfies Record<string, CarePlanActivityDetail['status']>;

/** A first appointment that did not happen: the bridge to care it was part of has failed (spec §3.1, §3.3). */
export function appointmentFailed(status: keyof typeof activityStatus): boolean {
  return status === 'missed' || status === 'cancelled';
}

/**
 * What a first-appointment-tracking Task asks, by the appointment's status: track attendance while it is
 * booked; say it happened once attended; and once it was missed or cancelled, say so and what to do
 * instead of asking to track it as if all were well. `more` adds what else was raised.
 */
export function trackingDescription(
  what: string,
  appointment: { date: string; status: keyof typeof activityStatus },
  more?: string,
): string {
  const { date, status } = appointment;
  const head =
    status === 'attended'
      ? `The person attended ${what} (${date}); nothing further to track.`
      : appointmentFailed(status)
        ? `${what.charAt(0).toUpperCase()}${what.slice(1)} (${date}) was ${status}: contact the person and rebook it rather than wait for attendance.`
        : `Track attendance at ${what} (${date}, ${status}): record whether the person attended.`;
  return more ? `${head} ${more}` : head;
}

/** An appointment as a CarePlan activity: its code, status (and the contract's status as reason), date and owner. */
export function appointmentActivity(
  code: string,
  display: string,
  appointment: { date: string; status: keyof typeof activityStatus },
  owner: AnyReference | undefined,
): CarePlanActivity {
  return {
    detail: {
      kind: 'Appointment',
      code: { coding: [pathwayCoding(code, display)] },
      status: activityStatus[appointment.status],
      statusReason: { coding: [pathwayCoding(`appointment-${appointment.status}`)] },
      scheduledString: appointment.date,
      performer: owner ? [owner] : [],
    },
  };
}
