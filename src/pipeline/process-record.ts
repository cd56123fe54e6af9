import type { Bundle, OperationOutcome, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import type { Mappings } from '../config/mappings-schema.js';
import { WriteConflictError, type FhirClient } from '../fhir/client.js';
import { findExisting } from '../fhir/existing.js';
import { resolveReferences, type Resolution } from '../fhir/resolve.js';
import { planWrite, transactionOf, type PlannedEntry } from '../fhir/write-plan.js';
import { backoffMs, maxHonouredWaitMs, maxWriteAttempts, sleep, TransientFhirError } from '../fhir/retry.js';
import { evaluateGates, gateIssue, structuralIssues, type GateResult } from '../gates/evaluate.js';
import type { Profile } from '../gates/load-profiles.js';
import { MappingContext, type MappedResource } from '../mapping/context.js';
import { gateBundle, mapRecord } from '../mapping/index.js';
import { slotFullUrl } from '../mapping/identity.js';
import { buildBlockedAudit, buildProvenance } from '../mapping/resources/audit.js';
import { buildSafetyTask, safetyRaised } from '../mapping/triggers/safety.js';
import { AdapterError, issue, outcome } from '../outcomes/index.js';
import type { PathwayRecord } from '../records/index.js';
import { RecordLock } from './record-lock.js';
import { summarise, type RaisedTask, type WrittenResource } from './summary.js';

/** How often a write that met a concurrent change (409/412) is re-read and re-applied. */
const maxConflictAttempts = 3;

/** What the adapter needs to process records: its FHIR server, site configuration and compiled profiles. */
export interface Adapter {
  fhir: FhirClient;
  mappings: Mappings;
  profiles: ReadonlyMap<string, Profile>;
  lock: RecordLock;
}

/** The answer to one record. */
export interface RecordAnswer {
  status: 200 | 201 | 422;
  recordId: string;
  pathway: string;
  outcome: 'created' | 'updated' | 'unchanged' | 'blocked';
  resources: WrittenResource[];
  tasks: RaisedTask[];
  /** The gate results and any reasons for a block. */
  operationOutcome: OperationOutcome;
}

/** Everything known about a record before anything is written: what the dry-run shows. */
export interface Evaluation {
  ctx: MappingContext;
  mapped: MappedResource[];
  existing: Map<string, Resource>;
  gates: GateResult[];
  /** Reasons the record is blocked: failed gates and unresolved references. */
  blockers: OperationOutcomeIssue[];
  plan: PlannedEntry[];
  bundle: Bundle;
}

function referenceIssues(resolution: Resolution): OperationOutcomeIssue[] {
  return resolution.problems;
}

function gateOutcome(gates: GateResult[], blockers: OperationOutcomeIssue[]): OperationOutcome {
  const passed = gates.filter((g) => g.passed).map((g) => ({
    ...issue('gate-passed', 'informational', `Gate ${g.key} passed.`, undefined, 'information'),
    details: { coding: [{ system: 'http://peer-pathways.example.org/fhir/CodeSystem/gate', code: g.key }], text: `Gate ${g.key} passed.` },
  }));
  return outcome(blockers.length ? [...blockers, ...passed] : passed.length ? passed : [issue('gate-passed', 'informational', 'No gates apply.', undefined, 'information')]);
}

/** Resolves, maps and gates a record against what is on the FHIR server; writes nothing. */
export async function evaluateRecord(adapter: Adapter, record: PathwayRecord): Promise<Evaluation> {
  const resolution = await resolveReferences(adapter.fhir, record, adapter.mappings.site);
  const first = new MappingContext(record, adapter.mappings, resolution.resolved, resolution.peerRoles);
  const existing = await findExisting(adapter.fhir, withSafety(first, mapRecord(first)));
  const existingRefs = new Map([...existing].map(([slot, r]) => [slot, `${r.resourceType}/${r.id}`]));
  const ctx = new MappingContext(record, adapter.mappings, resolution.resolved, resolution.peerRoles, existingRefs);
  const mapped = mapRecord(ctx);
  const full = gateBundle(ctx, mapped);
  const references = referenceIssues(resolution);
  // With an unresolved reference the record is blocked anyway; its mapped resources are never written.
  const structural = references.length ? [] : structuralIssues(full, adapter.profiles);
  if (structural.length) {
    // A mapped resource that breaks its profile is our bug or a bad mappings/ file, never the worker's.
    throw new AdapterError(500, outcome([issue('internal', 'exception',
      'The adapter produced a resource that does not meet its profile; nothing was written. Check mappings/ or report this.',
      structural.flatMap((s) => s.expression ?? []))]));
  }
  const gates = evaluateGates(full, adapter.profiles, { peerRoles: resolution.peerRoles });
  const blockers = [...references, ...gates.filter((g) => !g.passed).map(gateIssue)];
  const plan = blockers.length ? blockedPlan(ctx, existing, gates) : acceptedPlan(ctx, mapped, existing);
  const bundle = transactionOf(plan, (slot) => slotFullUrl(record.source.system, record.recordId, slot), full.meta?.profile?.[0]);
  return { ctx, mapped, existing, gates, blockers, plan, bundle };
}

/** The safety slot must be looked up even when the accepted mapping does not raise it (blocked path). */
function withSafety(ctx: MappingContext, mapped: MappedResource[]): MappedResource[] {
  return safetyRaised(ctx) ? [...mapped, buildSafetyTask(ctx, { blocked: true })] : mapped;
}

function acceptedPlan(ctx: MappingContext, mapped: MappedResource[], existing: Map<string, Resource>): PlannedEntry[] {
  const plan = planWrite(mapped, existing);
  const targets = plan.filter((p) => p.action === 'create' || p.action === 'update').map((p) => ({ reference: ctx.slotRef(p.slot) }));
  return targets.length ? [...plan, ...planWrite([buildProvenance(ctx, targets)], existing)] : plan;
}

/** Blocked: nothing routine is written; the safety review (if any) and the audit of the block are. */
function blockedPlan(ctx: MappingContext, existing: Map<string, Resource>, gates: GateResult[]): PlannedEntry[] {
  const failed = gates.filter((g) => !g.passed).map((g) => g.key);
  const safety = safetyRaised(ctx) ? [buildSafetyTask(ctx, { blocked: !existing.has('careplan') })] : [];
  const audit = buildBlockedAudit(ctx, failed.length ? failed : ['reference-unresolved'], new Date().toISOString());
  return planWrite([...safety, audit], existing).map((p) => p.slot.startsWith('audit/blocked/') && p.action === 'update' ? { ...p, action: 'unchanged' } : p);
}

/** Processes one record: evaluates it, then writes the accepted resources, or the blocked record's safety review and audit. */
export async function processRecord(adapter: Adapter, record: PathwayRecord): Promise<RecordAnswer> {
  return adapter.lock.run(`${record.source.system}|${record.recordId}`, () => writeWithRetries(adapter, record));
}

/** A transaction that failed in a way worth another try; its answer may have been lost after a commit. */
class UnsettledWrite extends Error {
  constructor(readonly failure: TransientFhirError) {
    super('transaction unsettled');
  }
}

/**
 * Evaluates and writes until the transaction lands. A 409/412 (someone changed a resource between our
 * read and our write) and a transient failure of the transaction (503, reset, timeout: the server may
 * have committed before the answer was lost) are both retried from the read, never by resending the
 * same Bundle: the next evaluation sees whatever did land and updates it instead of doubling it.
 * Reads are retried in place by the FhirClient, so their failures end the request here.
 */
async function writeWithRetries(adapter: Adapter, record: PathwayRecord): Promise<RecordAnswer> {
  let conflicts = 0;
  let failures = 0;
  for (;;) {
    try {
      return await writeOnce(adapter, record);
    } catch (err) {
      if (err instanceof WriteConflictError) {
        if (++conflicts < maxConflictAttempts) continue;
        throw new AdapterError(409, outcome([issue('conflict', 'conflict', 'The record\'s resources kept changing on the FHIR server while writing; send it again.')]), 1);
      }
      if (!(err instanceof UnsettledWrite)) throw err;
      const wait = backoffMs(++failures, err.failure.retryAfterMs);
      if (failures >= maxWriteAttempts || wait > maxHonouredWaitMs) throw err.failure;
      await sleep(wait);
    }
  }
}

/** Sends the transaction; a transient failure becomes an UnsettledWrite for writeWithRetries. */
async function send(adapter: Adapter, bundle: Bundle): Promise<Bundle> {
  try {
    return await adapter.fhir.transaction(bundle);
  } catch (err) {
    throw err instanceof TransientFhirError ? new UnsettledWrite(err) : err;
  }
}

async function writeOnce(adapter: Adapter, record: PathwayRecord): Promise<RecordAnswer> {
  const ev = await evaluateRecord(adapter, record);
  const response = ev.bundle.entry?.length ? await send(adapter, ev.bundle) : undefined;
  const { resources, tasks } = summarise(ev.plan, response);
  const blocked = ev.blockers.length > 0;
  const created = ev.plan.some((p) => p.slot === 'careplan' && p.action === 'create');
  const changed = ev.plan.some((p) => p.action === 'create' || p.action === 'update');
  return {
    status: blocked ? 422 : created ? 201 : 200,
    recordId: record.recordId,
    pathway: record.pathway,
    outcome: blocked ? 'blocked' : created ? 'created' : changed ? 'updated' : 'unchanged',
    resources,
    tasks,
    operationOutcome: gateOutcome(ev.gates, ev.blockers),
  };
}
