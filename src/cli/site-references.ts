import type { Bundle, PractitionerRole } from '@medplum/fhirtypes';
import type { ConfigProblem } from '../config/config-problems.js';
import type { SiteConfig } from '../config/mappings-schema.js';
import type { FhirClient } from '../fhir/client.js';

/** Every FHIR reference site.json names, with its path inside the file and whether it owns clinical work. */
function siteReferences(site: SiteConfig): { path: string; reference: string; clinical: boolean }[] {
  return [
    { path: 'organization', reference: site.organization.reference, clinical: false },
    { path: 'defaultClinicalRoute', reference: site.defaultClinicalRoute.reference, clinical: true },
    ...Object.entries(site.recipients).map(([kind, ref]) => ({ path: `recipients.${kind}`, reference: ref.reference, clinical: kind !== 'case-manager' })),
  ];
}

/**
 * Reads each reference of site.json on the FHIR server: each must exist, and a clinical route must not be a
 * peer role (spec §3.5: a peer role never owns clinical review).
 */
export async function checkSiteReferences(fhir: FhirClient, site: SiteConfig, file: string): Promise<ConfigProblem[]> {
  const refs = siteReferences(site);
  const response: Bundle = await fhir.batch({ resourceType: 'Bundle', type: 'batch', entry: refs.map((r) => ({ request: { method: 'GET', url: r.reference } })) });
  return refs.flatMap((r, i): ConfigProblem[] => {
    const entry = response.entry?.[i];
    if (!entry?.response?.status?.startsWith('2') || !entry.resource) {
      return [{ file, path: `${r.path}.reference`, message: `${r.reference} does not exist on the FHIR server (${entry?.response?.status ?? 'no answer'})` }];
    }
    const role = entry.resource as PractitionerRole;
    const peer = role.resourceType === 'PractitionerRole' && (role.code ?? []).some((cc) => (cc.coding ?? []).some((c) =>
      site.peerRoleCodes.some((p) => p.system === c.system && p.code === c.code)));
    return r.clinical && peer ? [{ file, path: `${r.path}.reference`, message: `${r.reference} is a peer role: a peer role never owns clinical review; name a clinician, team or on-call route` }] : [];
  });
}
