import type { Consent } from '@medplum/fhirtypes';
import type { AnyReference, MappingContext, MappedResource } from '../context.js';
import { systems } from '../../contract/vocabulary.js';
import { AdapterError, issue, outcome } from '../../outcomes/index.js';
import { recordIdentity } from './common.js';

const statusBySharing = {
  granted: 'active',
  declined: 'rejected',
  withdrawn: 'inactive',
  'not-yet-discussed': 'proposed',
} as const satisfies Record<string, Consent['status']>;

/**
 * The consent's window as FHIR instants (spec §3.5 "Consent in force"): from when it was recorded to when
 * it expires (a date-only `expires` grants through that local day: the end is the next local midnight). The consent gates compare each
 * disclosure's time with it. A consent recorded after its own expiry is a 400 on `consent.expires`.
 */
function consentWindow(ctx: MappingContext): { period?: { start?: string; end?: string } } {
  const { recordedAt, expires } = ctx.record.consent;
  if (recordedAt === undefined && expires === undefined) return {};
  if (recordedAt !== undefined && expires !== undefined && ctx.time.endMs(expires) <= ctx.time.ms(recordedAt)) {
    throw new AdapterError(
      400,
      outcome([
        issue(
          'schema-invalid',
          'value',
          `"consent.expires" (${expires}) is before "consent.recordedAt" (${recordedAt}) in the site's time zone: a consent cannot expire before it was recorded.`,
          ['consent.expires'],
        ),
      ]),
    );
  }
  return {
    period: {
      ...(recordedAt !== undefined ? { start: ctx.time.instant(recordedAt, 'consent.recordedAt') } : {}),
      ...(expires !== undefined ? { end: ctx.time.endInstant(expires, 'consent.expires') } : {}),
    },
  };
}

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
    policyRule: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: c.informationSharing === 'granted' ? 'OPTIN' : 'OPTOUT' },
      ],
    },
    provision: {
      type: c.informationSharing === 'granted' ? 'permit' : 'deny',
      ...consentWindow(ctx),
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
