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
