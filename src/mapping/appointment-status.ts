import type { CarePlanActivityDetail } from '@medplum/fhirtypes';

const activityStatus = {
  booked: 'scheduled',
  rescheduled: 'scheduled',
  attended: 'completed',
  missed: 'stopped',
  cancelled: 'cancelled',
  'not-booked': 'not-started',
} as const satisfies Record<string, CarePlanActivityDetail['status']>;

/** The CarePlan activity status of an appointment status of the contract. */
export function activityStatusOfAppointment(status: keyof typeof activityStatus): CarePlanActivityDetail['status'] {
  return activityStatus[status];
}
