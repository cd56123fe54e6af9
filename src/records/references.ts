import type { Reference } from './primitives.js';

/** The resource types a clinical owner, clinician or other Task owner may be (spec §1). */
const actorTypes = ['PractitionerRole', 'Practitioner', 'CareTeam', 'Organization'] as const;

/**
 * Each reference role of the contract (spec §1 table) and the resource types its fields may resolve to.
 * `consentRecorder` is not in the table: it is FHIR's own Consent.performer target list.
 */
export const referenceRoles = {
  person: ['Patient'],
  peerSpecialist: ['PractitionerRole', 'Practitioner'],
  clinical: actorTypes,
  team: ['CareTeam', 'Organization'],
  taskOwner: actorTypes,
  sendingOrganization: ['Organization'],
  carePlan: ['CarePlan'],
  consentRecorder: ['PractitionerRole', 'Practitioner', 'Organization', 'Patient', 'RelatedPerson'],
} as const satisfies Record<string, readonly string[]>;

export type ReferenceRole = keyof typeof referenceRoles;

/** The role of each reference field (array items as `[]`). A new pathway's fields are added here. */
const fieldRoles: Record<string, ReferenceRole> = {
  person: 'person',
  peerSpecialist: 'peerSpecialist',
  'source.organization': 'sendingOrganization',
  'consent.recordedBy': 'consentRecorder',
  'escalationRoute.clinicalOwner': 'clinical',
  'escalationRoute.urgentContact': 'clinical',
  'nextAppointment.owner': 'clinical',
  'firstAppointment.clinician': 'clinical',
  'receivingClinicianNotification.clinician': 'clinical',
  'clinicalFollowUp.clinician': 'clinical',
  stabilityConfirmedBy: 'clinical',
  'receivingPathway.owner': 'clinical',
  'receivingPathway.confirmedBy': 'clinical',
  'fromService.owner': 'clinical',
  'discharge.dischargedBy': 'clinical',
  'reEntryRoute.owner': 'clinical',
  'receivingTeam.confirmedBy': 'clinical',
  'receivingTeam.team': 'team',
  'followUpAction.owner': 'taskOwner',
  'concernsRouted[].routedTo': 'taskOwner',
  carePlan: 'carePlan',
};

/** The role of a reference field, by its path (`concernsRouted[2].routedTo`); an unlisted field is a task owner. */
export function roleOf(path: string): ReferenceRole {
  return fieldRoles[path.replace(/\[\d+\]/g, '[]')] ?? 'taskOwner';
}

/** The resource types a reference field may resolve to (spec §1). */
export function allowedTypes(path: string): readonly string[] {
  return referenceRoles[roleOf(path)];
}

const referenceKeys = new Set(['reference', 'type', 'identifier', 'display']);

/** Every reference in a record, with the field path it sits at. */
export function collectReferences(value: unknown, path = ''): { path: string; ref: Reference }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => collectReferences(v, `${path}[${i}]`));
  if (typeof value !== 'object' || value === null) return [];
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  if ((typeof obj.reference === 'string' || typeof obj.identifier === 'object') && keys.every((k) => referenceKeys.has(k))) {
    return [{ path, ref: obj as Reference }];
  }
  return keys.flatMap((k) => collectReferences(obj[k], path ? `${path}.${k}` : k));
}
