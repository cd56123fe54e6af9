import type { CarePlan, CarePlanActivity, Extension } from '@medplum/fhirtypes';
import type { ConcernRoutingRecord } from '../records/index.js';
import type { AnyReference, MappingContext, MappedResource } from './context.js';
import {
  buildChannelCommunication,
  buildChannelTask,
  channelTaskSlot,
  channelsOf,
  hasTask,
  type Channel,
} from './triggers/concern-channels.js';
import { buildCarePlan } from './resources/careplan.js';
import { pathwayCoding } from './resources/common.js';
import { buildConsent } from './resources/consent.js';
import { buildPeerContactEncounter, peerContactSlot } from './resources/encounter.js';
import { extensionUrl } from '../contract/vocabulary.js';

/** Concern-routing extensions on the CarePlan: cr-transparent reads person-aware; governance reads engagement. */
export const concernRoutingExtensions = {
  personAware: extensionUrl('person-aware'),
  engagement: extensionUrl('engagement'),
} as const;

/**
 * Maps a concern-routing record (spec §3.4). Anti-surveillance: only each concern's category, its summary
 * where consent allows, and the minimum to act leave the adapter; `observedChanges`,
 * `observedChangesText` and `peerNotes` are deliberately read nowhere here.
 */
export function mapConcernRouting(ctx: MappingContext, r: ConcernRoutingRecord): MappedResource[] {
  // An existing pathway CarePlan the routing belongs to: the Tasks and notifications are about it.
  const pathwayPlan = ctx.ref(r.carePlan);
  const out: MappedResource[] = [buildConsent(ctx)];
  const contactDone = r.peerContact?.completed === true;
  if (r.peerContact && contactDone) {
    out.push(
      buildPeerContactEncounter(ctx, { slot: peerContactSlot(r.peerContact.date), date: r.peerContact.date, mode: r.peerContact.mode }),
    );
  }
  const channels = channelsOf(ctx, r.concerns);
  const routing = { recordedAt: r.recordedAt, personAgrees: r.personAware.agreesToSharing, personInformed: r.personAware.informed };
  out.push(carePlan(ctx, r, channels, contactDone, pathwayPlan));
  for (const ch of channels) {
    out.push(...buildChannelCommunication(ctx, routing, ch, pathwayPlan));
    const task = buildChannelTask(ctx, routing, ch, { focus: pathwayPlan });
    if (task) out.push(task);
  }
  return out;
}

function carePlan(
  ctx: MappingContext,
  r: ConcernRoutingRecord,
  channels: Channel[],
  contactDone: boolean,
  pathwayPlan?: AnyReference,
): MappedResource {
  const mapped = buildCarePlan(ctx, {
    title: 'Concerns routed from ongoing peer support',
    description: 'Concerns a peer specialist noticed during ongoing support, routed to clinical review or care coordination.',
    activity: activities(ctx, r, channels, contactDone),
    extension: carePlanExtensions(r),
  });
  if (!pathwayPlan) return mapped;
  return { ...mapped, resource: { ...(mapped.resource as CarePlan), partOf: [pathwayPlan] } };
}

function carePlanExtensions(r: ConcernRoutingRecord): Extension[] {
  return [
    {
      url: concernRoutingExtensions.personAware,
      extension: [
        { url: 'informed', valueBoolean: r.personAware.informed },
        { url: 'agreesToSharing', valueBoolean: r.personAware.agreesToSharing },
      ],
    },
    {
      // Numbers and dates, not observations: governance's missed-contact-reconnection measure counts them.
      url: concernRoutingExtensions.engagement,
      extension: [
        { url: 'missedContacts', valueInteger: r.missedContacts },
        { url: 'lastEngagedAt', valueDateTime: r.lastEngagedAt },
      ],
    },
  ];
}

function activities(ctx: MappingContext, r: ConcernRoutingRecord, channels: Channel[], contactDone: boolean): CarePlanActivity[] {
  const routed: CarePlanActivity[] = channels
    .filter(hasTask)
    .map((ch) => ({ reference: { reference: ctx.slotRef(channelTaskSlot(ch.code)) } }));
  if (!r.peerContact) return routed;
  return [
    {
      ...(contactDone ? { outcomeReference: [{ reference: ctx.slotRef(peerContactSlot(r.peerContact.date)) }] } : {}),
      detail: {
        code: { coding: [pathwayCoding('peer-contact', 'Peer contact')] },
        status: contactDone ? 'completed' : 'not-started',
        performer: [ctx.peer],
        scheduledString: r.peerContact.date,
      },
    },
    ...routed,
  ];
}
