import type { Consent } from '@medplum/fhirtypes';
import type { AnyReference, MappingContext, MappedResource } from '../context.js';
import { systems } from '../vocabulary.js';
import { recordIdentity } from './common.js';

const statusBySharing = {
  granted: 'active',
  declined: 'rejected',
  withdrawn: 'inactive',
  'not-yet-discussed': 'proposed',
} as const satisfies Record<string, Consent['status']>;

/**
 * The recorded information-sharing consent (spec §5): scope patient-privacy, category IDSCL, one permit
 * (or deny) provision whose `class` holds the consented categories and whose actors the recipients.
 * `receivingClinician` is the record's own receiving clinician, for the `receiving-clinician` recipient.
 */
export function buildConsent(ctx: MappingContext, receivingClinician?: AnyReference): MappedResource {
  const c = ctx.record.consent;
  const { codes } = ctx.mappings;
  const actorRef = (kind: (typeof c.recipients)[number]): AnyReference =>
    kind === 'receiving-clinician' ? (receivingClinician ?? ctx.clinicalReviewOwner) : ctx.recipient(kind);
  const consent: Consent = {
    resourceType: 'Consent',
    ...recordIdentity(ctx, 'consent', 'peer-pathway-consent'),
    status: statusBySharing[c.informationSharing],
    scope: { coding: [codes.consentScope] },
    category: [{ coding: [codes.consentCategory] }],
    patient: ctx.person,
    dateTime: c.recordedAt ?? ctx.record.recordedAt,
    performer: [ctx.ref(c.recordedBy) ?? ctx.person],
    organization: [{ ...ctx.mappings.site.organization }],
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: c.informationSharing === 'granted' ? 'OPTIN' : 'OPTOUT' }] },
    provision: {
      type: c.informationSharing === 'granted' ? 'permit' : 'deny',
      ...(c.expires ? { period: { end: c.expires } } : {}),
      actor: c.recipients.map((kind) => ({
        role: { coding: [{ system: systems.recipientKind, code: kind }] },
        reference: actorRef(kind),
      })),
      purpose: [codes.consentPurpose],
      class: c.categories.map((code) => ({ system: systems.informationCategory, code })),
    },
  };
  return { slot: 'consent', resource: consent };
}
