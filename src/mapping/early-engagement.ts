import type { CarePlanActivity, CodeableConcept, Extension } from '@medplum/fhirtypes';
import type { EarlyEngagementRecord } from '../records/index.js';
import type { AnyReference, MappingContext, MappedResource } from './context.js';
import { appointmentActivity } from './appointment-status.js';
import { buildDisclosureAudit } from './resources/audit.js';
import { buildCarePlan } from './resources/careplan.js';
import { pathwayCoding } from './resources/common.js';
import { buildCommunication } from './resources/communication.js';
import { buildConsent } from './resources/consent.js';
import { buildPeerContactEncounter, peerContactSlot } from './resources/encounter.js';
import { contentCategory, maskedConcept } from './consent-scope.js';
import { appointmentTasks, followUpTask, followUpSlot, missedFollowUpSlot } from './early-engagement/tasks.js';
import { safetyRaised } from './triggers/safety.js';
import { withStandardCodings } from '../contract/terminology.js';
import { extensionUrl } from '../contract/vocabulary.js';

/** Early-engagement extensions on the CarePlan: governance reads the intake back (offered-by-criteria). */
export const earlyEngagementExtensions = { intake: extensionUrl('intake') } as const;

const barrierDisplay: Record<EarlyEngagementRecord['engagementBarriers'][number], string> = {
  'overwhelmed-by-process': 'Overwhelmed by the formal treatment process',
  'unsure-what-therapy-involves': 'Unsure what therapy involves',
  'mistrust-of-services': 'Previous mistrust of services',
  'practical-barrier': 'Practical barrier to attending',
  'none-identified': 'No engagement barrier identified',
  other: 'Other engagement barrier',
};

const preferenceDisplay: Record<EarlyEngagementRecord['personPreference'], string> = {
  accepted: 'Person accepted peer support',
  declined: 'Person declined peer support',
  undecided: 'Person undecided about peer support',
};

/** Maps an early-engagement record (spec §3.1) to its resources. */
export function mapEarlyEngagement(ctx: MappingContext, r: EarlyEngagementRecord): MappedResource[] {
  const owner = ctx.ref(r.nextAppointment.owner);
  const out: MappedResource[] = [buildConsent(ctx, owner)];
  const contactDone = r.peerContact.completed && r.peerContact.date !== undefined;
  if (contactDone) {
    out.push(
      buildPeerContactEncounter(ctx, {
        slot: peerContactSlot(r.peerContact.date as string),
        date: r.peerContact.date as string,
        ...(r.peerContact.mode ? { mode: r.peerContact.mode } : {}),
        reasonCode: barrierReasons(ctx, r),
      }),
    );
  }
  const tasks = [...followUpTask(ctx, r), ...appointmentTasks(ctx, r)];
  out.push(
    buildCarePlan(ctx, {
      title: 'Peer-supported early engagement',
      description:
        'Peer orientation between intake and the first therapy appointment: the peer supports connection and does not replace therapy or triage.',
      // Safety first (spec §3.1): routine engagement stops until clinical review has taken place.
      status: safetyRaised(ctx) ? 'on-hold' : 'active',
      period: { start: r.intake.date },
      activity: activities(
        ctx,
        r,
        contactDone,
        tasks.map((t) => t.slot),
      ),
      extension: [intakeExtension(r)],
    }),
  );
  out.push(...sharedInformation(ctx, r, owner), ...tasks);
  return out;
}

/**
 * The intake as the CarePlan records it, so that governance can audit later that engagement was offered
 * according to criteria (eligible intakes offered; offers to ineligible intakes).
 */
function intakeExtension(r: EarlyEngagementRecord): Extension {
  return {
    url: earlyEngagementExtensions.intake,
    extension: [
      { url: 'date', valueDate: r.intake.date },
      { url: 'service', valueString: r.intake.service },
      { url: 'eligible', valueBoolean: r.intake.eligible },
      ...r.intake.criteria.map((c) => ({ url: 'criteria', valueString: c })),
    ],
  };
}

/**
 * Engagement barriers (codes, and the text of `other`) are content of the consent category
 * `engagement-barriers` (spec §5): written only where it is consented for the care team, else one reason
 * that says barriers were identified and are masked. `none-identified` is no barrier.
 */
function barrierReasons(ctx: MappingContext, r: EarlyEngagementRecord): CodeableConcept[] {
  const barriers = r.engagementBarriers.filter((b) => b !== 'none-identified');
  const concepts = barriers.map((b): CodeableConcept => ({
    coding: withStandardCodings(ctx, pathwayCoding(b, barrierDisplay[b])),
    ...(b === 'other' && r.engagementBarriersText !== undefined ? { text: r.engagementBarriersText } : {}),
  }));
  const masked = concepts.map((c) => maskedConcept(ctx, contentCategory.engagementBarriers, c));
  // Masked: one reason that says barriers exist, not one per barrier (their number is content too).
  return masked.some((c) => !c.coding) ? masked.slice(0, 1) : masked;
}

function activities(ctx: MappingContext, r: EarlyEngagementRecord, contactDone: boolean, taskSlots: string[]): CarePlanActivity[] {
  const offer = r.peerSupportOffer;
  const reasons = barrierReasons(ctx, r);
  const list: CarePlanActivity[] = [
    {
      detail: {
        code: { coding: [pathwayCoding('peer-support-offer', 'Peer support offered after intake')] },
        status: offer.offered ? 'completed' : 'not-started',
        statusReason: { coding: [pathwayCoding(`preference-${r.personPreference}`, preferenceDisplay[r.personPreference])] },
        ...(offer.offeredAt ? { scheduledString: offer.offeredAt } : {}),
        performer: [ctx.peer],
        ...(offer.offered ? {} : { description: `Peer support not offered: ${offer.reasonNotOffered ?? 'no reason recorded'}` }),
      },
    },
    {
      ...(contactDone ? { outcomeReference: [{ reference: ctx.slotRef(peerContactSlot(r.peerContact.date as string)) }] } : {}),
      detail: {
        code: { coding: [pathwayCoding('peer-contact', 'Peer orientation contact before the first appointment')] },
        status: contactStatus(r.peerContact),
        ...(reasons.length ? { reasonCode: reasons } : {}),
        ...(r.peerContact.date ? { scheduledString: r.peerContact.date } : {}),
        performer: [ctx.peer],
        ...(r.peerContact.attempts !== undefined ? { description: `Contact attempts: ${r.peerContact.attempts}` } : {}),
      },
    },
    appointmentActivity('next-appointment', 'First therapy appointment', r.nextAppointment, ctx.ref(r.nextAppointment.owner)),
  ];
  // Follow-up actions are Tasks; the CarePlan points at them (an activity is a reference or a detail, cpl-3).
  for (const slot of taskSlots.filter((s) => s === followUpSlot || s === missedFollowUpSlot)) {
    list.push({ reference: { reference: ctx.slotRef(slot) } });
  }
  return list;
}

/** A contact the peer completed, is still trying to make, or has not begun (spec §3.1 `peerContact`). */
function contactStatus(contact: EarlyEngagementRecord['peerContact']): NonNullable<CarePlanActivity['detail']>['status'] {
  if (contact.completed) return 'completed';
  return (contact.attempts ?? 0) > 0 ? 'in-progress' : 'not-started';
}

/**
 * Each disclosure the peer made, as the Communication it was. The record holds the category only, never
 * the content: the payload says which category went, so that ee-consent can check it against consent.
 */
function sharedInformation(ctx: MappingContext, r: EarlyEngagementRecord, owner: AnyReference | undefined): MappedResource[] {
  const seen = new Set<string>();
  return r.informationShared.flatMap((entry) => {
    const recipient = entry.recipient === 'receiving-clinician' ? (owner ?? ctx.clinicalReviewOwner) : ctx.recipient(entry.recipient);
    // Keyed by what was shared with whom, never by list position: a resend with an entry removed or
    // reordered leaves every other sent Communication as it was (the same kind as crisis-transition's routed concerns).
    const slot = `communication/shared/${entry.category}/${entry.recipient}`;
    if (seen.has(slot)) return [];
    seen.add(slot);
    return [
      buildCommunication(ctx, {
        slot,
        recipientKind: entry.recipient,
        recipient,
        sent: entry.sharedAt,
        items: [{ category: entry.category, text: `Peer support shared information of category ${entry.category}.` }],
      }),
      buildDisclosureAudit(ctx, slot, recipient),
    ];
  });
}
