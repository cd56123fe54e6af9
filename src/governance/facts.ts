import type { AuditEvent, CarePlan, CarePlanActivityDetail, Encounter, Extension, Identifier, Resource, Task } from '@medplum/fhirtypes';
import { extensions, systems } from '../contract/vocabulary.js';
import { concernRoutingExtensions } from '../mapping/concern-routing.js';
import { earlyEngagementExtensions } from '../mapping/early-engagement.js';
import { recoveryMaintenanceExtensions } from '../mapping/recovery-maintenance.js';
import { stepDownExtensions } from '../mapping/step-down.js';
import { localDate } from './period.js';

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

/** A resource as a case: its first identifier, or for audit resources (no identifier in R4) the identity tag. */
export function caseOf(r: Resource): Case {
  const identifier = 'identifier' in r ? (Array.isArray(r.identifier) ? r.identifier[0] : r.identifier) as Identifier | undefined : undefined;
  const tag = r.meta?.tag?.[0];
  const id = identifier ?? (tag?.system && tag.code ? { system: tag.system, value: tag.code } : undefined);
  return { reference: `${r.resourceType}/${r.id}`, ...(id?.system && id.value ? { identifier: { system: id.system, value: id.value } } : {}) };
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
  patient?: string;
  /** Local date the record was made (CarePlan.created = recordedAt). */
  recorded?: string;
  /** True when the escalation route names a clinical owner. */
  hasEscalationRoute: boolean;
}

function planFacts(plan: CarePlan, timeZone: string): PlanFacts {
  const route = plan.extension?.find((e) => e.url === extensions.escalationRoute);
  return {
    case: caseOf(plan),
    patient: plan.subject?.reference,
    recorded: localDate(plan.created, timeZone),
    hasEscalationRoute: part(route, 'clinicalOwner')?.valueReference?.reference !== undefined,
  };
}

/** An early-engagement record (spec §3.1) as governance reads it back from its CarePlan. */
export interface EarlyEngagementFacts extends PlanFacts {
  intakeDate?: string;
  eligible: boolean;
  offered: boolean;
  preference?: string;
  contactCompleted: boolean;
  appointment?: Appointment;
}

/** Reads an early-engagement CarePlan. */
export function earlyEngagementFacts(plan: CarePlan, timeZone: string): EarlyEngagementFacts {
  const intake = extension(plan, earlyEngagementExtensions.intake);
  const offer = activity(plan, 'peer-support-offer');
  return {
    ...planFacts(plan, timeZone),
    intakeDate: localDate(part(intake, 'date')?.valueDate, timeZone),
    eligible: part(intake, 'eligible')?.valueBoolean === true,
    offered: offer?.status === 'completed',
    preference: reasonCode(offer, 'preference-'),
    contactCompleted: activity(plan, 'peer-contact')?.status === 'completed',
    appointment: appointment(plan, 'next-appointment', timeZone),
  };
}

/** A crisis-transition record (spec §3.3). */
export interface CrisisFacts extends PlanFacts {
  dischargeDate?: string;
  contactCompleted: boolean;
  appointment?: Appointment;
}

/** Reads a crisis-transition CarePlan. */
export function crisisFacts(plan: CarePlan, timeZone: string): CrisisFacts {
  return {
    ...planFacts(plan, timeZone),
    dischargeDate: localDate(plan.period?.start, timeZone),
    contactCompleted: activity(plan, 'peer-contact')?.status === 'completed',
    appointment: appointment(plan, 'first-appointment', timeZone),
  };
}

/** A step-down record (spec §3.2). */
export interface StepDownFacts extends PlanFacts {
  startDate?: string;
  goals: string[];
  feedbackScore?: number;
}

/** Reads a step-down CarePlan. */
export function stepDownFacts(plan: CarePlan, timeZone: string): StepDownFacts {
  const score = part(extension(plan, stepDownExtensions.personFeedback), 'score')?.valueInteger;
  return {
    ...planFacts(plan, timeZone),
    startDate: localDate(plan.period?.start, timeZone),
    goals: (plan.goal ?? []).map((g) => g.reference).filter((g): g is string => g !== undefined),
    ...(score !== undefined ? { feedbackScore: score } : {}),
  };
}

/** A concern-routing record (spec §3.4). */
export interface ConcernFacts extends PlanFacts {
  missedContacts: number;
}

/** Reads a concern-routing CarePlan. */
export function concernFacts(plan: CarePlan, timeZone: string): ConcernFacts {
  return { ...planFacts(plan, timeZone), missedContacts: part(extension(plan, concernRoutingExtensions.engagement), 'missedContacts')?.valueInteger ?? 0 };
}

/** A recovery-maintenance record (spec §3.6), read back from the CarePlan its mapper wrote (mapping/recovery-maintenance.ts). */
export interface RecoveryMaintenanceFacts extends PlanFacts {
  /** Local date the check-ins start (CarePlan.period.start = checkIns.start). */
  startDate?: string;
  missedCheckIns: number;
}

/** Reads a recovery-maintenance CarePlan. */
export function recoveryMaintenanceFacts(plan: CarePlan, timeZone: string): RecoveryMaintenanceFacts {
  return {
    ...planFacts(plan, timeZone),
    startDate: localDate(plan.period?.start, timeZone),
    missedCheckIns: part(extension(plan, recoveryMaintenanceExtensions.monitoring), 'missedCheckIns')?.valueInteger ?? 0,
  };
}

/** A Task as governance reads it. */
export interface TaskFacts {
  case: Case;
  task: Task;
  code?: string;
  patient?: string;
  authored?: string;
  /** When work on it began: executionPeriod.start, else lastModified once it moved on from requested. */
  actedAt?: string;
  /** Local date it was completed (status completed): executionPeriod.end, else lastModified, else the server's meta.lastUpdated. */
  completed?: string;
}

const actedStatuses = new Set<Task['status']>(['accepted', 'in-progress', 'completed', 'on-hold']);

/** Reads a Task. */
export function taskFacts(task: Task, timeZone: string): TaskFacts {
  const acted = actedStatuses.has(task.status) ? task.executionPeriod?.start ?? task.lastModified : undefined;
  return {
    case: caseOf(task),
    task,
    code: task.code?.coding?.find((c) => c.system === systems.pathway)?.code,
    patient: task.for?.reference,
    authored: localDate(task.authoredOn, timeZone),
    ...(acted ? { actedAt: acted } : {}),
    ...(task.status === 'completed' ? { completed: localDate(task.executionPeriod?.end ?? task.lastModified ?? task.meta?.lastUpdated, timeZone) } : {}),
  };
}

/** A dated event in a person's history: a re-contact, a review, a peer contact. */
export interface PersonEvent {
  patient?: string;
  date?: string;
  case: Case;
}

/** An Encounter as an event on its start date. */
export function encounterEvent(e: Encounter, timeZone: string): PersonEvent {
  return { patient: e.subject?.reference, date: localDate(e.period?.start, timeZone), case: caseOf(e) };
}

/** A blocked record's audit: when it was blocked and by which gates. */
export interface BlockedFacts {
  case: Case;
  recorded?: string;
  gates: string[];
}

/** Reads an AuditEvent of type record-blocked. */
export function blockedFacts(e: AuditEvent, timeZone: string): BlockedFacts {
  return {
    case: caseOf(e),
    recorded: localDate(e.recorded, timeZone),
    gates: (e.subtype ?? []).filter((c) => c.system === systems.gate && c.code).map((c) => c.code as string),
  };
}
