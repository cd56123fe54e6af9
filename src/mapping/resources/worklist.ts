import type { Annotation } from '@medplum/fhirtypes';
import type { EnvelopeRecord } from '../../records/envelope.js';
import type { MappingContext } from '../context.js';
import { sentence } from './common.js';

const dateOnly = /^\d{4}-\d{2}-\d{2}$/;

/** What a Task says about itself that the worklist notes repeat or explain. */
export interface WorklistFacts {
  due?: string | undefined;
  /** Content is on the Task under the duty of care although consent does not cover it (spec §4). */
  dutyOfCare: boolean;
  /** Routed without the person being told, under an immediate safety concern (spec §3.5 cr-transparent). */
  transparency: boolean;
}

function referenceText(ref: { reference?: string; identifier?: { system?: string; value?: string }; display?: string }): string {
  return (
    ref.reference ?? (ref.identifier ? `${ref.identifier.system ?? ''}|${ref.identifier.value ?? ''}` : (ref.display ?? 'not recorded'))
  );
}

function dueNote(ctx: MappingContext<EnvelopeRecord>, due: string | undefined): string {
  if (due === undefined) return 'Due: no due time could be set; act on it at the next worklist review.';
  return dateOnly.test(due) ? `Due: by the end of ${due} (site time zone ${ctx.time.timeZone}).` : `Due: by ${due}.`;
}

function crisisRiskNote(record: EnvelopeRecord): string | undefined {
  const flag = (record as EnvelopeRecord & { recentCrisisRiskActive?: unknown }).recentCrisisRiskActive;
  if (typeof flag !== 'boolean') return undefined;
  return flag
    ? 'Recent crisis risk: ACTIVE. Peer support must not be the only follow-up; treat any delay as high risk.'
    : 'Recent crisis risk: not active.';
}

/**
 * The escalation route as the worklist shows it. A route that names a peer role as its clinical owner or
 * urgent contact was refused (spec §3.5: a peer never owns clinical responsibility): the note says so,
 * points at the site's clinical route, and passes on neither the peer as an urgent contact nor the refused
 * route's instructions (they would send the clinician back to the peer).
 */
function escalationNote(ctx: MappingContext<EnvelopeRecord>): string {
  const route = ctx.record.escalationRoute;
  const named = ctx.ref(route?.clinicalOwner);
  const urgent = ctx.ref(route?.urgentContact);
  const ownerIsPeer = named !== undefined && ctx.isPeerRole(named.reference);
  const urgentIsPeer = urgent !== undefined && ctx.isPeerRole(urgent.reference);
  const siteRoute = `the site's clinical route ${referenceText(ctx.clinicalReviewOwner)}`;
  const owner = ctx.clinicalOwner;
  const who = owner
    ? `clinical owner ${referenceText(owner)}`
    : ownerIsPeer
      ? `the named clinical owner is a peer role, who never holds clinical responsibility, so this goes to ${siteRoute}`
      : route?.clinicalOwner
        ? `the named clinical owner could not be resolved, so this goes to ${siteRoute}`
        : `no clinical owner was named: ${siteRoute}`;
  if (ownerIsPeer || urgentIsPeer) {
    return [
      `Escalation: ${who}.`,
      urgentIsPeer ? 'The named urgent contact is a peer role and is not given here.' : undefined,
      'The escalation route named a peer role and was refused: its instructions are not passed on; use the clinical route above.',
    ]
      .filter(Boolean)
      .join(' ');
  }
  return [
    `Escalation: ${who}.`,
    urgent ? `Urgent contact: ${referenceText(urgent)}.` : undefined,
    route?.instructions ? `Escalation instructions: ${sentence(route.instructions)}` : 'No escalation instructions were recorded.',
  ]
    .filter(Boolean)
    .join(' ');
}

function consentNote(ctx: MappingContext<EnvelopeRecord>): string {
  const c = ctx.record.consent;
  if (c.informationSharing === 'granted' && ctx.consentInForce()) {
    const forTeam = c.recipients.includes('care-team');
    return forTeam && c.categories.length
      ? `Consent: sharing granted for ${c.categories.join(', ')} to ${c.recipients.join(', ')}; content of any other category is not in this record.`
      : `Consent: sharing granted to ${c.recipients.join(', ') || 'no recipient'} but no category for the care team; content about the person is not in this record.`;
  }
  const state = c.informationSharing === 'granted' ? 'granted but not in force when this was recorded' : c.informationSharing;
  return `Consent: sharing ${state}; content about the person from any consent category is not in this record — ask the person before sharing more.`;
}

/**
 * The notes of a worklist item (spec §5 "Every worklist item can be acted on without phoning the peer"):
 * its due time, the person, and where they apply the recent-crisis-risk flag, the escalation route and
 * instructions, and the consent status (with any duty-of-care or transparency exception). They hold
 * operational facts only, never content of a consent category.
 */
export function worklistNotes(ctx: MappingContext<EnvelopeRecord>, facts: WorklistFacts): Annotation[] {
  return [
    dueNote(ctx, facts.due),
    `Person: ${referenceText(ctx.person)}; raised by peer specialist ${referenceText(ctx.peer)} (the requester), from ${ctx.record.pathway} record ${ctx.record.recordId}.`,
    crisisRiskNote(ctx.record),
    escalationNote(ctx),
    consentNote(ctx),
    facts.dutyOfCare
      ? 'Duty of care: this safety concern goes to clinical review, with what the person disclosed, although consent does not cover safety concerns for the care team; the exception is recorded (duty-of-care-exception).'
      : undefined,
    facts.transparency
      ? 'Transparency exception: the person was not told of this routing because an immediate safety concern was disclosed.'
      : undefined,
  ]
    .filter((t): t is string => t !== undefined)
    .map((text) => ({ text }));
}
