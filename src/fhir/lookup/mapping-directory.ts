import type { Bundle, OperationOutcomeIssue, PractitionerRole, Resource } from '@medplum/fhirtypes';
import type { EscalationConfig } from '../../config/followup-schema.js';
import type { Mappings } from '../../config/mappings-schema.js';
import { issue } from '../../outcomes/index.js';
import { referenceRoles } from '../../records/references.js';
import type { FhirClient } from '../client.js';

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
  const entry = (
    file: string,
    path: string,
    reference: string | undefined,
    types: readonly string[],
    clinical: boolean,
  ): DirectoryEntry[] => (reference ? [{ file, path, reference, types, clinical }] : []);
  return [
    ...entry('site.json', 'organization', site.organization.reference, referenceRoles.sendingOrganization, false),
    ...entry('site.json', 'defaultClinicalRoute', site.defaultClinicalRoute.reference, referenceRoles.clinical, true),
    ...entry('site.json', 'recipients.care-team', site.recipients['care-team'].reference, referenceRoles.clinical, true),
    ...entry('site.json', 'recipients.case-manager', site.recipients['case-manager'].reference, referenceRoles.taskOwner, false),
    ...entry(
      'site.json',
      'recipients.psychiatric-provider',
      site.recipients['psychiatric-provider'].reference,
      referenceRoles.clinical,
      true,
    ),
    ...entry(
      'escalation.json',
      'clinicalReview.onCallRoute',
      escalation?.clinicalReview.onCallRoute?.reference,
      referenceRoles.clinical,
      true,
    ),
  ];
}

/** One owner or recipient of mappings/ that cannot be used, and why (its reference is named, never record content). */
export interface DirectoryProblem {
  entry: DirectoryEntry;
  message: string;
}

/**
 * Reads every owner and recipient of mappings/ on the FHIR server in one batch: each must exist, be of a
 * type its role allows, and a clinical route must not be a peer role. Otherwise Tasks and notifications
 * would go to owners nobody sees. The one check behind /ready and `check-config --resolve`.
 */
export async function directoryProblems(
  fhir: FhirClient,
  entries: DirectoryEntry[],
  peerRoleCodes: Mappings['site']['peerRoleCodes'],
): Promise<DirectoryProblem[]> {
  if (!entries.length) return [];
  const answer: Bundle = await fhir.batch({
    resourceType: 'Bundle',
    type: 'batch',
    entry: entries.map((e) => ({ request: { method: 'GET' as const, url: e.reference } })),
  });
  return entries.flatMap((entry, i): DirectoryProblem[] => {
    const answered = answer.entry?.[i];
    const r: Resource | undefined = answered?.resource;
    if (
      !answered?.response?.status?.startsWith('2') ||
      !r ||
      r.resourceType === 'OperationOutcome' ||
      `${r.resourceType}/${r.id}` !== entry.reference
    ) {
      return [
        {
          entry,
          message: `${entry.reference} does not exist on the FHIR server (${answered?.response?.status ?? 'no answer'}): Tasks and notifications to it would reach nobody`,
        },
      ];
    }
    if (!entry.types.includes(r.resourceType)) {
      return [{ entry, message: `${entry.reference} is a ${r.resourceType}; it must be a ${entry.types.join(', ')} (spec §1)` }];
    }
    const peer =
      r.resourceType === 'PractitionerRole' &&
      (r as PractitionerRole).code?.some((c) =>
        c.coding?.some((cd) => peerRoleCodes.some((p) => p.system === cd.system && p.code === cd.code)),
      );
    if (entry.clinical && peer) {
      return [
        {
          entry,
          message: `${entry.reference} is a peer role: a peer role never owns clinical review; name a clinician, team or on-call route`,
        },
      ];
    }
    return [];
  });
}

/** A directory problem as an OperationOutcome issue naming the file and path (for /ready). */
export function directoryIssue(p: DirectoryProblem): OperationOutcomeIssue {
  return issue('configuration-unresolved', 'not-found', `mappings/${p.entry.file} ${p.entry.path}: ${p.message}.`, [
    `${p.entry.file}#${p.entry.path}`,
  ]);
}
