import type { CodeableConcept, Extension, Task } from '@medplum/fhirtypes';
import type { ConcernCategory, RecipientKind } from '../../config/mappings-schema.js';
import type { AnyReference, MappingContext, MappedResource } from '../context.js';
import { allSafety, concernItem, concernRule, concernSummaryShared } from '../consent-scope.js';
import { buildDisclosureAudit } from '../resources/audit.js';
import { clause, ext } from '../resources/common.js';
import { buildCommunication } from '../resources/communication.js';
import { buildTask } from '../resources/task.js';
import { extensions, systems } from '../../contract/vocabulary.js';

/**
 * Concern routing (spec §3.4, §3.5): each concern category goes to a channel — clinical review or care
 * coordination — with a priority and a due time (mappings/routing.json). Every pathway that routes
 * concerns (concern routing, crisis transition) raises its channel Tasks here.
 */

/** A routing channel (mappings/routing.json): also the code of the Task it raises. */
export type ChannelCode = 'clinical-review' | 'care-coordination-review';
/** A routed concern: its category, and its summary where the pathway records one. */
export interface Concern {
  category: ConcernCategory;
  summary?: string | undefined;
}

/** How a pathway routes: whether the person agrees to sharing, and whether they were told. */
export interface RoutingFacts {
  recordedAt: string;
  /** The person agrees to the routing being shared (concern routing `personAware.agreesToSharing`). */
  personAgrees: boolean;
  /** The person was told of the routing (concern routing `personAware.informed`). */
  personInformed: boolean;
}
/** The concerns of one record that go to one channel. */
export interface Channel {
  code: ChannelCode;
  concerns: Concern[];
}

// Fixed order, so that the same record always yields the same Bundle whatever the order of its concerns.
const channelOrder: readonly ChannelCode[] = ['clinical-review', 'care-coordination-review'];
// FHIR request-priority, least to most urgent.
const urgency: readonly Task['priority'][] = ['routine', 'urgent', 'asap', 'stat'];

/** The record's concerns grouped by the channel their category is routed to; channels without concerns are left out. */
export function channelsOf(ctx: MappingContext, concerns: readonly Concern[]): Channel[] {
  return channelOrder
    .map((code) => ({ code, concerns: concerns.filter((c) => concernRule(ctx, c.category).channel === code) }))
    .filter((ch) => ch.concerns.length > 0);
}

/** The slot of a channel's Task. */
export function channelTaskSlot(channel: ChannelCode): string {
  return `task/${channel}`;
}

/** Whether a concern's own words (its summary) may go on its channel (consent-scope.ts decides). */
function summaryMayTravel(ctx: MappingContext, f: RoutingFacts, category: ConcernCategory): boolean {
  return concernSummaryShared(ctx, category, f.personAgrees);
}

function recipientOf(ctx: MappingContext, kind: RecipientKind): AnyReference {
  // No record field names a receiving clinician here: the clinical review owner stands for one.
  return kind === 'receiving-clinician' ? ctx.clinicalReviewOwner : ctx.recipient(kind);
}

function reasonCode(categories: ConcernCategory[]): CodeableConcept {
  return {
    coding: categories.map((code) => ({ system: systems.concernCategory, code })),
    text: categories.join(', '),
  };
}

function taskExtensions(ctx: MappingContext, f: RoutingFacts, ch: Channel): Extension[] {
  // Spec §3.5 cr-transparent: routing without telling the person is allowed only under an immediate safety concern.
  const transparency = !f.personInformed && ctx.record.safety.immediateConcernDisclosed;
  const dutyOfCare = ch.concerns.some((c) => c.category === 'safety' && !summaryMayTravel(ctx, f, 'safety'));
  return [
    ...ext(extensions.transparencyException, transparency ? { valueBoolean: true } : undefined),
    ...ext(extensions.dutyOfCareException, dutyOfCare ? { valueBoolean: true } : undefined),
  ];
}

/**
 * The concerns a channel's Task carries: all but `safety`, which the record's one stat safety review
 * carries (spec §4 "one event, one Task"); its Communication still names it.
 */
function taskConcerns(ch: Channel): Concern[] {
  return ch.concerns.filter((c) => c.category !== 'safety');
}

/** True when a channel raises a Task of its own (it routes a concern other than safety). */
export function hasTask(ch: Channel): boolean {
  return taskConcerns(ch).length > 0;
}

/**
 * The one Task of a channel: the most urgent priority and the soonest due time of its concerns (none for
 * safety alone), owned by the clinical review route or the site's case manager unless the pathway names
 * who the concern was routed to (`owner`; one Task per channel and owner, each in a `slot` of its own).
 */
export function buildChannelTask(
  ctx: MappingContext,
  f: RoutingFacts,
  ch: Channel,
  opts: { focus?: AnyReference | undefined; owner?: AnyReference | undefined; slot?: string } = {},
): MappedResource | undefined {
  const { focus } = opts;
  const concerns = taskConcerns(ch);
  if (!concerns.length) return undefined;
  const rules = concerns.map((c) => concernRule(ctx, c.category));
  const priority = urgency[Math.max(...rules.map((x) => urgency.indexOf(x.priority)))];
  const categories = [...new Set(concerns.map((c) => c.category))];
  const lines = concerns.map((c) =>
    c.summary !== undefined && summaryMayTravel(ctx, f, c.category) ? `${c.category}: ${clause(c.summary)}` : c.category,
  );
  const label = ch.code === 'clinical-review' ? 'clinical review' : 'care-coordination review';
  return buildTask(ctx, {
    slot: opts.slot ?? channelTaskSlot(ch.code),
    code: ch.code,
    priority,
    owner: opts.owner ?? (ch.code === 'clinical-review' ? ctx.clinicalReviewOwner : ctx.recipient('case-manager')),
    description: `Peer support routed concerns for ${label}: ${lines.join('; ')}.`,
    businessStatus: 'concern-routed',
    due: ctx.time.addHours(f.recordedAt, Math.min(...rules.map((x) => x.dueHours)), 'recordedAt'),
    reasonCode: reasonCode(categories),
    extension: taskExtensions(ctx, f, { ...ch, concerns }),
    ...(focus ? { focus } : {}),
  });
}

/**
 * The one notification of a channel and its disclosure audit. Every concern is in it, labelled with its
 * consent category, so that cr-consent-aligned sees what would travel and blocks what consent does not
 * cover; a safety concern travels whatever the consent (duty of care), its summary only where covered.
 */
export function buildChannelCommunication(ctx: MappingContext, f: RoutingFacts, ch: Channel, about?: AnyReference): MappedResource[] {
  const kind = concernRule(ctx, ch.concerns[0]!.category).recipientKind;
  const recipient = recipientOf(ctx, kind);
  const items = ch.concerns.map((c) => {
    const minimal = c.summary === undefined || (c.category === 'safety' ? !summaryMayTravel(ctx, f, c.category) : !f.personAgrees);
    return concernItem(ctx, c.category, minimal ? `Concern routed by peer support: ${c.category}.` : (c.summary as string));
  });
  const slot = `communication/${ch.code}`;
  return [
    buildCommunication(ctx, {
      slot,
      recipientKind: kind,
      recipient,
      sent: f.recordedAt,
      items,
      dutyOfCare: allSafety(items),
      ...(about ? { about: [about] } : {}),
    }),
    buildDisclosureAudit(ctx, slot, recipient),
  ];
}
