import type { Coding, Task } from '@medplum/fhirtypes';
import { SiteTime } from '../mapping/instants.js';
import { followUpMarks, profileUrl, systems } from '../contract/vocabulary.js';

/** Where an adapter Task came from: its record and slot, read back from its business identifier. */
export interface TaskOrigin {
  /** The record's source.system (the identifier's system). */
  source: string;
  recordId: string;
  slot: string;
  /** The whole identifier value, `<recordId>/<slot>`. */
  value: string;
}

const taskProfile = profileUrl('peer-pathway-task');
const markCodes: ReadonlySet<string> = new Set(followUpMarks);

/**
 * The origin of a Task the adapter wrote, or undefined for anyone else's Task. A recordId never holds
 * a `/` (records/envelope.ts), so the identifier value splits unambiguously into recordId and slot.
 */
export function taskOrigin(task: Task): TaskOrigin | undefined {
  if (!task.meta?.profile?.includes(taskProfile)) return undefined;
  const id = task.identifier?.[0];
  const cut = id?.value?.indexOf('/') ?? -1;
  if (!id?.system || !id.value || cut <= 0) return undefined;
  return { source: id.system, recordId: id.value.slice(0, cut), slot: id.value.slice(cut + 1), value: id.value };
}

/** The Task's code in the pathway CodeSystem. */
export function pathwayCode(task: Task): string | undefined {
  return task.code?.coding?.find((c) => c.system === systems.pathway)?.code;
}

/** True when the follow-up scheduler already escalated this Task or reminded its owner. */
export function hasFollowUpMark(task: Task): boolean {
  return task.businessStatus?.coding?.some((c) => c.system === systems.pathway && markCodes.has(c.code ?? '')) ?? false;
}

/** The business status that records the scheduler's follow-up on a Task (the only field it changes). */
export function followUpMark(code: (typeof followUpMarks)[number]): Task['businessStatus'] {
  const coding: Coding = { system: systems.pathway, code };
  return { coding: [coding], text: code };
}

/**
 * When the Task is due: restriction.period.end. A date without a time is due at the end of that day in
 * the site's time zone (spec §8, mapping/instants.ts): nobody is overdue before their local day is over.
 */
export function dueTime(task: Task, timeZone: string): Date | undefined {
  const end = task.restriction?.period?.end;
  if (!end) return undefined;
  const due = new Date(new SiteTime(timeZone).dueMs(end));
  return Number.isNaN(due.getTime()) ? undefined : due;
}
