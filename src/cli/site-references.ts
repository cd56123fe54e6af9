import type { ConfigProblem } from '../config/config-problems.js';
import type { SiteConfig } from '../config/mappings-schema.js';
import type { FhirClient } from '../fhir/client.js';
import { directoryProblems, mappingDirectory } from '../fhir/lookup/mapping-directory.js';

/**
 * Reads each reference of site.json on the FHIR server: each must exist, be of a type its role allows,
 * and a clinical route must not be a peer role (spec §1, §3.5). The same check as /ready
 * (fhir/mapping-directory.ts), reported as configuration problems.
 */
export async function checkSiteReferences(fhir: FhirClient, site: SiteConfig, file: string): Promise<ConfigProblem[]> {
  const problems = await directoryProblems(fhir, mappingDirectory({ site }), site.peerRoleCodes);
  return problems.map((p) => ({ file, path: `${p.entry.path}.reference`, message: p.message }));
}
