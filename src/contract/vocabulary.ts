/**
 * The project's own code systems and extensions. They are fixed (not in mappings/) because the gate
 * invariants in profiles/ name them: a site changes standard codes in mappings/codes.json instead.
 */
const base = 'http://peer-pathways.example.org/fhir';

export const systems = {
  pathway: `${base}/CodeSystem/peer-pathway`,
  informationCategory: `${base}/CodeSystem/information-category`,
  recipientKind: `${base}/CodeSystem/consent-recipient`,
  concernCategory: `${base}/CodeSystem/concern-category`,
  gate: `${base}/CodeSystem/gate`,
  adapter: `${base}/adapter`,
} as const;

export const extensions = {
  escalationRoute: `${base}/StructureDefinition/escalation-route`,
  receivingResponsibility: `${base}/StructureDefinition/receiving-responsibility`,
  recentCrisisRiskActive: `${base}/StructureDefinition/recent-crisis-risk-active`,
  recipientKind: `${base}/StructureDefinition/recipient-kind`,
  informationCategory: `${base}/StructureDefinition/information-category`,
  concernCategory: `${base}/StructureDefinition/concern-category`,
  dutyOfCareException: `${base}/StructureDefinition/duty-of-care-exception`,
  transparencyException: `${base}/StructureDefinition/transparency-exception`,
  gateRecordField: `${base}/StructureDefinition/gate-record-field`,
  gateFieldCheck: `${base}/StructureDefinition/gate-field-check`,
  /** The date a record counts under in governance (spec §6), its first send's: profiles/extensions/index-date.json. */
  indexDate: `${base}/StructureDefinition/index-date`,
} as const;

/** The URL of one of the project's extensions, by name (pathway-specific ones are named in their mapper). */
export function extensionUrl(name: string): string {
  return `${base}/StructureDefinition/${name}`;
}

/**
 * The tag that files a refused or blocked record's audit under the month (UTC, `YYYY-MM`) its record was
 * made in (`recordedAt`): governance finds a period's audits by it (`_tag`, indexed), whenever they were written.
 */
export const recordMonthSystem = `${base}/record-month`;

/** The record-month tag of an instant (ISO 8601); undefined when it is not one. */
export function recordMonthTag(instant: string): { system: string; code: string } | undefined {
  const at = Date.parse(instant);
  return Number.isNaN(at) ? undefined : { system: recordMonthSystem, code: new Date(at).toISOString().slice(0, 7) };
}

/**
 * The tag that files a pathway CarePlan under the month (`YYYY-MM`; UTC for an instant) of the date it counts
 * under in governance (its `index-date` extension, the first send's): governance finds a period's records by
 * it (`_tag`, indexed) even when a resend has moved the content's dates (`CarePlan.period`) since.
 */
export const indexMonthSystem = `${base}/index-month`;

/** The index-month tag of a FHIR date or dateTime; undefined when it is neither. */
export function indexMonthTag(value: string): { system: string; code: string } | undefined {
  if (/^\d{4}-\d{2}(-\d{2})?$/.test(value)) return { system: indexMonthSystem, code: value.slice(0, 7) };
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : { system: indexMonthSystem, code: new Date(at).toISOString().slice(0, 7) };
}

/** Profile canonical URL of a profile file's id. */
export function profileUrl(id: string): string {
  return `${base}/StructureDefinition/${id}`;
}

/** Task codes whose owner holds clinical responsibility: never a peer role (gate peer-not-clinical-owner). */
export const clinicalTaskCodes = ['clinical-review', 'scheduled-clinical-review', 'outcome-review', 're-entry-review'] as const;

/** Task codes that track a clinical appointment for its clinician: never owned by a peer role either (role integrity, spec §6). */
export const trackingTaskCodes = ['first-appointment-tracking'] as const;

export type TaskCode = (typeof clinicalTaskCodes)[number] | 'care-coordination-review' | 'follow-up-action' | 'first-appointment-tracking';

/**
 * Task business statuses only the follow-up scheduler sets (src/followup): the first Task was escalated
 * to on-call, or its owner was reminded. A resend of the record never takes them back (write-plan.ts).
 */
export const followUpMarks = ['escalated', 'reminder-sent'] as const;
