import type { Task } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import type { FhirClient } from '../fhir/client.js';
import { recordStatus, type RecordStatus } from './record-status.js';
import { searchAll } from '../fhir/lookup/search-all.js';
import { followUpPaging } from './search-pages.js';
import { taskOrigin } from './task-origin.js';
import { deliver, type WebhookTarget } from './webhook-delivery.js';

/** Versions of one Task read to find its state at the last poll: Tasks change a few times, not hundreds. */
const maxHistory = 50;

/** The body of one webhook delivery: the event, and the record's status view — nothing more. */
export interface TaskChangeEvent {
  event: { type: 'task-status-changed'; task: string };
  record: RecordStatus;
}

type Snapshot = Pick<Task, 'status'> & { business?: string };

function snapshot(t: Task): Snapshot {
  return { status: t.status, business: t.businessStatus?.coding?.[0]?.code };
}

/**
 * Watches the FHIR server for Tasks whose status or business status changed (a `_lastUpdated`
 * search from a cursor), and tells each change's source through its webhook. The cursor starts when
 * the service starts and lives in memory: a change made while no service ran is not pushed, and the
 * source still sees it by polling GET /pathway-records/{recordId}. Delivery is at least once (several
 * replicas each push): receivers deduplicate on the event id, `Task/<id>/_history/<version>`.
 */
export class TaskChangeNotifier {
  private cursor: string;
  /** Versions already handled whose lastUpdated equals the cursor (the search is `ge` the cursor). */
  private seenAtCursor = new Set<string>();

  constructor(
    private readonly fhir: () => FhirClient,
    private readonly targets: ReadonlyMap<string, WebhookTarget>,
    private readonly opts: { retryBaseMs: number; clock: () => Date; log: Logger },
  ) {
    this.cursor = opts.clock().toISOString();
  }

  /** True when at least one source registered a webhook. */
  get active(): boolean {
    return this.targets.size > 0;
  }

  /** One poll: finds Task changes since the last poll and delivers one event per change. */
  async poll(): Promise<{ delivered: string[]; failed: string[] }> {
    const result = { delivered: [] as string[], failed: [] as string[] };
    if (!this.active) return result;
    const fhir = this.fhir();
    const since = this.cursor;
    const { matches: resources } = await searchAll<Task>(fhir, 'Task', { _lastUpdated: `ge${since}` }, followUpPaging);
    const changed = resources
      .filter((t) => !this.seenAtCursor.has(versionKey(t)))
      .sort((a, b) => (a.meta?.lastUpdated ?? '').localeCompare(b.meta?.lastUpdated ?? ''));
    for (const task of changed) {
      const origin = taskOrigin(task);
      const target = origin && this.targets.get(origin.source);
      if (origin && target && (await this.statusChanged(fhir, task, since))) {
        const record = await recordStatus(fhir, origin.source, origin.recordId);
        const body: TaskChangeEvent | undefined = record && { event: { type: 'task-status-changed', task: `Task/${task.id}` }, record };
        const ok =
          body !== undefined &&
          (await deliver(target, versionKey(task), body, { retryBaseMs: this.opts.retryBaseMs, now: this.opts.clock }));
        (ok ? result.delivered : result.failed).push(versionKey(task));
        if (!ok)
          this.opts.log.warn({ event: versionKey(task) }, 'webhook: delivery failed after retries; the source can still poll the status');
      }
      this.advance(task);
    }
    return result;
  }

  /** Compares the Task with its newest version from before the last poll; a Task created since is not a change. */
  private async statusChanged(fhir: FhirClient, task: Task, since: string): Promise<boolean> {
    const history = await fhir.search(`Task/${task.id}/_history`, { _count: String(maxHistory) });
    const before = (history.entry ?? [])
      .flatMap((e) => (e.resource ? [e.resource as Task] : []))
      // Every version up to the cursor was seen by the last poll; this version itself was not.
      .filter((v) => v.meta?.versionId !== task.meta?.versionId && (v.meta?.lastUpdated ?? '') <= since)
      .sort((a, b) => (b.meta?.lastUpdated ?? '').localeCompare(a.meta?.lastUpdated ?? ''))[0];
    if (!before) return false;
    const [was, is] = [snapshot(before), snapshot(task)];
    return was.status !== is.status || was.business !== is.business;
  }

  private advance(task: Task): void {
    const at = task.meta?.lastUpdated;
    if (!at || at < this.cursor) return;
    if (at > this.cursor) {
      this.cursor = at;
      this.seenAtCursor = new Set();
    }
    this.seenAtCursor.add(versionKey(task));
  }
}

function versionKey(t: Task): string {
  return `Task/${t.id}/_history/${t.meta?.versionId}`;
}
