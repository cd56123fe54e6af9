import type { Bundle, BundleEntry, CarePlan, Resource, Task } from '@medplum/fhirtypes';
import type { MappedResource } from '../../contract/mapped.js';
import { extensions, followUpMarks, indexMonthSystem, indexMonthTag, systems } from '../../contract/vocabulary.js';

/** What happens to one slot on this send. */
export type SlotAction = 'create' | 'update' | 'unchanged' | 'kept';

/** One planned entry of the write. */
export interface PlannedEntry {
  slot: string;
  action: SlotAction;
  resource: Resource;
  existing?: Resource;
}

/**
 * Task statuses that mean nobody has acted on the Task yet. Once anyone has moved a Task on, a resend
 * never touches it again: `received` and `ready` are the filler's moves in the FHIR Task state machine
 * (the performer saw it, or it is ready to be worked), so a resend writing `requested` would move it back.
 * The adapter's own `completed` and `on-hold` are kept too: a later send never reopens them.
 */
const untouchedTaskStatuses = new Set<Task['status']>(['draft', 'requested']);

const markCodes: ReadonlySet<string> = new Set(followUpMarks);

/** A resend keeps the follow-up scheduler's mark (escalated, reminder sent) on a Task it updates. */
function keepFollowUpMark(next: Resource, prior: Resource): Resource {
  if (prior.resourceType !== 'Task' || next.resourceType !== 'Task') return next;
  const mark = prior.businessStatus?.coding?.find((c) => c.system === systems.pathway && markCodes.has(c.code ?? ''));
  return mark ? { ...next, businessStatus: prior.businessStatus } : next;
}

function ms(value: string | undefined): number | undefined {
  const t = value === undefined ? NaN : Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

// FHIR request-priority, least to most urgent.
const urgency: readonly NonNullable<Task['priority']>[] = ['routine', 'urgent', 'asap', 'stat'];

function moreUrgent(a: Task['priority'], b: Task['priority']): Task['priority'] {
  return urgency.indexOf(a ?? 'routine') >= urgency.indexOf(b ?? 'routine') ? a : b;
}

/**
 * A resend updates content, never the dates of the first send (spec §6 "a record is dated by its first
 * send"): a Task keeps when it was raised (`authoredOn`), a CarePlan the date it counts under
 * (`created`), a Communication when it was sent (`sent`). For a Task nobody has acted on yet (the only kind a resend updates):
 * - its due time never moves later (hazard H2): a due time counted from the send (a review due hours after
 *   `recordedAt`) keeps the earliest of the one already on the Task and the new one, so a resend a day
 *   later, or one whose rule gives a shorter lead (urgent → stat), can never push a review back from being
 *   overdue; a due time that is a date the record names (`dueFollowsRecord`: a rebooked appointment, a
 *   rescheduled review date) follows the record;
 * - its priority never silently downgrades: the more urgent of the two stands (stat stays stat when a
 *   resend clears the crisis-risk flag) — the clinician who takes the Task decides that, not a resend.
 */
function keepFirstSendDates(next: Resource, prior: Resource, dueFollowsRecord: boolean): Resource {
  if (next.resourceType === 'CarePlan' && prior.resourceType === 'CarePlan')
    return keepIndexDate({ ...next, ...(prior.created ? { created: prior.created } : {}) }, prior);
  // A notification was sent when it was first sent: a routed concern counts under that date (spec §6 escalation use).
  if (next.resourceType === 'Communication' && prior.resourceType === 'Communication' && prior.sent) return { ...next, sent: prior.sent };
  if (next.resourceType !== 'Task' || prior.resourceType !== 'Task') return next;
  const kept: Task = {
    ...next,
    ...(prior.authoredOn ? { authoredOn: prior.authoredOn } : {}),
    priority: moreUrgent(prior.priority, next.priority),
  };
  const [nextDue, priorDue] = [ms(next.restriction?.period?.end), ms(prior.restriction?.period?.end)];
  const earlier = !dueFollowsRecord && priorDue !== undefined && (nextDue === undefined || priorDue <= nextDue);
  return earlier ? { ...kept, restriction: prior.restriction } : kept;
}

/**
 * A CarePlan keeps the date it counts under (the `index-date` extension, and the index-month tag that
 * files it: buildCarePlan) from the send that first wrote it. A CarePlan written before the extension
 * existed takes this send's.
 */
function keepIndexDate(next: CarePlan, prior: CarePlan): CarePlan {
  const first = prior.extension?.find((e) => e.url === extensions.indexDate);
  const month = first?.valueDateTime ? indexMonthTag(first.valueDateTime) : undefined;
  if (!first || !month) return next;
  const extension = [...(next.extension ?? []).filter((e) => e.url !== extensions.indexDate), first];
  const tag = [...(next.meta?.tag ?? []).filter((t) => t.system !== indexMonthSystem), month];
  return { ...next, extension, meta: { ...next.meta, tag } };
}

/** An earlier send's Task this send withdraws (MappedResource.withdrawn): cancelled, saying why, the rest as it was. */
function withdrawnTask(prior: Task, reason: string): Task {
  const text = `Withdrawn: ${reason}`;
  return {
    ...prior,
    status: 'cancelled',
    statusReason: { text: reason },
    note: [...(prior.note ?? []).filter((n) => !n.text?.startsWith('Withdrawn: ')), { text }],
  };
}

/** Field-by-field comparison that ignores what the server adds (id, meta other than profile and tag). */
function comparable(resource: Resource): string {
  const { id: _id, meta, ...rest } = resource as Resource & { id?: string };
  return stableJson({ ...rest, profile: meta?.profile, tag: meta?.tag });
}

function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

/** Decides, slot by slot, whether this send creates, updates, leaves alone, or keeps a clinician's Task. */
export function planWrite(mapped: MappedResource[], existing: ReadonlyMap<string, Resource>): PlannedEntry[] {
  // A withdrawal with nothing written before is nothing at all.
  return mapped
    .filter((m) => !m.withdrawn || existing.has(m.slot))
    .map(({ slot, resource, dueFollowsRecord, withdrawn }) => {
      const prior = existing.get(slot);
      if (!prior) return { slot, action: 'create', resource };
      // The audit trail is append-only (the embedded server refuses any change, as a real one should):
      // an audit record, once written, stands as it was recorded; what differs materially gets a slot of its own.
      if (prior.resourceType === 'AuditEvent' || prior.resourceType === 'Provenance') {
        return { slot, action: 'unchanged', resource: prior, existing: prior };
      }
      if (prior.resourceType === 'Task' && !untouchedTaskStatuses.has((prior as Task).status)) {
        return { slot, action: 'kept', resource: prior, existing: prior };
      }
      if (withdrawn && prior.resourceType === 'Task') {
        return { slot, action: 'update', resource: withdrawnTask(prior as Task, withdrawn.reason), existing: prior };
      }
      const next = keepFirstSendDates(keepFollowUpMark({ ...resource, id: prior.id } as Resource, prior), prior, dueFollowsRecord === true);
      return { slot, action: comparable(next) === comparable(prior) ? 'unchanged' : 'update', resource: next, existing: prior };
    });
}

/** The transaction Bundle of a plan: creates as POST with urn:uuid fullUrls, updates as PUT with If-Match. */
export function transactionOf(plan: PlannedEntry[], fullUrlOf: (slot: string) => string, profile?: string): Bundle {
  const entry: BundleEntry[] = plan
    .filter((p) => p.action === 'create' || p.action === 'update')
    .map((p) =>
      p.action === 'create'
        ? { fullUrl: fullUrlOf(p.slot), resource: p.resource, request: { method: 'POST', url: p.resource.resourceType } }
        : {
            fullUrl: `${p.resource.resourceType}/${p.resource.id}`,
            resource: p.resource,
            request: { method: 'PUT', url: `${p.resource.resourceType}/${p.resource.id}`, ifMatch: `W/"${p.existing?.meta?.versionId}"` },
          },
    );
  return { resourceType: 'Bundle', type: 'transaction', ...(profile ? { meta: { profile: [profile] } } : {}), entry };
}
