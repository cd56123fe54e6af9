import type { AuditEvent, Bundle, CarePlan, Resource, Task } from '@medplum/fhirtypes';
import type { FhirClient } from '../fhir/client.js';
import { hasTag, tokenSearchValue } from '../fhir/lookup/search-values.js';
import { recordTag } from '../contract/identity.js';
import { systems } from '../contract/vocabulary.js';
import { taskView, type RaisedTask } from '../pipeline/summary.js';
import { taskOrigin } from './task-origin.js';

/**
 * Resources of each type read for one record. A record raises at most a handful of Tasks (and their
 * escalations) and is blocked under a handful of gate sets; more than this is not a record's status.
 */
const maxPerType = 50;

/** One Task as the sending system may see it: codes, owner, dates and statuses, never free text. */
export interface StatusTask extends RaisedTask {
  /** The owner's display name, when the reference carries one (e.g. "On-call duty clinician"). */
  ownerDisplay?: string;
  /** For an escalation: the Task it escalates. */
  escalates?: string;
}

/** The status of a record as its source may see it (GET /pathway-records/{recordId}). */
export interface RecordStatus {
  recordId: string;
  source: string;
  pathway?: string;
  /** accepted: the record's pathway resources are written; blocked: a gate stopped it (see blockedBy). */
  state: 'accepted' | 'blocked';
  /** The gates of the latest block, when blocked. */
  blockedBy?: string[];
  blockedAt?: string;
  tasks: StatusTask[];
}

/**
 * The status view of one record, from the FHIR server: its CarePlan (accepted), its blocked-record
 * AuditEvents (which gates), and every Task raised for it. Only codes, statuses, owners and due times
 * leave this function: no description, note, output or summary, so nothing consent does not cover.
 * Undefined when the source sent no such record.
 */
export async function recordStatus(fhir: FhirClient, source: string, recordId: string): Promise<RecordStatus | undefined> {
  const tag = recordTag(source, recordId);
  const token = `_tag=${encodeURIComponent(tokenSearchValue(tag.system!, tag.code!))}&_count=${maxPerType}`;
  const answer = await fhir.batch({
    resourceType: 'Bundle',
    type: 'batch',
    entry: [`CarePlan?${token}`, `Task?${token}`, `AuditEvent?${token}`].map((url) => ({ request: { method: 'GET' as const, url } })),
  });
  // Tag search may match codes case-insensitively: keep exactly this record's resources.
  const ofRecord = (i: number) => matches(answer.entry?.[i]?.resource).filter((r) => hasTag(r, tag.system!, tag.code!));
  const [carePlans, tasks, audits] = [ofRecord(0), ofRecord(1), ofRecord(2)];
  const blocks = (audits as AuditEvent[])
    .filter((a) => a.type?.system === systems.pathway && a.type.code === 'record-blocked')
    .sort((a, b) => (a.recorded ?? '').localeCompare(b.recorded ?? ''));
  const carePlan = carePlans[0] as CarePlan | undefined;
  if (!carePlan && !blocks.length && !tasks.length) return undefined;
  const lastBlock = blocks.at(-1);
  // A later block than the CarePlan's last write means the latest send was stopped by a gate.
  const blocked = !carePlan || (lastBlock?.recorded !== undefined && lastBlock.recorded > (carePlan.meta?.lastUpdated ?? ''));
  return {
    recordId,
    source,
    pathway: pathwayOf(carePlan, lastBlock),
    state: blocked ? 'blocked' : 'accepted',
    ...(blocked && lastBlock ? { blockedBy: (lastBlock.subtype ?? []).flatMap((c) => c.code ?? []), blockedAt: lastBlock.recorded } : {}),
    tasks: (tasks as Task[])
      .map(statusTask)
      .sort((a, b) => a.slot.localeCompare(b.slot))
      .map(({ slot: _slot, ...t }) => t),
  };
}

function statusTask(t: Task): StatusTask & { slot: string } {
  return {
    ...taskView(`Task/${t.id}`, t),
    ...(t.owner?.display ? { ownerDisplay: t.owner.display } : {}),
    ...(t.partOf?.[0]?.reference ? { escalates: t.partOf[0].reference } : {}),
    slot: taskOrigin(t)?.slot ?? '',
  };
}

function matches(resource: Resource | undefined): Resource[] {
  return resource?.resourceType === 'Bundle' ? ((resource as Bundle).entry ?? []).flatMap((e) => (e.resource ? [e.resource] : [])) : [];
}

function pathwayOf(carePlan: CarePlan | undefined, block: AuditEvent | undefined): string | undefined {
  const fromPlan = carePlan?.category?.flatMap((c) => c.coding ?? []).find((c) => c.system === systems.pathway)?.code;
  return fromPlan ?? block?.entity?.[0]?.name;
}
