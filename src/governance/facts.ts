import type {
  AuditEvent,
  CarePlan,
  CarePlanActivityDetail,
  Communication,
  Encounter,
  Extension,
  Identifier,
  PractitionerRole,
  Resource,
  Task,
} from '@medplum/fhirtypes';
import { extensions, systems } from '../contract/vocabulary.js';
import { localReference } from '../fhir/references.js';
import { personFeedbackUrl } from '../mapping/resources/careplan.js';
import { concernRoutingExtensions } from '../mapping/concern-routing.js';
import { earlyEngagementExtensions } from '../mapping/early-engagement.js';
import { recoveryMaintenanceExtensions } from '../mapping/recovery-maintenance.js';
import { localDate } from './period.js';
import { timelineOf } from './timeline.js';

/** One counted case: the resource it was counted from and the business identifier that names its record. */
export interface Case {
  reference: string;
  /** `{source.system, <recordId>/<slot>}`; absent for resources not written by the adapter (an EHR's Encounter). */
  identifier?: Identifier;
}

/** The recordId a case traces back to (`<recordId>/<slot>` → `<recordId>`). */
export function recordIdOf(c: Case): string | undefined {
  return c.identifier?.value?.split('/')[0];
}

/** A record's identity across its resources: its source system and recordId (undefined for others' resources). */
export function recordKeyOf(c: Case): string | undefined {
  const recordId = recordIdOf(c);
  return recordId && c.identifier?.system ? JSON.stringify([c.identifier.system, recordId]) : undefined;
}

/** A resource as a case: its first identifier, or for audit resources (no identifier in R4) the identity tag. */
export function caseOf(r: Resource): Case {
  const identifier =
    'identifier' in r ? ((Array.isArray(r.identifier) ? r.identifier[0] : r.identifier) as Identifier | undefined) : undefined;
  const tag = r.meta?.tag?.[0];
  const id = identifier ?? (tag?.system && tag.code ? { system: tag.system, value: tag.code } : undefined);
  return {
    reference: `${r.resourceType}/${r.id}`,
    ...(id?.system && id.value ? { identifier: { system: id.system, value: id.value } } : {}),
  };
}

/** An extension of a CarePlan, by the URL its pathway's mapper declares (mapping/<pathway>.ts): read back where it was written. */
function extension(r: { extension?: Extension[] }, url: string): Extension | undefined {
  return r.extension?.find((e) => e.url === url);
}

function part(e: Extension | undefined, name: string): Extension | undefined {
  return e?.extension?.find((x) => x.url === name);
}

function activity(plan: CarePlan, code: string): CarePlanActivityDetail | undefined {
  return plan.activity?.find((a) => a.detail?.code?.coding?.some((c) => c.system === systems.pathway && c.code === code))?.detail;
}

/** The code of a detail's statusReason that starts with a prefix (`appointment-attended` → `attended`). */
function reasonCode(detail: CarePlanActivityDetail | undefined, prefix: string): string | undefined {
  const code = detail?.statusReason?.coding?.find((c) => c.system === systems.pathway && c.code?.startsWith(prefix))?.code;
  return code?.slice(prefix.length);
}

/** An appointment as the CarePlan records it: the status of the contract, not the activity status. */
export interface Appointment {
  date?: string;
  status?: string;
}

function appointment(plan: CarePlan, code: string, timeZone: string): Appointment | undefined {
  const detail = activity(plan, code);
  if (!detail) return undefined;
  return { date: localDate(detail.scheduledString, timeZone), status: reasonCode(detail, 'appointment-') };
}

/** What every pathway CarePlan says. */
export interface PlanFacts {
  case: Case;
  pathway: string;
  patient?: string;
  /** Local date of the record's first send (CarePlan.created = its recordedAt, kept on resends: write-plan.ts). */
  recorded?: string;
  /** CarePlan.created as written: the instant of the first send. */
  recordedAt?: string;
  /**
   * Local date the record counts under (spec §6): the `index-date` extension, its pathway's index date as
   * first sent (mapping/resources/careplan.ts; kept on resends: write-plan.ts). Undefined on a CarePlan
   * written before the extension existed: its content's date stands in (the pathway readers below).
   */
  indexDate?: string;
  /** True when the escalation route names a clinical owner. */
  hasEscalationRoute: boolean;
  /** The person's feedback score (1–5), when the record carried `personFeedback` (spec §2). */
  feedbackScore?: number;
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

/** The pathway a CarePlan is of: the code of its first category coding in the pathway system. */
export function pathwayOf(plan: CarePlan): string | undefined {
  return plan.category?.flatMap((c) => c.coding ?? []).find((c) => c.system === systems.pathway)?.code;
}

function planFacts(plan: CarePlan, timeZone: string): PlanFacts {
  const route = plan.extension?.find((e) => e.url === extensions.escalationRoute);
  const score = part(extension(plan, personFeedbackUrl), 'score')?.valueInteger;
  return {
    case: caseOf(plan),
    pathway: pathwayOf(plan) ?? 'unknown',
    patient: plan.subject?.reference,
    recorded: localDate(plan.created, timeZone),
    ...(plan.created ? { recordedAt: plan.created } : {}),
    ...optional('indexDate', localDate(extension(plan, extensions.indexDate)?.valueDateTime, timeZone)),
    hasEscalationRoute: part(route, 'clinicalOwner')?.valueReference?.reference !== undefined,
    ...(score !== undefined ? { feedbackScore: score } : {}),
  };
}

/** An early-engagement record (spec §3.1) as governance reads it back from its CarePlan. */
export interface EarlyEngagementFacts extends PlanFacts {
  /** Local intake date the record counts under: the first send's (indexDate), else the intake extension's. */
  intakeDate?: string;
  eligible: boolean;
  offered: boolean;
  preference?: string;
  /**
   * A completed peer contact on or before the first appointment's date (spec §6): one dated after it is
   * not engagement before the appointment. Without a date on either side, a completed contact counts.
   */
  contactCompleted: boolean;
  appointment?: Appointment;
}

/** Reads an early-engagement CarePlan. */
export function earlyEngagementFacts(plan: CarePlan, timeZone: string): EarlyEngagementFacts {
  const intake = extension(plan, earlyEngagementExtensions.intake);
  const offer = activity(plan, 'peer-support-offer');
  const contact = activity(plan, 'peer-contact');
  const contactDate = localDate(contact?.scheduledString, timeZone);
  const appointmentOf = appointment(plan, 'next-appointment', timeZone);
  const facts = planFacts(plan, timeZone);
  return {
    ...facts,
    intakeDate: facts.indexDate ?? localDate(part(intake, 'date')?.valueDate, timeZone),
    eligible: part(intake, 'eligible')?.valueBoolean === true,
    offered: offer?.status === 'completed',
    preference: reasonCode(offer, 'preference-'),
    contactCompleted: contact?.status === 'completed' && !(contactDate && appointmentOf?.date && contactDate > appointmentOf.date),
    appointment: appointmentOf,
  };
}

/** A crisis-transition record (spec §3.3). */
export interface CrisisFacts extends PlanFacts {
  /** Local discharge date the record counts under: the first send's (indexDate), else CarePlan.period.start. */
  dischargeDate?: string;
  contactCompleted: boolean;
  appointment?: Appointment;
}

/** Reads a crisis-transition CarePlan. */
export function crisisFacts(plan: CarePlan, timeZone: string): CrisisFacts {
  const facts = planFacts(plan, timeZone);
  return {
    ...facts,
    dischargeDate: facts.indexDate ?? localDate(plan.period?.start, timeZone),
    contactCompleted: activity(plan, 'peer-contact')?.status === 'completed',
    appointment: appointment(plan, 'first-appointment', timeZone),
  };
}

/** A step-down record (spec §3.2). */
export interface StepDownFacts extends PlanFacts {
  /** Local start of peer support the record counts under, and its windows run from: the first send's (indexDate), else CarePlan.period.start. */
  startDate?: string;
  goals: string[];
}

/** Reads a step-down CarePlan. */
export function stepDownFacts(plan: CarePlan, timeZone: string): StepDownFacts {
  const facts = planFacts(plan, timeZone);
  return {
    ...facts,
    startDate: facts.indexDate ?? localDate(plan.period?.start, timeZone),
    goals: (plan.goal ?? []).map((g) => g.reference).filter((g): g is string => g !== undefined),
  };
}

/** A concern-routing record (spec §3.4). */
export interface ConcernFacts extends PlanFacts {
  missedContacts: number;
}

/** Reads a concern-routing CarePlan. */
export function concernFacts(plan: CarePlan, timeZone: string): ConcernFacts {
  return {
    ...planFacts(plan, timeZone),
    missedContacts: part(extension(plan, concernRoutingExtensions.engagement), 'missedContacts')?.valueInteger ?? 0,
  };
}

/** A recovery-maintenance record (spec §3.6), read back from the CarePlan its mapper wrote (mapping/recovery-maintenance.ts). */
export interface RecoveryMaintenanceFacts extends PlanFacts {
  /** Local date the check-ins start as first sent (indexDate), else CarePlan.period.start (= checkIns.start). */
  startDate?: string;
  missedCheckIns: number;
}

/** Reads a recovery-maintenance CarePlan. */
export function recoveryMaintenanceFacts(plan: CarePlan, timeZone: string): RecoveryMaintenanceFacts {
  const facts = planFacts(plan, timeZone);
  return {
    ...facts,
    startDate: facts.indexDate ?? localDate(plan.period?.start, timeZone),
    missedCheckIns: part(extension(plan, recoveryMaintenanceExtensions.monitoring), 'missedCheckIns')?.valueInteger ?? 0,
  };
}

/** A Task as governance reads it. */
export interface TaskFacts {
  case: Case;
  /** The Task's elements the measures read (taskElements), not the whole resource: a report holds thousands. */
  task: Task;
  code?: string;
  patient?: string;
  /** Local date it was raised: authoredOn, the first send's (kept on resends: write-plan.ts). */
  authored?: string;
  /** When work on it began: executionPeriod.start, else lastModified once it moved on from requested. */
  actedAt?: string;
  /** Local date it was completed (status completed): executionPeriod.end, else lastModified, else the server's meta.lastUpdated. */
  completed?: string;
  /** Whom Task.owner names, as FHIR resolves it (taskOwner); undefined when nothing it names can be known. */
  owner?: TaskOwner;
}

/**
 * A Task's owner as role integrity reads it: the `Type/id` a literal reference names — relative, versioned
 * (`PractitionerRole/x/_history/2`) or absolute — or the PractitionerRole a contained reference (`#id`)
 * names inside the Task. An EHR may write any of these forms (outside tester: each hid a peer-owned clinical
 * Task from the role-integrity count).
 */
export interface TaskOwner {
  reference?: string;
  containedRole?: Pick<PractitionerRole, 'resourceType' | 'code'>;
}

function taskOwner(task: Task): TaskOwner | undefined {
  const reference = task.owner?.reference;
  if (reference?.startsWith('#')) {
    const contained = task.contained?.find((r) => r.id === reference.slice(1));
    return contained?.resourceType === 'PractitionerRole'
      ? { containedRole: { resourceType: 'PractitionerRole', ...(contained.code ? { code: contained.code } : {}) } }
      : undefined;
  }
  const local = localReference(reference);
  return local ? { reference: local } : undefined;
}

const actedStatuses = new Set<Task['status']>(['accepted', 'in-progress', 'completed', 'on-hold']);

/** The elements of a Task that the measures read (measures/escalation.ts, role-integrity.ts, recovery-maintenance.ts). */
const taskElements = ['status', 'intent', 'owner', 'requester', 'businessStatus', 'reasonCode', 'restriction', 'partOf'] as const;

function taskElementsOf(task: Task): Task {
  const kept: Task = { resourceType: 'Task', status: task.status, intent: task.intent };
  for (const name of taskElements) if (task[name] !== undefined) Object.assign(kept, { [name]: task[name] });
  return kept;
}

function optionalOwner(owner: TaskOwner | undefined): { owner?: TaskOwner } {
  return owner ? { owner } : {};
}

/** Reads a Task. */
export function taskFacts(task: Task, timeZone: string): TaskFacts {
  const acted = actedStatuses.has(task.status) ? (task.executionPeriod?.start ?? task.lastModified) : undefined;
  return {
    case: caseOf(task),
    task: taskElementsOf(task),
    code: task.code?.coding?.find((c) => c.system === systems.pathway)?.code,
    patient: task.for?.reference,
    authored: localDate(task.authoredOn, timeZone),
    ...(acted ? { actedAt: acted } : {}),
    ...(task.status === 'completed'
      ? { completed: localDate(task.executionPeriod?.end ?? task.lastModified ?? task.meta?.lastUpdated, timeZone) }
      : {}),
    ...optionalOwner(taskOwner(task)),
  };
}

/** A dated event in a person's history: a re-contact, a review, a peer contact. */
export interface PersonEvent {
  patient?: string;
  date?: string;
  case: Case;
}

/**
 * Encounter statuses of something that did not happen, or is not known to have (FHIR R4 encounter-status):
 * such an Encounter is no crisis discharge, no re-contact and no completed contact (spec §6). The one rule
 * for every Encounter governance counts; a completed peer contact is moreover `finished` (peerContactOf).
 */
export const notHappenedEncounterStatuses: readonly Encounter['status'][] = ['planned', 'cancelled', 'entered-in-error', 'unknown'];

/** True when an Encounter happened (its status is none of notHappenedEncounterStatuses). */
export function encounterHappened(e: Encounter): boolean {
  return !notHappenedEncounterStatuses.includes(e.status);
}

/** An Encounter as an event on its start date. */
export function encounterEvent(e: Encounter, timeZone: string): PersonEvent {
  return { patient: e.subject?.reference, date: localDate(e.period?.start, timeZone), case: caseOf(e) };
}

/** A peer contact (an Encounter of the peer-contact type), as the completed-contact definition reads it. */
export interface PeerContact extends PersonEvent {
  /** Encounter.period.start as written: a date, or an instant. */
  start?: string;
  finished: boolean;
}

/** Reads a peer-contact Encounter. */
export function peerContactOf(e: Encounter, timeZone: string): PeerContact {
  // Happened, and over: an arrived or in-progress contact is not completed yet.
  return {
    ...encounterEvent(e, timeZone),
    ...(e.period?.start ? { start: e.period.start } : {}),
    finished: encounterHappened(e) && e.status === 'finished',
  };
}

/**
 * A completed contact after a report (spec §6): a finished peer-contact Encounter (a cancelled or planned
 * one is not) dated after the report was made — after its instant (CarePlan.created), or for a contact
 * dated by day only, on a later local day — and within `days` local days of it. The one definition for
 * missed-contact reconnection and for check-ins after missed ones.
 */
export function contactsAfter(
  contacts: PeerContact[] | undefined,
  report: { recorded?: string; recordedAt?: string },
  days: number,
): { days: number; case: Case }[] {
  if (!report.recorded) return [];
  const recorded = report.recorded;
  // Only the contacts of the window are read (timeline.ts): a person may hold thousands of contacts and reports.
  return timelineOf(contacts)
    .within(recorded, 0, days)
    .filter(({ event: c }) => {
      if (!c.finished) return false;
      return c.start && c.start.length > 10 && report.recordedAt
        ? Date.parse(c.start) > Date.parse(report.recordedAt)
        : (c.date as string) > recorded;
    })
    .map(({ days: d, event: c }) => ({ days: d, case: c.case }));
}

/**
 * A crisis episode (spec §6): a person and a discharge date, whichever systems sent it. Records of one
 * episode count once; an EHR crisis-contact Encounter with no crisis-transition record of the person within
 * 7 days is an episode of its own, without peer support.
 */
export interface CrisisEpisode {
  /** The first record of the episode (earliest first send), or the EHR's Encounter. */
  case: Case;
  /** Every record (CarePlan) or Encounter of the episode. */
  cases: Case[];
  patient: string;
  /** Local discharge date: the records' `transitionSource.dischargedAt`; an Encounter's end, else its start. */
  dischargeDate: string;
  /** True when any record of the episode reports a completed peer contact. */
  contactCompleted: boolean;
  /** The first appointment: attended when any record says so; missed or cancelled when one does and none attended. */
  appointment?: Appointment;
  source: 'crisis-transition' | 'ehr';
}

/** Days within which an EHR crisis discharge is taken to be the one a crisis-transition record was sent for. */
export const episodeMatchDays = 7;

function episodeAppointment(records: CrisisFacts[]): Appointment | undefined {
  const appointments = records.map((r) => r.appointment).filter((a): a is Appointment => a !== undefined);
  return (
    appointments.find((a) => a.status === 'attended') ??
    appointments.find((a) => a.status === 'missed' || a.status === 'cancelled') ??
    appointments[0]
  );
}

const byFirstSend = (a: PlanFacts, b: PlanFacts) =>
  (a.recordedAt ?? '').localeCompare(b.recordedAt ?? '') || a.case.reference.localeCompare(b.case.reference);

/** The crisis episodes of the crisis-transition records and of the EHR's crisis-contact Encounters. */
export function crisisEpisodes(records: CrisisFacts[], encounters: Encounter[], timeZone: string): CrisisEpisode[] {
  const grouped = new Map<string, CrisisFacts[]>();
  for (const r of records) {
    if (!r.patient || !r.dischargeDate) continue;
    const key = JSON.stringify([r.patient, r.dischargeDate]);
    const group = grouped.get(key);
    if (group) group.push(r);
    else grouped.set(key, [r]);
  }
  const episodes: CrisisEpisode[] = [...grouped.values()].map((rs) => {
    const sorted = [...rs].sort(byFirstSend);
    const first = sorted[0] as CrisisFacts;
    const appointment = episodeAppointment(sorted);
    return {
      case: first.case,
      cases: sorted.map((r) => r.case),
      patient: first.patient as string,
      dischargeDate: first.dischargeDate as string,
      contactCompleted: sorted.some((r) => r.contactCompleted),
      ...(appointment ? { appointment } : {}),
      source: 'crisis-transition',
    };
  });
  // Each person's transition discharges, by date (timeline.ts): an Encounter is matched within its person's, not against every episode.
  const transitions = new Map<string, PersonEvent[]>();
  for (const e of episodes) {
    const event = { patient: e.patient, date: e.dischargeDate, case: e.case };
    const list = transitions.get(e.patient);
    if (list) list.push(event);
    else transitions.set(e.patient, [event]);
  }
  const ehr = new Map<string, CrisisEpisode>();
  for (const e of encounters) {
    const patient = e.subject?.reference;
    const date = localDate(e.period?.end ?? e.period?.start, timeZone);
    if (!patient || !date) continue;
    if (timelineOf(transitions.get(patient)).within(date, -episodeMatchDays, episodeMatchDays).length) continue;
    const key = JSON.stringify([patient, date]);
    const known = ehr.get(key);
    if (known) known.cases.push(caseOf(e));
    else ehr.set(key, { case: caseOf(e), cases: [caseOf(e)], patient, dischargeDate: date, contactCompleted: false, source: 'ehr' });
  }
  return [...episodes, ...ehr.values()];
}

/** When a record was made, from its audit: the record's recordedAt (AuditEvent.period.start), else when it was audited. */
function auditedRecordDate(e: AuditEvent, timeZone: string): string | undefined {
  return localDate(e.period?.start ?? e.recorded, timeZone);
}

/** A blocked record's audit: when the record was made, by which gates, from which source system. */
export interface BlockedFacts {
  case: Case;
  /** Local date of the record's recordedAt (spec §6), not of when the adapter saw it. */
  recorded?: string;
  gates: string[];
  source: string;
}

/** The source system an audit names its record by (the record's identifier), `unknown` when the record had none. */
function auditSource(e: AuditEvent): string {
  return e.entity?.find((x) => x.what?.identifier?.system)?.what?.identifier?.system ?? 'unknown';
}

/** Reads an AuditEvent of type record-blocked. */
export function blockedFacts(e: AuditEvent, timeZone: string): BlockedFacts {
  return {
    case: caseOf(e),
    recorded: auditedRecordDate(e, timeZone),
    gates: (e.subtype ?? []).filter((c) => c.system === systems.gate && c.code).map((c) => c.code as string),
    source: auditSource(e),
  };
}

/** A refused record's audit (pipeline/refusal.ts): when, from which source, which field paths (never values). */
export interface RefusedFacts {
  case: Case;
  /** The record it names (source system + recordId), when the refused record had a valid one. */
  record?: string;
  recorded?: string;
  fields: string[];
  source: string;
}

/** Reads an AuditEvent of type record-refused. */
export function refusedFacts(e: AuditEvent, timeZone: string): RefusedFacts {
  const named = e.entity?.find((x) => x.what?.identifier?.value)?.what?.identifier;
  return {
    case: caseOf(e),
    ...(named?.system && named.value ? { record: JSON.stringify([named.system, named.value]) } : {}),
    recorded: auditedRecordDate(e, timeZone),
    fields: [
      ...new Set(
        (e.entity ?? [])
          .flatMap((x) => x.detail ?? [])
          .filter((d) => d.type === 'field' && d.valueString)
          .map((d) => d.valueString as string),
      ),
    ],
    source: auditSource(e),
  };
}

/** One concern a record routed (spec §6 escalation use): a payload item of a notification, with its concern category. */
export interface RoutedConcernFacts {
  case: Case;
  category: string;
  /** Local date it was routed (Communication.sent, the first send's: write-plan.ts). */
  sent?: string;
}

/** The routed concerns of a Communication the adapter wrote: one per payload item labelled with a concern category. */
export function routedConcernFacts(c: Communication, timeZone: string): RoutedConcernFacts[] {
  const of = caseOf(c);
  if (!of.identifier) return [];
  return (c.payload ?? []).flatMap((p) => {
    const category = p.extension?.find((x) => x.url === extensions.concernCategory)?.valueCoding?.code;
    return category ? [{ case: of, category, sent: localDate(c.sent, timeZone) }] : [];
  });
}
