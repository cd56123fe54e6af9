import type { Resource } from '@medplum/fhirtypes';

/** One mapped resource, with the slot that makes its identifier (`<recordId>/<slot>`, spec §5). */
export interface MappedResource {
  slot: string;
  resource: Resource;
  /**
   * A Task's due time (`restriction.period.end`) is a date the record itself names (an appointment, a
   * planned review date): a resend that moves that date moves the due time with it. Otherwise the due
   * time is a lead time counted from the send, and a resend never makes it later (write-plan.ts).
   */
  dueFollowsRecord?: boolean;
  /**
   * This send no longer raises the Task of this slot, and says why (e.g. the appointment a bridge review
   * was about is now attended). Never created and never written into the gates' Bundle: an earlier send's
   * Task still `requested` there is cancelled with this reason; one a clinician moved on is kept.
   */
  withdrawn?: { reason: string };
}

/** A record reference resolved on the FHIR server: its literal `Type/id` and the resource found. */
export interface ResolvedReference {
  literal: string;
  resource: Resource;
}
