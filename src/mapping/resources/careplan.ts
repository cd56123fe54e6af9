import type { Annotation, CarePlan, CarePlanActivity, Extension, Period } from '@medplum/fhirtypes';
import type { AnyReference, MappingContext, MappedResource } from '../context.js';
import { extensionUrl, extensions, indexMonthTag } from '../../contract/vocabulary.js';

/** The CarePlan extension of the person's feedback (profiles/extensions/person-feedback.json). */
export const personFeedbackUrl = extensionUrl('person-feedback');
import { pathwayCoding, recordIdentity } from './common.js';
import { contentCategory, maskedString, recordsContent } from '../consent-scope.js';

export interface CarePlanSpec {
  title: string;
  description: string;
  status?: CarePlan['status'];
  period?: Period;
  careTeam?: AnyReference[];
  activity: CarePlanActivity[];
  goalSlots?: string[];
  note?: Annotation[];
  extension?: Extension[];
}

/** The escalation route as a CarePlan extension, so that the route gates can see it in the Bundle. */
export function escalationRouteExtension(ctx: MappingContext): Extension[] {
  const route = ctx.record.escalationRoute;
  if (!route) return [];
  const parts: Extension[] = [];
  const owner = ctx.ref(route.clinicalOwner);
  if (owner) parts.push({ url: 'clinicalOwner', valueReference: owner });
  if (route.instructions) parts.push({ url: 'instructions', valueString: route.instructions });
  const urgent = ctx.ref(route.urgentContact);
  if (urgent) parts.push({ url: 'urgentContact', valueReference: urgent });
  return parts.length ? [{ url: extensions.escalationRoute, extension: parts }] : [];
}

/**
 * The pathway CarePlan (spec §5): one per record, category "Mental health care plan" plus the pathway,
 * the Consent as supporting information. Its `author` is the peer specialist, whose system wrote it; the
 * clinical owner of the escalation route, who holds clinical responsibility, is a `contributor` (the
 * peer is one too). Clinical responsibility is carried by the Tasks' owners, never by the peer.
 */
export function buildCarePlan(ctx: MappingContext, spec: CarePlanSpec): MappedResource {
  const owner = ctx.clinicalOwner;
  const identity = recordIdentity(ctx, 'careplan', 'peer-pathway-careplan');
  const index = indexDateOf(ctx, spec);
  const month = indexMonthTag(index);
  const carePlan: CarePlan = {
    resourceType: 'CarePlan',
    ...identity,
    meta: { ...identity.meta, tag: [...(identity.meta.tag ?? []), ...(month ? [month] : [])] },
    extension: [
      ...escalationRouteExtension(ctx),
      ...(spec.extension ?? []),
      ...personFeedbackExtension(ctx.record.personFeedback),
      { url: extensions.indexDate, valueDateTime: index },
    ],
    status: spec.status ?? 'active',
    intent: 'plan',
    category: [{ coding: [ctx.mappings.codes.carePlanCategory] }, { coding: [pathwayCoding(ctx.record.pathway)] }],
    title: spec.title,
    description: spec.description,
    subject: ctx.person,
    ...(spec.period ? { period: spec.period } : {}),
    created: ctx.record.recordedAt,
    author: ctx.peer,
    contributor: [ctx.peer, ...(owner ? [owner] : [])],
    ...(spec.careTeam?.length ? { careTeam: spec.careTeam } : {}),
    supportingInfo: [{ reference: ctx.slotRef('consent') }],
    ...(spec.goalSlots?.length ? { goal: spec.goalSlots.map((s) => ({ reference: ctx.slotRef(s) })) } : {}),
    activity: spec.activity,
    ...(spec.note?.length ? { note: spec.note } : {}),
  };
  if (!carePlan.extension?.length) delete carePlan.extension;
  return { slot: 'careplan', resource: carePlan };
}

/**
 * The date the record counts under in governance (spec §6): its pathway's index date — the start of the
 * CarePlan's period (intake, start of peer support, discharge, start of check-ins), else (concern routing)
 * the record's recordedAt. Written on the first send and kept on resends (fhir/write/write-plan.ts), so a
 * resend that corrects the content's dates never moves the record out of a month already reported.
 */
function indexDateOf(ctx: MappingContext, spec: CarePlanSpec): string {
  return spec.period?.start ?? ctx.record.recordedAt;
}

/** A CarePlan activity coded in the pathway CodeSystem, with its detail (status, schedule, description…). */
export function pathwayActivity(
  code: string,
  display: string,
  detail: Omit<NonNullable<CarePlanActivity['detail']>, 'code'>,
): CarePlanActivity {
  return { detail: { code: { coding: [pathwayCoding(code, display)] }, ...detail } };
}

/** The person's agreement to peer involvement (step-down §3.2, recovery-maintenance §3.6), profiles/extensions/person-agreement.json. */
export function personAgreementExtension(agreement: { agreedToPeerInvolvement: boolean; recordedAt: string }): Extension {
  return {
    url: extensionUrl('person-agreement'),
    extension: [
      { url: 'agreedToPeerInvolvement', valueBoolean: agreement.agreedToPeerInvolvement },
      { url: 'recordedAt', valueDateTime: agreement.recordedAt },
    ],
  };
}

/**
 * The person's feedback (spec §2 `personFeedback`: score 1..5, collectedAt) as the CarePlan extension
 * governance reads (§6): added here, on every pathway's one CarePlan, so no pathway mapper maps it.
 */
export function personFeedbackExtension(feedback: { score: number; collectedAt: string } | undefined): Extension[] {
  return feedback
    ? [
        {
          url: personFeedbackUrl,
          extension: [
            { url: 'score', valueInteger: feedback.score },
            { url: 'collectedAt', valueDateTime: feedback.collectedAt },
          ],
        },
      ]
    : [];
}

/**
 * The relapse warning signs as CarePlan activities, one per sign — content of `warning-signs` (spec §5):
 * where it is not consented for the care team, one activity says that signs were agreed and are masked.
 */
export function warningSignActivities(ctx: MappingContext, signs: readonly string[]): CarePlanActivity[] {
  const shown = recordsContent(ctx, contentCategory.warningSigns) ? signs : signs.slice(0, 1);
  return shown.map((sign) =>
    pathwayActivity('warning-signs', 'Relapse warning sign to watch for', {
      status: 'in-progress',
      ...maskedString(ctx, contentCategory.warningSigns, 'description', sign),
    }),
  );
}

/**
 * The community connection plan as CarePlan activities (what, when, with whom) — part of the person's
 * recovery plan (`recovery-goals`, spec §5): where that is not consented, one activity says a plan exists.
 */
export function communityConnectionActivities(
  ctx: MappingContext,
  plan: readonly { activity: string; schedule?: string | undefined; contact?: string | undefined }[],
): CarePlanActivity[] {
  if (!recordsContent(ctx, contentCategory.communityConnections)) {
    return plan.slice(0, 1).map(() =>
      pathwayActivity('community-connection', 'Community connection', {
        status: 'scheduled',
        ...maskedString(ctx, contentCategory.communityConnections, 'description', ''),
      }),
    );
  }
  return plan.map((c) =>
    pathwayActivity('community-connection', 'Community connection', {
      status: 'scheduled',
      description: c.activity,
      ...(c.schedule ? { scheduledString: c.schedule } : {}),
      // The contact is a role or a name in the community, not a directory entry: display only.
      ...(c.contact ? { performer: [{ display: c.contact }] } : {}),
    }),
  );
}
