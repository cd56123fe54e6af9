import type { CarePlanActivity, Coding, Extension } from '@medplum/fhirtypes';
import type { CrisisTransitionRecord } from '../records/index.js';
import type { AnyReference, MappingContext, MappedResource } from './context.js';
import { allSafety, concernItem, concernRule, consentedItems, contentCategory, maskedNote } from './consent-scope.js';
import { buildDisclosureAudit } from './resources/audit.js';
import { buildCarePlan } from './resources/careplan.js';
import { ext, pathwayCoding } from './resources/common.js';
import { buildCommunication } from './resources/communication.js';
import { buildConsent } from './resources/consent.js';
import { buildPeerContactEncounter, peerContactSlot } from './resources/encounter.js';
import { buildTask, withdrawTask } from './resources/task.js';
import { appointmentActivity, appointmentFailed, trackingDescription } from './appointment-status.js';
import { buildChannelTask, channelTaskSlot, channelsOf } from './triggers/concern-channels.js';
import { extensionUrl, extensions } from '../contract/vocabulary.js';

/** Crisis-transition extensions on the CarePlan. */
export const crisisTransitionExtensions = { transitionSource: extensionUrl('transition-source') } as const;

/** The code system of `transitionSource.service` (profiles/terminology/CodeSystem-transition-source.json). */
export const transitionSourceSystem = 'http://peer-pathways.example.org/fhir/CodeSystem/transition-source';

const serviceDisplay: Record<CrisisTransitionRecord['transitionSource']['service'], string> = {
  'crisis-stabilization': 'Crisis stabilization service',
  inpatient: 'Inpatient psychiatric care',
  'crisis-line': 'Crisis line',
  'emergency-department': 'Emergency department',
};

/** Spec §3.3: the outcome of the transition is reviewed 30 days after discharge (a contract value, not a site setting). */
const outcomeReviewDaysAfterDischarge = 30;

/** The slots of the crisis bridge's Tasks (deterministic: a resend updates them in place). */
export const crisisSlots = {
  tracking: 'task/first-appointment-tracking',
  /** Prefix: each failed appointment has a review of its own (bridgeFailureSlot). */
  bridgeFailure: 'task/bridge-failure',
  scheduledReview: 'task/scheduled-clinical-review',
  outcomeReview: 'task/outcome-review',
} as const;

/**
 * The slot of the review of a failed bridge, keyed by the appointment that failed (its date): a rebooked
 * appointment that fails again gets a review of its own, and the review of the earlier one — which a
 * clinician may have completed — is never reset to `requested` (spec §4 "Resent").
 */
export function bridgeFailureSlot(appointmentDate: string): string {
  return `${crisisSlots.bridgeFailure}/${appointmentDate}`;
}

/** `transitionSource.service` as a Coding of the project's CodeSystem, its words kept as display. */
export function transitionSourceCoding(service: CrisisTransitionRecord['transitionSource']['service']): Coding {
  return { system: transitionSourceSystem, code: service, display: serviceDisplay[service] };
}

/** Maps a crisis-transition record (spec §3.3) to its resources. */
export function mapCrisisTransition(ctx: MappingContext, r: CrisisTransitionRecord): MappedResource[] {
  const out: MappedResource[] = [buildConsent(ctx, ctx.ref(r.receivingClinicianNotification.clinician))];
  const contact = r.peerContact.completed ? r.peerContact.date : undefined;
  if (contact) out.push(buildPeerContactEncounter(ctx, { slot: peerContactSlot(contact), date: contact }));
  out.push(
    buildCarePlan(ctx, {
      title: 'Peer-supported transition from crisis care',
      description: `Peer role in this transition: ${r.peerRole}`,
      period: { start: r.transitionSource.dischargedAt },
      careTeam: [ctx.ref(r.receivingTeam.team)].filter((x) => x !== undefined),
      activity: activities(ctx, r, contact),
      extension: carePlanExtensions(ctx, r),
      note: [maskedNote(ctx, contentCategory.engagementBarriers, 'An engagement concern', `Engagement concern: ${r.engagementConcern}`)],
    }),
  );
  out.push(...notification(ctx, r), ...routedConcerns(ctx, r), ...bridgeTasks(ctx, r));
  return out;
}

function carePlanExtensions(ctx: MappingContext, r: CrisisTransitionRecord): Extension[] {
  return [
    { url: extensions.recentCrisisRiskActive, valueBoolean: r.recentCrisisRiskActive },
    {
      url: crisisTransitionExtensions.transitionSource,
      extension: [
        { url: 'service', valueCoding: transitionSourceCoding(r.transitionSource.service) },
        { url: 'dischargedAt', valueDateTime: r.transitionSource.dischargedAt },
      ],
    },
    {
      url: extensions.receivingResponsibility,
      extension: [
        ...ext('team', ctx.ref(r.receivingTeam.team) && { valueReference: ctx.ref(r.receivingTeam.team) }),
        { url: 'confirmed', valueBoolean: r.receivingTeam.responsibilityConfirmed },
        ...ext('confirmedBy', ctx.ref(r.receivingTeam.confirmedBy) && { valueReference: ctx.ref(r.receivingTeam.confirmedBy) }),
        ...ext('at', r.receivingTeam.at ? { valueDateTime: r.receivingTeam.at } : undefined),
      ],
    },
  ];
}

function activities(ctx: MappingContext, r: CrisisTransitionRecord, contact: string | undefined): CarePlanActivity[] {
  const list: CarePlanActivity[] = [
    {
      ...(contact ? { outcomeReference: [{ reference: ctx.slotRef(peerContactSlot(contact)) }] } : {}),
      detail: {
        code: { coding: [pathwayCoding('peer-contact', 'Peer contact before the first appointment')] },
        status: contact ? 'completed' : 'not-started',
        statusReason: { coding: [pathwayCoding(r.peerContact.outcome)] },
        performer: [ctx.peer],
        ...(r.peerContact.date ? { scheduledString: r.peerContact.date } : {}),
      },
    },
    appointmentActivity('first-appointment', 'First outpatient appointment', r.firstAppointment, ctx.ref(r.firstAppointment.clinician)),
  ];
  if (r.clinicalFollowUp.planned) {
    list.push({
      detail: {
        code: { coding: [pathwayCoding('clinical-follow-up', 'Clinical follow-up')] },
        status: 'scheduled',
        ...(r.clinicalFollowUp.date ? { scheduledString: r.clinicalFollowUp.date } : {}),
        performer: [ctx.ref(r.clinicalFollowUp.clinician)].filter((x) => x !== undefined),
      },
    });
  }
  return list;
}

/** The receiving-clinician notification: the peer role always, the rest only where consent covers it. */
function notification(ctx: MappingContext, r: CrisisTransitionRecord): MappedResource[] {
  const n = r.receivingClinicianNotification;
  const recipient = ctx.ref(n.clinician);
  if (!n.notified || !recipient) return [];
  const items = consentedItems(ctx, 'receiving-clinician', [
    { category: 'appointment-status', text: `First appointment ${r.firstAppointment.date}: ${r.firstAppointment.status}.` },
    { category: 'engagement-barriers', text: `Engagement concern: ${r.engagementConcern}` },
  ]);
  const slot = 'communication/receiving-clinician';
  return [
    buildCommunication(ctx, {
      slot,
      recipientKind: 'receiving-clinician',
      recipient,
      sent: n.at ?? r.recordedAt,
      serviceText: `Peer support is part of this person's transition from ${serviceDisplay[r.transitionSource.service].toLowerCase()}. Peer role: ${r.peerRole}`,
      items,
    }),
    buildDisclosureAudit(ctx, slot, recipient),
  ];
}

/**
 * The stable key of a routed concern: what it is (its category and whom it was routed to), never its
 * place in the list, so that a resend with a concern removed or reordered leaves every other concern's
 * Communication where it was.
 */
function routedConcernKey(category: string, routedTo: string): string {
  return `${category}/${routedTo}`;
}

/**
 * Each concern the peer routed, as the Communication it was (its category and nothing more), and one
 * Task per channel and owner (triggers/concern-channels.ts): a clinical review for a clinical category
 * (owned by the clinical review route), a care-coordination review for housing or practical needs, owned
 * by whom the peer routed it to — each recipient gets its own worklist item. A routed safety concern is
 * carried by the one stat safety review (spec §4).
 */
function routedConcerns(ctx: MappingContext, r: CrisisTransitionRecord): MappedResource[] {
  const seen = new Set<string>();
  const messages = r.concernsRouted.flatMap((c) => {
    const recipient = ctx.ref(c.routedTo);
    if (!recipient?.reference) return [];
    const key = routedConcernKey(c.category, recipient.reference);
    if (seen.has(key)) return [];
    seen.add(key);
    const rule = concernRule(ctx, c.category);
    const items = [concernItem(ctx, c.category, `Concern routed by peer support: ${c.category}.`)];
    const slot = `communication/concern/${key}`;
    return [
      buildCommunication(ctx, {
        slot,
        recipientKind: rule.recipientKind,
        recipient,
        sent: c.routedAt,
        items,
        dutyOfCare: allSafety(items),
      }),
      buildDisclosureAudit(ctx, slot, recipient),
    ];
  });
  // The record has no summaries and no separate agreement: the person's consent is their agreement.
  const routing = { recordedAt: r.recordedAt, personAgrees: true, personInformed: true };
  const tasks = channelsOf(ctx, r.concernsRouted).flatMap((ch) => {
    if (ch.code !== 'care-coordination-review') return [buildChannelTask(ctx, routing, ch)].filter((t) => t !== undefined);
    const owners = [
      ...new Set(
        r.concernsRouted
          .filter((c) => ch.concerns.includes(c))
          .map((c) => ctx.literal(c.routedTo))
          .filter((x): x is string => x !== undefined),
      ),
    ];
    return owners.flatMap((owner) => {
      const concerns = r.concernsRouted.filter((c) => ch.concerns.includes(c) && ctx.literal(c.routedTo) === owner);
      const ownerRef = ctx.ref(concerns[0]!.routedTo);
      return [
        buildChannelTask(ctx, routing, { ...ch, concerns }, { owner: ownerRef, slot: `${channelTaskSlot(ch.code)}/${owner}` }),
      ].filter((t) => t !== undefined);
    });
  });
  return [...messages, ...tasks];
}

/**
 * Why the crisis bridge failed (spec §3.3), in plain words; empty when it has not. The bridge fails when
 * the first appointment was missed or cancelled, or when peer support had not reached the person by the
 * time the appointment's date had passed (a date-only appointment: the end of that local day) — unless
 * the person attended it: the bridge then reached outpatient care.
 */
export function bridgeFailures(ctx: MappingContext, r: CrisisTransitionRecord): string[] {
  const a = r.firstAppointment;
  const knownAt = Math.max(ctx.time.ms(r.recordedAt), r.peerContact.date ? ctx.time.ms(r.peerContact.date) : -Infinity);
  return [
    appointmentFailed(a.status) ? `the first outpatient appointment on ${a.date} was ${a.status}` : undefined,
    r.peerContact.outcome === 'not-reached' && a.status !== 'attended' && knownAt > ctx.time.dueMs(a.date)
      ? `peer support had not reached the person when the first appointment date (${a.date}) had passed`
      : undefined,
  ].filter((x): x is string => x !== undefined);
}

/** The bridge's worklist (spec §3.3): first-appointment tracking, the review of a failed bridge, the planned follow-up and the outcome review. */
function bridgeTasks(ctx: MappingContext, r: CrisisTransitionRecord): MappedResource[] {
  const out: MappedResource[] = [];
  const failures = bridgeFailures(ctx, r);
  const source = serviceDisplay[r.transitionSource.service].toLowerCase();
  const clinician = ctx.ref(r.firstAppointment.clinician);
  if (clinician) {
    out.push(
      buildTask(ctx, {
        slot: crisisSlots.tracking,
        code: 'first-appointment-tracking',
        priority: ctx.mappings.routing.firstAppointmentTracking.priority,
        owner: clinician,
        description: trackingDescription(
          `the first outpatient appointment after discharge from ${source}`,
          r.firstAppointment,
          failures.length ? `The crisis bridge failed: see the clinical review (${bridgeFailureSlot(r.firstAppointment.date)})` : undefined,
        ),
        businessStatus: `appointment-${r.firstAppointment.status}`,
        // Marks the tracking of a crisis bridge: the overdue job escalates it when its date passes unconfirmed (followup/overdue.ts).
        reasonCode: { coding: [pathwayCoding('crisis-transition')], text: 'Peer-supported transition from crisis care' },
        due: r.firstAppointment.date,
        dueFollowsRecord: true,
        status: r.firstAppointment.status === 'attended' ? 'completed' : 'requested',
      }),
    );
  }
  const reviewSlot = bridgeFailureSlot(r.firstAppointment.date);
  if (failures.length) {
    const rule = ctx.mappings.routing.crisisBridgeFailure;
    const { priority, dueHours } = r.recentCrisisRiskActive ? rule.withCrisisRisk : rule;
    out.push(
      buildTask(ctx, {
        slot: reviewSlot,
        code: 'clinical-review',
        priority,
        owner: ctx.reviewOwner(r.firstAppointment.clinician),
        description: `The peer bridge from ${source} to outpatient care failed: ${failures.join('; and ')}. Contact the person, review their risk and rebook the first appointment; peer support must not be the only follow-up`,
        businessStatus: 'crisis-bridge-failed',
        due: ctx.time.addHours(r.recordedAt, dueHours, 'recordedAt'),
      }),
    );
  } else {
    // This appointment is not (or no longer) a failed bridge: a review an earlier send raised for it and
    // nobody has touched is withdrawn, saying why; one a clinician moved on stays theirs (write-plan.ts).
    out.push(
      withdrawTask(
        ctx,
        reviewSlot,
        `the first outpatient appointment on ${r.firstAppointment.date} is ${r.firstAppointment.status} per the resend recorded at ${r.recordedAt}${r.peerContact.outcome === 'not-reached' ? '' : ` (peer contact: ${r.peerContact.outcome})`}; the crisis bridge has not failed for it`,
      ),
    );
  }
  const followUp = r.clinicalFollowUp;
  if (followUp.planned && followUp.date) {
    out.push(
      buildTask(ctx, {
        slot: crisisSlots.scheduledReview,
        code: 'scheduled-clinical-review',
        priority: ctx.mappings.routing.scheduledClinicalReview.priority,
        owner: ctx.reviewOwner(followUp.clinician),
        description: `Planned clinical follow-up after discharge from ${source} on ${followUp.date}: see the person, who is in a peer-supported transition from crisis care`,
        businessStatus: 'crisis-follow-up-scheduled',
        due: followUp.date,
        dueFollowsRecord: true,
      }),
    );
  }
  out.push(outcomeReview(ctx, r, ctx.reviewOwner(r.receivingTeam.team), source));
  return out;
}

function outcomeReview(ctx: MappingContext, r: CrisisTransitionRecord, owner: AnyReference, source: string): MappedResource {
  return buildTask(ctx, {
    slot: crisisSlots.outcomeReview,
    code: 'outcome-review',
    priority: ctx.mappings.routing.outcomeReview.priority,
    owner,
    description: `Review the outcome of the peer-supported transition from ${source} ${outcomeReviewDaysAfterDischarge} days after discharge: first appointment attended, engagement with outpatient care, any crisis re-contact`,
    businessStatus: 'peer-support-outcome-review',
    due: ctx.time.addDays(r.transitionSource.dischargedAt, outcomeReviewDaysAfterDischarge, 'transitionSource.dischargedAt'),
    dueFollowsRecord: true,
  });
}
