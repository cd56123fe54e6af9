import type { CarePlanActivity, Extension } from '@medplum/fhirtypes';
import type { RecoveryMaintenanceRecord } from '../records/index.js';
import type { AnyReference, MappingContext, MappedResource } from './context.js';
import { consentedItems } from './consent-scope.js';
import { buildDisclosureAudit } from './resources/audit.js';
import { buildCarePlan, personAgreementExtension, pathwayActivity, warningSignActivities } from './resources/careplan.js';
import { ext, pathwayCoding, refExt } from './resources/common.js';
import { buildCommunication, type PayloadItem } from './resources/communication.js';
import { buildConsent } from './resources/consent.js';
import { buildPeerContactEncounter } from './resources/encounter.js';
import { buildGoal } from './resources/goal.js';
import { buildTask } from './resources/task.js';
import { extensionUrl } from '../contract/vocabulary.js';

/** Recovery-maintenance extensions on the CarePlan: the rm-* gates (profiles/recovery-maintenance-bundle.json) and governance read them. */
export const recoveryMaintenanceExtensions = {
  discharge: extensionUrl('discharge'),
  reviewDate: extensionUrl('peer-support-review-date'),
  reEntryRoute: extensionUrl('re-entry-route'),
  monitoring: extensionUrl('recovery-monitoring'),
} as const;

/** The slot of one episode's re-entry review: keyed by `monitoring.since`, so a later episode raises a new Task (spec §3.6). */
export function reEntrySlot(since: string): string {
  return `task/re-entry-review/${since}`;
}

/** A completed check-in's Encounter, keyed by its date: check-ins accumulate across resends (spec §3.6). */
export function checkInSlot(date: string): string {
  return `encounter/check-in/${date}`;
}

/**
 * Maps a recovery-maintenance record (spec §3.6) to its resources. Safety first and the consent gates
 * are the pipeline's: this module declares what is disclosed (the warning-signs Communication) and the
 * gates judge it.
 */
export function mapRecoveryMaintenance(ctx: MappingContext, r: RecoveryMaintenanceRecord): MappedResource[] {
  const owner = ctx.reviewOwner(r.reEntryRoute.owner);
  const goals = r.recoveryGoals.map((g, i) => buildGoal(ctx, `goal/${i}`, g));
  const out: MappedResource[] = [buildConsent(ctx), ...goals];
  const checkIn = r.lastCheckIn?.completed ? r.lastCheckIn : undefined;
  if (checkIn) {
    out.push(
      buildPeerContactEncounter(ctx, {
        slot: checkInSlot(checkIn.date),
        date: checkIn.date,
        ...(checkIn.mode ? { mode: checkIn.mode } : {}),
      }),
    );
  }
  out.push(
    buildCarePlan(ctx, {
      title: 'Peer-supported recovery maintenance after discharge',
      description: r.peerSupportPurpose,
      period: { start: r.checkIns.start, ...(r.checkIns.end ? { end: r.checkIns.end } : {}) },
      goalSlots: goals.map((g) => g.slot),
      activity: activities(ctx, r, checkIn?.date),
      extension: carePlanExtensions(ctx, r),
    }),
  );
  out.push(outcomeReview(ctx, r, owner));
  const trigger = reEntryTrigger(ctx, r);
  if (trigger && r.monitoring.since) {
    out.push(reEntryReview(ctx, r, r.monitoring.since, trigger, owner));
    if (trigger.signs.length) out.push(...signsCommunication(ctx, r, r.monitoring.since, owner));
  }
  return out;
}

function carePlanExtensions(ctx: MappingContext, r: RecoveryMaintenanceRecord): Extension[] {
  const m = r.monitoring;
  return [
    {
      url: recoveryMaintenanceExtensions.discharge,
      extension: [
        { url: 'date', valueDate: r.discharge.date },
        { url: 'fromService', valueString: r.discharge.fromService },
        ...refExt(ctx, 'dischargedBy', r.discharge.dischargedBy),
      ],
    },
    personAgreementExtension(r.personAgreement),
    ...ext(recoveryMaintenanceExtensions.reviewDate, r.checkIns.reviewDate ? { valueDate: r.checkIns.reviewDate } : undefined),
    {
      url: recoveryMaintenanceExtensions.reEntryRoute,
      extension: [
        { url: 'service', valueString: r.reEntryRoute.service },
        ...refExt(ctx, 'owner', r.reEntryRoute.owner),
        ...ext('instructions', r.reEntryRoute.instructions ? { valueString: r.reEntryRoute.instructions } : undefined),
      ],
    },
    // Counts and a date, not the signs themselves: governance reads what the trigger saw.
    {
      url: recoveryMaintenanceExtensions.monitoring,
      extension: [
        ...ext('since', m.since ? { valueDate: m.since } : undefined),
        { url: 'missedCheckIns', valueInteger: m.missedCheckIns },
        { url: 'warningSignsObserved', valueInteger: m.warningSignsObserved.length },
      ],
    },
  ];
}

function activities(ctx: MappingContext, r: RecoveryMaintenanceRecord, checkInDate: string | undefined): CarePlanActivity[] {
  const c = r.checkIns;
  const route = ctx.ref(r.reEntryRoute.owner);
  return [
    pathwayActivity('peer-check-ins', 'Peer check-ins after discharge', {
      status: 'in-progress',
      description: `${c.frequency} peer check-ins`,
      scheduledPeriod: { start: c.start, ...(c.end ? { end: c.end } : {}) },
      performer: [ctx.peer],
    }),
    ...(r.lastCheckIn
      ? [
          {
            ...(checkInDate ? { outcomeReference: [{ reference: ctx.slotRef(checkInSlot(checkInDate)) }] } : {}),
            detail: {
              code: { coding: [pathwayCoding('peer-contact', 'Peer contact')] },
              status: r.lastCheckIn.completed ? ('completed' as const) : ('not-started' as const),
              scheduledString: r.lastCheckIn.date,
              performer: [ctx.peer],
            },
          },
        ]
      : []),
    pathwayActivity('re-entry-route', 'Route back into care', {
      status: 'not-started',
      description: [r.reEntryRoute.service, r.reEntryRoute.instructions].filter(Boolean).join(': '),
      performer: [route].filter((x) => x !== undefined),
    }),
    ...warningSignActivities(ctx, r.warningSigns),
  ];
}

/** The earlier of the end and the review date: where the outcome of the check-ins must be looked at. */
function outcomeReviewDate(r: RecoveryMaintenanceRecord): string | undefined {
  return [r.checkIns.end, r.checkIns.reviewDate].filter((d): d is string => d !== undefined).sort()[0];
}

function outcomeReview(ctx: MappingContext, r: RecoveryMaintenanceRecord, owner: AnyReference): MappedResource {
  const due = outcomeReviewDate(r);
  return buildTask(ctx, {
    slot: 'task/outcome-review',
    code: 'outcome-review',
    priority: ctx.mappings.routing.outcomeReview.priority,
    owner,
    description: `Review the outcome of peer recovery maintenance after discharge from ${r.discharge.fromService}: check-ins, recovery goals, whether to end or extend.`,
    businessStatus: 'peer-support-outcome-review',
    ...(due ? { due } : {}),
  });
}

interface Trigger {
  signs: string[];
  missed?: number;
}

/** Any observed warning sign, or missed check-ins at or over the site's threshold (spec §3.6). */
function reEntryTrigger(ctx: MappingContext, r: RecoveryMaintenanceRecord): Trigger | undefined {
  const { missedCheckIns, warningSignsObserved } = r.monitoring;
  const missed = missedCheckIns >= ctx.mappings.thresholds.missedCheckIns ? missedCheckIns : undefined;
  if (!warningSignsObserved.length && missed === undefined) return undefined;
  return { signs: warningSignsObserved, ...(missed !== undefined ? { missed } : {}) };
}

/** The re-entry review: the minimum to act — which trigger, since when — owned by the re-entry route. */
function reEntryReview(ctx: MappingContext, r: RecoveryMaintenanceRecord, since: string, t: Trigger, owner: AnyReference): MappedResource {
  const rule = ctx.mappings.routing.reEntryReview;
  const reasons = [t.signs.length ? 'warning-signs-observed' : undefined, t.missed !== undefined ? 'missed-check-ins' : undefined].filter(
    (x): x is string => x !== undefined,
  );
  const said = [
    t.signs.length ? `relapse warning signs seen since ${since}` : undefined,
    t.missed !== undefined ? `${t.missed} check-ins missed since ${since}` : undefined,
  ]
    .filter(Boolean)
    .join('; ');
  return buildTask(ctx, {
    slot: reEntrySlot(since),
    code: 're-entry-review',
    priority: rule.priority,
    owner,
    description: `Recovery maintenance raised a re-entry review (${said}): offer the way back into ${r.reEntryRoute.service}.${r.reEntryRoute.instructions ? ` Route: ${r.reEntryRoute.instructions}` : ''}`,
    businessStatus: 're-entry-review-raised',
    due: ctx.time.addHours(r.recordedAt, rule.dueHours, 'recordedAt'),
    reasonCode: { coding: reasons.map((code) => pathwayCoding(code)) },
  });
}

/**
 * The observed signs to the re-entry route's owner (recipient kind care-team). The signs are the
 * disclosure itself, so they always go into the Bundle and rm-consent-aligned judges them; the recovery
 * goals are optional content and travel only where consent covers them (consent-scope.ts).
 */
function signsCommunication(ctx: MappingContext, r: RecoveryMaintenanceRecord, since: string, owner: AnyReference): MappedResource[] {
  const signs: PayloadItem[] = r.monitoring.warningSignsObserved.map((s) => ({
    category: 'warning-signs',
    text: `Warning sign seen since ${since}: ${s}`,
  }));
  const goals = consentedItems(
    ctx,
    'care-team',
    r.recoveryGoals.map((g) => ({ category: 'recovery-goals' as const, text: `Recovery goal: ${g.description}` })),
  );
  const slot = `communication/re-entry/${since}`;
  return [
    buildCommunication(ctx, { slot, recipientKind: 'care-team', recipient: owner, sent: r.recordedAt, items: [...signs, ...goals] }),
    buildDisclosureAudit(ctx, slot, owner),
  ];
}
