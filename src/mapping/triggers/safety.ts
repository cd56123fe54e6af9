import type { MappingContext, MappedResource } from '../context.js';
import { addHours, ext } from '../resources/common.js';
import { buildTask } from '../resources/task.js';
import { extensions } from '../vocabulary.js';

/** The slot of the safety review Task: the same whether the record was blocked or accepted. */
export const safetySlot = 'task/safety-review';

/** True when the record discloses an immediate safety concern, or routes a concern of category safety. */
export function safetyRaised(ctx: MappingContext): boolean {
  const r = ctx.record;
  if (r.safety.immediateConcernDisclosed) return true;
  if (r.pathway === 'concern-routing') return r.concerns.some((c) => c.category === 'safety');
  if (r.pathway === 'crisis-transition') return r.concernsRouted.some((c) => c.category === 'safety');
  return false;
}

/**
 * The stat clinical-review Task of safety first (spec §4). It carries the minimum — that an immediate
 * safety concern was disclosed in peer contact, when and by whom — and the summary only where consent
 * covers safety concerns to the care team; otherwise the duty-of-care exception is recorded.
 */
export function buildSafetyTask(ctx: MappingContext, opts: { blocked: boolean }): MappedResource {
  const { safety, recordedAt } = ctx.record;
  const at = safety.disclosedAt ?? recordedAt;
  const rule = ctx.mappings.routing.safetyDisclosure;
  const shareSummary = safety.summary !== undefined && ctx.consents('safety-concerns', 'care-team');
  const lines = [
    `An immediate safety concern was disclosed in peer support contact at ${at}; raised by the peer specialist.`,
    shareSummary ? `Summary: ${safety.summary}` : undefined,
    opts.blocked ? 'The pathway record itself is blocked by a gate; this review was raised under safety first.' : undefined,
  ];
  return buildTask(ctx, {
    slot: safetySlot,
    code: 'clinical-review',
    priority: rule.priority,
    owner: ctx.clinicalReviewOwner,
    description: lines.filter(Boolean).join(' '),
    businessStatus: 'safety-concern-disclosed',
    due: addHours(at, rule.dueHours),
    focusCarePlan: !opts.blocked,
    extension: ext(extensions.dutyOfCareException, ctx.consents('safety-concerns', 'care-team') ? undefined : { valueBoolean: true }),
  });
}
