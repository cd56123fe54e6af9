import { pathwayCodes, type EnvelopeRecord, type PathwayCode } from '../../records/envelope.js';
import { routedConcerns, type RoutedConcern } from '../../records/index.js';
import type { MappingContext, MappedResource } from '../context.js';
import { clause, ext, sentences } from '../resources/common.js';
import { buildTask } from '../resources/task.js';
import { extensions } from '../../contract/vocabulary.js';

/** The slot of the safety review Task: the same whether the record was accepted, blocked or refused. */
export const safetySlot = 'task/safety-review';

/** The concerns of category `safety` the record routes, as its pathway declares them (records/index.ts). */
function routedSafety(ctx: MappingContext<EnvelopeRecord>): RoutedConcern[] {
  const pathway = ctx.record.pathway;
  if (!(pathwayCodes as readonly string[]).includes(pathway)) return [];
  return routedConcerns[pathway as PathwayCode](ctx.record as unknown as Record<string, unknown>).filter((c) => c.category === 'safety');
}

/** True when a concern-routing record says the person was not told of the routing. */
function notInformed(ctx: MappingContext<EnvelopeRecord>): boolean {
  return (ctx.record as EnvelopeRecord & { personAware?: { informed: boolean } }).personAware?.informed === false;
}

/**
 * True when the record discloses an immediate safety concern, or routes a concern of category safety:
 * one event, one `stat` Task (spec §4) — the routed concern is carried by this Task, not a second one.
 */
export function safetyRaised(ctx: MappingContext<EnvelopeRecord>): boolean {
  return ctx.record.safety.immediateConcernDisclosed || routedSafety(ctx).length > 0;
}

/**
 * The review's due time. Safety first never fails on a date: a due time FHIR cannot hold (past year
 * 9999) leaves the due time out rather than the review; the record's own answer names the field.
 */
function dueOf(ctx: MappingContext<EnvelopeRecord>, at: string, hours: number, field: string): { due?: string } {
  try {
    return { due: ctx.time.addHours(at, hours, field) };
  } catch {
    return {};
  }
}

/**
 * The stat clinical-review Task of safety first (spec §4), built from the envelope alone so that it can
 * be written whatever else is wrong with the record. It carries the minimum to act: that an immediate
 * safety concern was disclosed in peer contact, when, by whom (the requester, the peer's role), and —
 * under the duty of care, whatever the consent — what the person disclosed (`safety.summary`), with the
 * exception recorded when consent does not cover safety concerns to the care team. Routed safety
 * concerns add their summaries only where consent covers them (spec §3.5: minimum content).
 */
export function buildSafetyTask(ctx: MappingContext<EnvelopeRecord>, opts: { blocked: boolean }): MappedResource {
  const { safety, recordedAt } = ctx.record;
  const disclosed = safety.immediateConcernDisclosed;
  const at = safety.disclosedAt ?? recordedAt;
  const atField = safety.disclosedAt ? 'safety.disclosedAt' : 'recordedAt';
  const rule = ctx.mappings.routing.safetyDisclosure;
  const consented = ctx.consents('safety-concerns', 'care-team');
  const routed = routedSafety(ctx);
  const lines = [
    disclosed
      ? `An immediate safety concern was disclosed in peer support contact at ${at}; raised by the peer specialist.`
      : `Peer support routed a safety concern at ${at}; raised by the peer specialist.`,
    disclosed && safety.summary !== undefined ? `Disclosed: ${safety.summary}` : undefined,
    routed.length
      ? `Routed safety concern${routed.length > 1 ? 's' : ''}: ${routed.map((c) => (consented && c.summary ? clause(c.summary) : 'safety')).join('; ')}`
      : undefined,
    opts.blocked
      ? 'The pathway record itself was not written (blocked by a gate or refused); this review was raised under safety first.'
      : undefined,
  ];
  return buildTask(ctx, {
    slot: safetySlot,
    code: 'clinical-review',
    priority: rule.priority,
    owner: ctx.clinicalReviewOwner,
    // Each part a sentence of its own: a summary with or without its full stop never reads ".." or runs on.
    description: sentences(...lines),
    businessStatus: 'safety-concern-disclosed',
    ...dueOf(ctx, at, rule.dueHours, atField),
    focusCarePlan: !opts.blocked,
    extension: [
      ...ext(extensions.dutyOfCareException, consented ? undefined : { valueBoolean: true }),
      // Spec §3.5 cr-transparent: routed without telling the person only under an immediate safety concern.
      ...ext(extensions.transparencyException, disclosed && notInformed(ctx) ? { valueBoolean: true } : undefined),
    ],
  });
}
