import type { Task } from '@medplum/fhirtypes';
import { exampleSource, fixture, type TestService } from '../harness.js';

/** The source system of every fixture. */
export const source = exampleSource;
/** The site's on-call route (mappings/site.json defaultClinicalRoute). */
export const onCall = 'PractitionerRole/example-on-call';

/**
 * An early-engagement record disclosing an immediate safety concern at `recordedAt`: it raises a stat
 * clinical-review Task (slot task/safety-review) due one hour later (mappings/routing.json).
 */
export function safetyRecord(recordId: string, recordedAt: string): any {
  const r = fixture('early-engagement', recordId);
  r.recordedAt = recordedAt;
  r.safety = { immediateConcernDisclosed: true, disclosedAt: recordedAt };
  return r;
}

/** Every Task with the business identifier `<recordId>/<slot>`. */
export function tasksBySlot(svc: TestService, recordId: string, slot: string): Promise<Task[]> {
  return svc.bySlot<Task>('Task', recordId, slot);
}

/** The one Task of a slot (throws when there is not exactly one). */
export async function taskOf(svc: TestService, recordId: string, slot: string): Promise<Task> {
  const found = await tasksBySlot(svc, recordId, slot);
  if (found.length !== 1) throw new Error(`${recordId}/${slot}: ${found.length} Tasks`);
  return found[0] as Task;
}

/** A clinician's move: PUT the Task with a new status, as an EHR would. */
export async function setStatus(svc: TestService, task: Task, status: Task['status']): Promise<Task> {
  const res = await svc.fhirRaw(`Task/${task.id}`, { method: 'PUT', body: JSON.stringify({ ...task, status }) });
  if (!res.ok) throw new Error(`PUT Task/${task.id}: ${res.status}`);
  return (await res.json()) as Task;
}

/** Number of stored versions of a Task. */
export async function versions(svc: TestService, task: Task): Promise<number> {
  const res = await svc.fhirRaw(`Task/${task.id}/_history`);
  return ((await res.json()) as { entry?: unknown[] }).entry?.length ?? 0;
}

/** `hours` after an ISO instant. */
export function at(iso: string, hours: number): Date {
  return new Date(new Date(iso).getTime() + hours * 3_600_000);
}
