import type { CarePlanActivity } from '@medplum/fhirtypes';
import type { CrisisTransitionRecord } from '../records/index.js';
import type { MappingContext, MappedResource } from './context.js';
import { allSafety, concernItem, concernRule, consentedItems } from './consent-scope.js';
import { buildDisclosureAudit } from './resources/audit.js';
import { buildCarePlan } from './resources/careplan.js';
import { ext, pathwayCoding } from './resources/common.js';
import { buildCommunication } from './resources/communication.js';
import { buildConsent } from './resources/consent.js';
import { buildPeerContactEncounter } from './resources/encounter.js';
import { buildTask } from './resources/task.js';
import { appointmentActivity } from './appointment-status.js';
import { extensions } from '../contract/vocabulary.js';

/** Maps a crisis-transition record (spec §3.3) to its resources. */
export function mapCrisisTransition(ctx: MappingContext, r: CrisisTransitionRecord): MappedResource[] {
  const out: MappedResource[] = [buildConsent(ctx, ctx.ref(r.receivingClinicianNotification.clinician))];
  const contactDone = r.peerContact.completed && r.peerContact.date !== undefined;
  if (contactDone) {
    out.push(buildPeerContactEncounter(ctx, { slot: 'encounter/peer-contact', date: r.peerContact.date as string }));
  }
  out.push(buildCarePlan(ctx, {
    title: 'Peer-supported transition from crisis care',
    description: `Peer role in this transition: ${r.peerRole}`,
    period: { start: r.transitionSource.dischargedAt },
    careTeam: [ctx.ref(r.receivingTeam.team)].filter((x) => x !== undefined),
    activity: activities(ctx, r, contactDone),
    extension: [
      { url: extensions.recentCrisisRiskActive, valueBoolean: r.recentCrisisRiskActive },
      {
        url: extensions.receivingResponsibility,
        extension: [
          ...ext('team', ctx.ref(r.receivingTeam.team) && { valueReference: ctx.ref(r.receivingTeam.team) }),
          { url: 'confirmed', valueBoolean: r.receivingTeam.responsibilityConfirmed },
          ...ext('confirmedBy', ctx.ref(r.receivingTeam.confirmedBy) && { valueReference: ctx.ref(r.receivingTeam.confirmedBy) }),
          ...ext('at', r.receivingTeam.at ? { valueDateTime: r.receivingTeam.at } : undefined),
        ],
      },
    ],
    note: ctx.consents('engagement-barriers', 'care-team') ? [{ text: `Engagement concern: ${r.engagementConcern}` }] : undefined,
  }));
  out.push(...notification(ctx, r), ...routedConcerns(ctx, r));
  const clinician = ctx.ref(r.firstAppointment.clinician);
  if (clinician) {
    out.push(buildTask(ctx, {
      slot: 'task/first-appointment-tracking',
      code: 'first-appointment-tracking',
      priority: ctx.mappings.routing.firstAppointmentTracking.priority,
      owner: clinician,
      description: `Track attendance at the first outpatient appointment after ${r.transitionSource.service} (${r.firstAppointment.date}).`,
      businessStatus: `appointment-${r.firstAppointment.status}`,
      due: r.firstAppointment.date,
      status: r.firstAppointment.status === 'attended' ? 'completed' : 'requested',
    }));
  }
  const clinicalConcerns = r.concernsRouted.filter((c) => c.category !== 'safety' && concernRule(ctx, c.category).channel === 'clinical-review');
  if (clinicalConcerns.length) {
    const rule = ctx.mappings.routing.triggeredClinicalReview;
    out.push(buildTask(ctx, {
      slot: 'task/clinical-review',
      code: 'clinical-review',
      priority: rule.priority,
      owner: ctx.clinicalReviewOwner,
      description: `Peer support routed concerns for clinical review: ${[...new Set(clinicalConcerns.map((c) => c.category))].join(', ')}.`,
      businessStatus: 'concern-routed',
      due: ctx.time.addHours(r.recordedAt, rule.dueHours, 'recordedAt'),
    }));
  }
  return out;
}

function activities(ctx: MappingContext, r: CrisisTransitionRecord, contactDone: boolean): CarePlanActivity[] {
  const list: CarePlanActivity[] = [{
    ...(contactDone ? { outcomeReference: [{ reference: ctx.slotRef('encounter/peer-contact') }] } : {}),
    detail: {
      code: { coding: [pathwayCoding('peer-contact', 'Peer contact before the first appointment')] },
      status: contactDone ? 'completed' : 'not-started',
      statusReason: { coding: [pathwayCoding(r.peerContact.outcome)] },
      performer: [ctx.peer],
      ...(r.peerContact.date ? { scheduledString: r.peerContact.date } : {}),
    },
  }, appointmentActivity('first-appointment', 'First outpatient appointment', r.firstAppointment, ctx.ref(r.firstAppointment.clinician))];
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
      serviceText: `Peer support is part of this person's transition from ${r.transitionSource.service}. Peer role: ${r.peerRole}`,
      items,
    }),
    buildDisclosureAudit(ctx, slot, recipient),
  ];
}

/** Each concern the peer routed, as the Communication it was: its category and nothing more. */
function routedConcerns(ctx: MappingContext, r: CrisisTransitionRecord): MappedResource[] {
  return r.concernsRouted.flatMap((c, i) => {
    const recipient = ctx.ref(c.routedTo);
    if (!recipient) return [];
    const rule = concernRule(ctx, c.category);
    const items = [concernItem(ctx, c.category, `Concern routed by peer support: ${c.category}.`)];
    const slot = `communication/concern-${i}`;
    return [
      buildCommunication(ctx, { slot, recipientKind: rule.recipientKind, recipient, sent: c.routedAt, items, dutyOfCare: allSafety(items) }),
      buildDisclosureAudit(ctx, slot, recipient),
    ];
  });
}
