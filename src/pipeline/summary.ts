import type { Bundle, Resource, Task } from '@medplum/fhirtypes';
import type { PlannedEntry, SlotAction } from '../fhir/write/write-plan.js';

/** One resource in an answer: what it is on the server, and what this send did to it. */
export interface WrittenResource {
  slot: string;
  reference: string;
  versionId?: string;
  action: 'created' | 'updated' | 'unchanged' | 'kept';
}

/** One Task raised for the record, as the caller (and the peer's system) needs to see it. */
export interface RaisedTask {
  reference: string;
  code?: string;
  priority?: string;
  status?: string;
  businessStatus?: string;
  owner?: string;
  due?: string;
}

const actionWord: Record<SlotAction, WrittenResource['action']> = {
  create: 'created',
  update: 'updated',
  unchanged: 'unchanged',
  kept: 'kept',
};

/** Pairs the plan with the server's transaction-response (same order as the written entries). */
export function summarise(plan: PlannedEntry[], response?: Bundle): { resources: WrittenResource[]; tasks: RaisedTask[] } {
  const written = plan.filter((p) => p.action === 'create' || p.action === 'update');
  const resultBySlot = new Map<string, Resource | undefined>();
  written.forEach((p, i) => resultBySlot.set(p.slot, serverResource(response?.entry?.[i])));
  const resources: WrittenResource[] = [];
  const tasks: RaisedTask[] = [];
  for (const p of plan) {
    // A server may answer with the resource or only its location: overlay what it gave on what we sent.
    const r = { ...(p.existing && p.action !== 'update' ? p.existing : p.resource), ...resultBySlot.get(p.slot) } as Resource;
    const reference = `${r.resourceType}/${r.id}`;
    resources.push({ slot: p.slot, reference, versionId: r.meta?.versionId, action: actionWord[p.action] });
    if (r.resourceType === 'Task') tasks.push(taskView(reference, r as Task));
  }
  return { resources, tasks };
}

function serverResource(entry: NonNullable<Bundle['entry']>[number] | undefined): Resource | undefined {
  if (entry?.resource) return entry.resource;
  const location = entry?.response?.location?.match(/([A-Za-z]+)\/([^/]+)\/_history\/([^/]+)/);
  return location ? ({ resourceType: location[1], id: location[2], meta: { versionId: location[3] } } as Resource) : undefined;
}

/** The status view of a Task: codes, owner and dates only, never free text. */
export function taskView(reference: string, t: Task): RaisedTask {
  return {
    reference,
    code: t.code?.coding?.[0]?.code,
    priority: t.priority,
    status: t.status,
    businessStatus: t.businessStatus?.coding?.[0]?.code,
    owner: t.owner?.reference,
    due: t.restriction?.period?.end,
  };
}
