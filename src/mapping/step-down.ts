import type { CarePlanActivity, Extension } from '@medplum/fhirtypes';
import type { StepDownRecord } from '../records/index.js';
import type { AnyReference, MappingContext, MappedResource } from './context.js';
import { consentedItems } from './consent-scope.js';
import {
  buildCarePlan,
  personAgreementExtension,
  communityConnectionActivities,
  pathwayActivity,
  warningSignActivities,
} from './resources/careplan.js';
import { ext, pathwayCoding, refExt } from './resources/common.js';
import { buildConsent } from './resources/consent.js';
import { buildGoal } from './resources/goal.js';
import { buildTask } from './resources/task.js';
import { extensionUrl } from '../contract/vocabulary.js';

/** Step-down extensions on the CarePlan: the bundle gates (profiles/step-down-bundle.json) read them. */
export const stepDownExtensions = {
  stepDownReason: extensionUrl('step-down-reason'),
  fromService: extensionUrl('from-service'),
  receivingPathway: extensionUrl('receiving-pathway'),
  stabilityConfirmedBy: extensionUrl('stability-confirmed-by'),
  reviewDate: extensionUrl('peer-support-review-date'),
  monitoring: extensionUrl('step-down-monitoring'),
} as const;

/** Maps a step-down record (spec §3.2) to its resources. */
export function mapStepDown(ctx: MappingContext, r: StepDownRecord): MappedResource[] {
  const lead = ctx.reviewOwner(r.receivingPathway.owner);
  const goals = r.recoveryGoals.map((g, i) => buildGoal(ctx, `goal/${i}`, g));
  const out: MappedResource[] = [buildConsent(ctx, lead), ...goals];
  out.push(
    buildCarePlan(ctx, {
      title: 'Peer-supported step-down to standard therapy and community recovery',
      description: r.peerSupportPurpose,
      period: { start: r.peerSupportPeriod.start, ...(r.peerSupportPeriod.end ? { end: r.peerSupportPeriod.end } : {}) },
      goalSlots: goals.map((g) => g.slot),
      activity: activities(ctx, r, lead),
      extension: carePlanExtensions(ctx, r),
    }),
  );
  out.push(scheduledReview(ctx, r, lead), outcomeReview(ctx, r, lead));
  const triggered = triggeredReview(ctx, r);
  if (triggered) out.push(triggered);
  return out;
}

function carePlanExtensions(ctx: MappingContext, r: StepDownRecord): Extension[] {
  const rp = r.receivingPathway;
  return [
    {
      url: stepDownExtensions.stepDownReason,
      extension: [
        { url: 'text', valueString: r.stepDownReason },
        ...ext('code', r.stepDownReasonCode && { valueCoding: r.stepDownReasonCode }),
      ],
    },
    {
      url: stepDownExtensions.fromService,
      extension: [{ url: 'service', valueString: r.fromService.service }, ...refExt(ctx, 'owner', r.fromService.owner)],
    },
    {
      url: stepDownExtensions.receivingPathway,
      extension: [
        { url: 'service', valueString: rp.service },
        ...refExt(ctx, 'owner', rp.owner),
        { url: 'confirmed', valueBoolean: rp.confirmed },
        ...refExt(ctx, 'confirmedBy', rp.confirmedBy),
        ...ext('confirmedAt', rp.confirmedAt ? { valueDateTime: rp.confirmedAt } : undefined),
      ],
    },
    ...refExt(ctx, stepDownExtensions.stabilityConfirmedBy, r.stabilityConfirmedBy),
    personAgreementExtension(r.personAgreement),
    ...ext(stepDownExtensions.reviewDate, r.peerSupportPeriod.reviewDate ? { valueDate: r.peerSupportPeriod.reviewDate } : undefined),
    // Kept on the record so that governance (step-down stability) can see what the trigger saw.
    {
      url: stepDownExtensions.monitoring,
      extension: [
        { url: 'missedTherapySessions', valueInteger: r.monitoring.missedTherapySessions },
        { url: 'worseningSymptomsReported', valueBoolean: r.monitoring.worseningSymptomsReported },
      ],
    },
  ];
}

// Warning signs and community connections are consent content (spec §5): careplan.ts writes or masks them.
function activities(ctx: MappingContext, r: StepDownRecord, lead: AnyReference): CarePlanActivity[] {
  const p = r.peerSupportPeriod;
  return [
    pathwayActivity('peer-support', 'Time-limited peer support', {
      status: 'in-progress',
      description: r.peerSupportPurpose,
      scheduledPeriod: { start: p.start, ...(p.end ? { end: p.end } : {}) },
      performer: [ctx.peer],
    }),
    pathwayActivity('receiving-pathway', 'Receiving pathway after step-down', {
      status: r.receivingPathway.confirmed ? 'scheduled' : 'not-started',
      description: r.receivingPathway.service,
      performer: [ctx.ref(r.receivingPathway.owner)].filter((x) => x !== undefined),
    }),
    ...warningSignActivities(ctx, r.warningSigns),
    ...communityConnectionActivities(ctx, r.communityConnectionPlan),
    pathwayActivity('scheduled-clinical-review', 'Scheduled clinical review', {
      status: 'scheduled',
      scheduledString: r.clinicalReviewDate,
      performer: [lead],
    }),
  ];
}

function scheduledReview(ctx: MappingContext, r: StepDownRecord, lead: AnyReference): MappedResource {
  return buildTask(ctx, {
    slot: 'task/scheduled-clinical-review',
    code: 'scheduled-clinical-review',
    priority: ctx.mappings.routing.scheduledClinicalReview.priority,
    owner: lead,
    description: `Scheduled clinical review after step-down from ${r.fromService.service} to ${r.receivingPathway.service}.`,
    businessStatus: 'step-down-review-scheduled',
    due: r.clinicalReviewDate,
    dueFollowsRecord: true,
  });
}

/** The earlier of the end and the review date: the first point where the peer support's outcome must be looked at. */
function outcomeReviewDate(r: StepDownRecord): string | undefined {
  const dates = [r.peerSupportPeriod.end, r.peerSupportPeriod.reviewDate].filter((d): d is string => d !== undefined);
  return dates.sort()[0];
}

function outcomeReview(ctx: MappingContext, r: StepDownRecord, lead: AnyReference): MappedResource {
  const due = outcomeReviewDate(r);
  return buildTask(ctx, {
    slot: 'task/outcome-review',
    code: 'outcome-review',
    priority: ctx.mappings.routing.outcomeReview.priority,
    owner: lead,
    description:
      'Review the outcome of time-limited peer support after step-down: recovery goals, community connections, whether to end or extend.',
    businessStatus: 'peer-support-outcome-review',
    ...(due ? { due } : {}),
  });
}

/** Missed therapy (at or over the site's threshold) or worsening symptoms: a clinical review (spec §3.2). */
function triggeredReview(ctx: MappingContext, r: StepDownRecord): MappedResource | undefined {
  const { missedTherapySessions: missed, worseningSymptomsReported: worsening } = r.monitoring;
  const threshold = ctx.mappings.thresholds.missedTherapySessions;
  const reasons = [missed >= threshold ? 'missed-therapy-sessions' : undefined, worsening ? 'worsening-symptoms' : undefined].filter(
    (x): x is string => x !== undefined,
  );
  if (!reasons.length) return undefined;
  // The trigger's codes are the minimum needed to act; its details travel only where consent covers them.
  const details = consentedItems(ctx, 'care-team', [
    ...(missed >= threshold
      ? [{ category: 'appointment-status' as const, text: `${missed} therapy session(s) missed since step-down.` }]
      : []),
    ...(worsening ? [{ category: 'clinical-concerns' as const, text: 'The person reported worsening symptoms.' }] : []),
  ]);
  const rule = ctx.mappings.routing.triggeredClinicalReview;
  return buildTask(ctx, {
    slot: 'task/clinical-review',
    code: 'clinical-review',
    priority: rule.priority,
    owner: ctx.clinicalReviewOwner,
    description: [`Step-down monitoring raised a clinical review (${reasons.join(', ')}).`, ...details.map((d) => d.text)].join(' '),
    businessStatus: 'step-down-monitoring-trigger',
    due: ctx.time.addHours(r.recordedAt, rule.dueHours, 'recordedAt'),
    reasonCode: { coding: reasons.map((code) => pathwayCoding(code)) },
  });
}
