import type { Bundle, OperationOutcomeIssue, PractitionerRole, Resource } from '@medplum/fhirtypes';
import type { EscalationConfig } from '../config/followup-schema.js';
import type { Mappings } from '../config/mappings-schema.js';
import { issue } from '../outcomes/index.js';
import { referenceRoles } from '../records/references.js';
import type { FhirClient } from './client.js';

/** One owner or recipient named in mappings/, with where it is named and what it must be. */
export interface DirectoryEntry {
  file: string;
  path: string;
  reference: string;
  types: readonly string[];
  /** A clinical route: never a peer role (spec §3.5 peer-not-clinical-owner). */
  clinical: boolean;
}

/** Every owner and recipient mappings/ names, with the types its role allows (spec §1). */
export function mappingDirectory(mappings: Pick<Mappings, 'site'>, escalation?: EscalationConfig): DirectoryEntry[] {
  const { site } = mappings;
  const entry = (file: string, path: string, reference: string | undefined, types: readonly string[], clinical: boolean): DirectoryEntry[] =>
    reference ? [{ file, path, reference, types, clinical }] : [];
  return [
    ...entry('site.json', 'organization', site.organization.reference, referenceRoles.sendingOrganization, false),
    ...entry('site.json', 'defaultClinicalRoute', site.defaultClinicalRoute.reference, referenceRoles.clinical, true),
    ...entry('site.json', 'recipients.care-team', site.recipients['care-team'].reference, referenceRoles.clinical, true),
    ...entry('site.json', 'recipients.case-manager', site.recipients['case-manager'].reference, referenceRoles.taskOwner, false),
    ...entry('site.json', 'recipients.psychiatric-provider', site.recipients['psychiatric-provider'].reference, referenceRoles.clinical, true),
    ...entry('escalation.json', 'clinicalReview.onCallRoute', escalation?.clinicalReview.onCallRoute?.reference, referenceRoles.clinical, true),
  ];
}

/**
 * Reads every owner and recipient of mappings/ on the FHIR server in one batch: each must exist, be of a
 * type its role allows, and a clinical route must not be a peer role. Otherwise Tasks and notifications
 * would go to owners nobody sees. One issue per entry, naming the file and path.
 */
export async function directoryProblems(fhir: FhirClient, entries: DirectoryEntry[], peerRoleCodes: Mappings['site']['peerRoleCodes']): Promise<OperationOutcomeIssue[]> {
  if (!entries.length) return [];
  const answer: Bundle = await fhir.batch({ resourceType: 'Bundle', type: 'batch', entry: entries.map((e) => ({ request: { method: 'GET' as const, url: e.reference } })) });
  return entries.flatMap((e, i) => {
    const r: Resource | undefined = answer.entry?.[i]?.resource;
    const where = `mappings/${e.file} ${e.path}`;
    if (!r || r.resourceType === 'OperationOutcome' || `${r.resourceType}/${r.id}` !== e.reference) {
      return [issue('configuration-unresolved', 'not-found', `${where} names ${e.reference}, which does not exist on the FHIR server: Tasks and notifications to it would reach nobody.`, [`${e.file}#${e.path}`])];
    }
    if (!e.types.includes(r.resourceType)) {
      return [issue('configuration-unresolved', 'invalid', `${where} names a ${r.resourceType}; it must be a ${e.types.join(', ')}.`, [`${e.file}#${e.path}`])];
    }
    const peer = r.resourceType === 'PractitionerRole'
      && (r as PractitionerRole).code?.some((c) => c.coding?.some((cd) => peerRoleCodes.some((p) => p.system === cd.system && p.code === cd.code)));
    if (e.clinical && peer) {
      return [issue('configuration-unresolved', 'business-rule', `${where} names a peer specialist's role; a clinical route is never a peer role.`, [`${e.file}#${e.path}`])];
    }
    return [];
  });
}
