import { evalFhirPath } from '@medplum/core';
import type { Bundle, OperationOutcome, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import type { EscalationConfig } from '../config/followup-schema.js';
import type { Mappings } from '../config/mappings-schema.js';
import { WriteConflictError, type FhirClient } from '../fhir/client.js';
import { blockedAudits, blockedAuditSlotPrefix, existingSlots, lookUpRecord } from '../fhir/lookup/record-lookup.js';
import type { Resolution } from '../fhir/lookup/resolve.js';
import { planWrite, transactionOf, type PlannedEntry } from '../fhir/write/write-plan.js';
import { claimReleaseRoom, withRecordClaim, type RecordClaim } from '../fhir/record-claim.js';
import { handleType, handleWhen, retry } from 'cockatiel';
import { fhirBackoff, maxWriteAttempts, TransientFhirError, worthRetrying } from '../fhir/retry.js';
import { transactionLimitProblems } from '../fhir/write/transaction-limits.js';
import { evaluateGates, gateIssue, gatePassedIssue, structuralIssues, type GateResult } from '../gates/evaluate.js';
import type { Profile } from '../gates/load-profiles.js';
import { MappingContext, type MappedResource } from '../mapping/context.js';
import { gateBundle, mapRecord } from '../mapping/index.js';
import { slotFullUrl } from '../contract/identity.js';
import { buildBlockedAudit, buildProvenance } from '../mapping/resources/audit.js';
import { buildSafetyTask, safetyRaised } from '../mapping/triggers/safety.js';
import { AdapterError, issue, outcome } from '../outcomes/index.js';
import type { PathwayRecord } from '../records/index.js';
import { RecordLock } from './record-lock.js';
import { raiseSafetyAlone, safetyIssue } from './safety-first.js';
import { summarise, type RaisedTask, type WrittenResource } from './summary.js';

/** How often a write that met a concurrent change (409/412) is re-read and re-applied. */
const maxConflictAttempts = 3;

/** What the adapter needs to process records: its FHIR server, site configuration and compiled profiles. */
export interface Adapter {
  fhir: FhirClient;
  mappings: Mappings;
  profiles: ReadonlyMap<string, Profile>;
  lock: RecordLock;
  /** mappings/escalation.json, when the service runs the escalation job: its on-call route is checked by /ready. */
  escalation?: EscalationConfig;
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

/**
 * The issues of a record's answer, the same for the write (POST) and the dry run ($validate): each reason it
 * is blocked (failed gates, unresolved references), then each gate that passed — issue for issue, with
 * their codes, record fields and diagnostics.
 */
export function evaluationIssues(ev: Pick<Evaluation, 'gates' | 'blockers'>): OperationOutcomeIssue[] {
  return [...ev.blockers, ...ev.gates.filter((g) => g.passed).map(gatePassedIssue)];
}

function gateOutcome(ev: Pick<Evaluation, 'gates' | 'blockers'>): OperationOutcome {
  const issues = evaluationIssues(ev);
  return outcome(issues.length ? issues : [issue('gate-passed', 'informational', 'No gates apply.', undefined, 'information')]);
}

/** What the FHIR server says about a record, read before anything is decided: the only I/O before the write. */
export interface Lookups {
  /** The record's references, resolved and type-checked (fhir/resolve.ts), and which of them are peer roles. */
  resolution: Resolution;
  /** Slot → the resource an earlier send of the record wrote there (fhir/existing.ts). */
  existing: Map<string, Resource>;
}

/** A record mapped once, before its existing resources are known: other slots are named by their urn:uuid. */
export interface MappedRecord {
  ctx: MappingContext;
  resources: MappedResource[];
}

/** The one mapping of a record (mapping/index.ts); safety first is part of it (spec §4). */
export function mapOnce(record: PathwayRecord, resolution: Resolution, mappings: Mappings): MappedRecord {
  const ctx = new MappingContext(record, mappings, resolution.resolved, resolution.peerRoles);
  return { ctx, resources: mapRecord(ctx) };
}

/** A value with every string that names a slot by its urn:uuid replaced by the slot's existing `Type/id`. */
function rebased<T>(value: T, refs: ReadonlyMap<string, string>): T {
  if (typeof value === 'string') return (refs.get(value) ?? value) as T;
  if (Array.isArray(value)) return value.map((v) => rebased(v, refs)) as T;
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rebased(v, refs)])) as T;
  return value;
}

/**
 * The checks every Bundle the adapter writes passes, whatever built it (a record's one mapping, or a
 * follow-up job's escalation): base R4 and the cardinalities of each resource's profile (structural; not
 * run when a reference is unresolved: nothing routine is written then), and every gate of every profile
 * the Bundle and its resources claim, with the peer roles the lookups found (spec §3.5). Pure.
 */
export function checkBundle(
  bundle: Bundle,
  resolution: Pick<Resolution, 'problems' | 'peerRoles'>,
  profiles: ReadonlyMap<string, Profile>,
): { structural: OperationOutcomeIssue[]; gates: GateResult[] } {
  const structural = resolution.problems.length ? [] : structuralIssues(bundle, profiles);
  return { structural, gates: structural.length ? [] : evaluateGates(bundle, profiles, { peerRoles: resolution.peerRoles }) };
}

/** What a follow-up job is about to write, judged by the pure core: the Bundle, the gates, and why it may not be written. */
export interface FollowUpVerdict {
  bundle: Bundle;
  gates: GateResult[];
  /** Unresolved references of the lookups, structural problems, failed gates: any one and it is not written. */
  blockers: OperationOutcomeIssue[];
}

/**
 * The pure core for what the follow-up jobs build outside a record's mapping (the overdue escalation's
 * Task, the reminder): the same checkBundle as a record's resources, against the same profiles, with the
 * lookups of its references (fhir/lookup/resolve.ts) — one way to check a Task. Its issues are read with
 * evaluationIssues, as a record's answer. No I/O.
 */
export function assessFollowUp(
  resources: Resource[],
  lookups: { resolution: Pick<Resolution, 'problems' | 'peerRoles'> },
  profiles: ReadonlyMap<string, Profile>,
): FollowUpVerdict {
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: resources.map((resource) => ({ resource, request: { method: 'POST', url: resource.resourceType } })),
  };
  const { structural, gates } = checkBundle(bundle, lookups.resolution, profiles);
  const blockers = [...lookups.resolution.problems, ...structural, ...gates.filter((g) => !g.passed).map(gateIssue)];
  return { bundle, gates, blockers };
}

/**
 * The pure core of a record's way (no I/O): from the record mapped once and what the lookups found, the
 * gates' verdict, the write plan, the transaction Bundle and the answer's issues. The write, \$validate and
 * the CLI all come here through evaluateRecord, so what is previewed is what is written. References to
 * slots an earlier send already wrote are rebased from their urn:uuid to the resource's `Type/id`: the
 * mapping does not run again. Throws AdapterError 400 (a value FHIR refuses, traced to its record field)
 * or 413 (a transaction past the server's limits).
 */
export function assess(mapped: MappedRecord, lookups: Lookups, profiles: ReadonlyMap<string, Profile>): Evaluation {
  const { resolution, existing } = lookups;
  const record = mapped.ctx.record;
  const existingRefs = new Map([...existing].map(([slot, r]) => [slot, `${r.resourceType}/${r.id}`]));
  const ctx = new MappingContext(record, mapped.ctx.mappings, resolution.resolved, resolution.peerRoles, existingRefs);
  const byUrn = new Map([...existingRefs].map(([slot, ref]) => [slotFullUrl(record.source.system, record.recordId, slot), ref]));
  const resources = byUrn.size ? rebased(mapped.resources, byUrn) : mapped.resources;
  const full = gateBundle(ctx, resources);
  const references = resolution.problems;
  const { structural, gates } = checkBundle(full, resolution, profiles);
  if (structural.length) {
    // The schema follows FHIR's types, so this should not happen; were it to, the record's field is named (400).
    throw new AdapterError(400, outcome(traceToRecord(structural, full, record)));
  }
  const window = consentWindowNote(ctx, resources);
  const blockers = [
    ...references,
    ...gates
      .filter((g) => !g.passed)
      .map(gateIssue)
      .map((i) => withConsentWindow(i, window)),
  ];
  const plan = blockers.length ? blockedPlan(ctx, existing, gates) : acceptedPlan(ctx, resources, existing);
  const bundle = transactionOf(plan, (slot) => slotFullUrl(record.source.system, record.recordId, slot), full.meta?.profile?.[0]);
  // With room for the claim's release, added when it is sent (sendWithRelease): every write is fenced.
  const limits = transactionLimitProblems(bundle, undefined, claimReleaseRoom(record));
  if (limits.length) {
    // The schemas bound every list, but lists that each fit can together pass the limits: the sender hears it
    // (413, with the safety review raised on its own), not a 500.
    throw new AdapterError(
      413,
      outcome([
        issue(
          'payload-too-large',
          'too-costly',
          `The record maps to a transaction beyond the FHIR server's limits (${limits.join('; ')}); nothing routine was written. Send fewer list items.`,
        ),
      ]),
    );
  }
  return { ctx, mapped: resources, existing, gates, blockers, plan, bundle };
}

/**
 * Resolves, maps (once) and gates a record against what is on the FHIR server; writes nothing. One lookup
 * round trip (fhir/lookup/record-lookup.ts): the record's references and everything written for it before,
 * in one batch; the slots its one mapping names (a safety review included) are picked from that.
 */
export async function evaluateRecord(adapter: Adapter, record: PathwayRecord): Promise<Evaluation> {
  const { resolution, written } = await lookUpRecord(adapter.fhir, record, record, adapter.mappings.site);
  const mapped = mapOnce(record, resolution, adapter.mappings);
  const existing = await existingSlots(adapter.fhir, mapped.resources, written);
  for (const [slot, audit] of await blockedAudits(adapter.fhir, record, written)) if (!existing.has(slot)) existing.set(slot, audit);
  return assess(mapped, { resolution, existing }, adapter.profiles);
}

/** Record leaf values by path, to find the field a FHIR element came from. */
function leaves(value: unknown, path = ''): [string, unknown][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => leaves(v, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => leaves(v, path ? `${path}.${k}` : k));
  return [[path, value]];
}

/**
 * Names the record field behind a FHIR element that failed base-R4 validation (spec §8: never a 500):
 * the element's value is looked up among the record's values. `peerNotes` is never named (never leaves).
 */
export function traceToRecord(structural: OperationOutcomeIssue[], bundle: Bundle, record: PathwayRecord): OperationOutcomeIssue[] {
  const fields = leaves(record).filter(([path]) => path !== 'peerNotes');
  return structural.map((s) => {
    const at = s.expression?.[0] ?? '';
    const m = /^Bundle\.entry\[(\d+)\]\.resource\([A-Za-z]+\)\.(.*)$/.exec(at);
    const resource = m ? bundle.entry?.[Number(m[1])]?.resource : undefined;
    let values: unknown[] = [];
    try {
      values = resource && m?.[2] ? evalFhirPath(m[2], resource) : [];
    } catch {
      values = [];
    }
    const named = fields
      .filter(([, v]) => values.some((x) => x === v || (typeof x === 'string' && typeof v === 'string' && v.length > 3 && x.includes(v))))
      .map(([p]) => p);
    return issue(
      'mapping-invalid',
      'value',
      named.length
        ? `"${named.join('", "')}": the value does not make valid FHIR (${s.details?.text ?? 'invalid'}); correct it.`
        : `The record maps to a resource FHIR refuses at ${at} (${s.details?.text ?? 'invalid'}); check the record's dates, codes and texts.`,
      named.length ? named : [at],
    );
  });
}

/** The consent window, said in words, when a disclosure falls outside it (spec §3.5): added to a failed consent gate. */
function consentWindowNote(ctx: MappingContext, mapped: MappedResource[]): string | undefined {
  const { expires, recordedAt } = ctx.record.consent;
  const sent = mapped.flatMap((m) => (m.resource.resourceType === 'Communication' && m.resource.sent ? [m.resource.sent] : []));
  const times = sent.length ? sent : [ctx.record.recordedAt];
  const after = expires !== undefined ? times.find((t) => ctx.time.ms(t) >= ctx.time.endMs(expires)) : undefined;
  const before = recordedAt !== undefined ? times.find((t) => ctx.time.ms(t) < ctx.time.ms(recordedAt)) : undefined;
  const notes = [
    after !== undefined
      ? `The consent expired ${expires} (consent.expires), before the disclosure at ${after}: it grants nothing then.`
      : undefined,
    before !== undefined
      ? `The consent was recorded ${recordedAt} (consent.recordedAt), after the disclosure at ${before}: it grants nothing then.`
      : undefined,
  ].filter((n): n is string => n !== undefined);
  return notes.length ? notes.join(' ') : undefined;
}

function withConsentWindow(i: OperationOutcomeIssue, note: string | undefined): OperationOutcomeIssue {
  if (!note || !i.expression?.includes('consent')) return i;
  const text = `${i.details?.text ?? ''} ${note}`;
  return { ...i, details: { ...i.details, text } };
}

function acceptedPlan(ctx: MappingContext, mapped: MappedResource[], existing: Map<string, Resource>): PlannedEntry[] {
  const plan = planWrite(mapped, existing);
  const targets = plan.filter((p) => p.action === 'create' || p.action === 'update').map((p) => ({ reference: ctx.slotRef(p.slot) }));
  return targets.length ? [...plan, ...planWrite([buildProvenance(ctx, targets)], existing)] : plan;
}

/**
 * When the record was first sent (spec §6 "a record is dated by its first send"): the earliest of its
 * CarePlan's `created` (it was accepted before) and its earlier blocks' `period.start`; undefined on a
 * first send.
 */
function firstSent(existing: Map<string, Resource>): string | undefined {
  const dates = [...existing]
    .flatMap(([slot, r]) => {
      if (slot === 'careplan' && r.resourceType === 'CarePlan') return r.created ? [r.created] : [];
      return slot.startsWith(blockedAuditSlotPrefix) && r.resourceType === 'AuditEvent' && r.period?.start ? [r.period.start] : [];
    })
    .filter((d) => !Number.isNaN(Date.parse(d)));
  return dates.sort((a, b) => Date.parse(a) - Date.parse(b))[0];
}

/**
 * Blocked: nothing routine is written; the safety review (if any) and the audit of the block are. One
 * audit per set of gates failed (the same block again is the same event), each dated by the record's
 * first send: a record blocked again a month later stays in the month it was first sent (spec §6).
 */
function blockedPlan(ctx: MappingContext, existing: Map<string, Resource>, gates: GateResult[]): PlannedEntry[] {
  const failed = gates.filter((g) => !g.passed).map((g) => g.key);
  const safety = safetyRaised(ctx) ? [buildSafetyTask(ctx, { blocked: !existing.has('careplan') })] : [];
  const audit = buildBlockedAudit(
    ctx,
    failed.length ? failed : ['reference-unresolved'],
    new Date().toISOString(),
    firstSent(existing),
    existing.get('careplan')?.meta?.versionId,
  );
  return planWrite([...safety, audit], existing).map((p) =>
    p.slot.startsWith(blockedAuditSlotPrefix) && p.action === 'update' ? { ...p, action: 'unchanged' } : p,
  );
}

/** Processes one record: evaluates it, then writes the accepted resources, or the blocked record's safety review and audit. */
export async function processRecord(adapter: Adapter, record: PathwayRecord): Promise<RecordAnswer> {
  return adapter.lock.run(lockKey(record), async () => {
    try {
      // Across replicas: one writer per record at a time (issue 13; src/fhir/record-claim.ts).
      return await withRecordClaim(adapter.fhir, record, (claim) => writeWithRetries(adapter, record, claim));
    } catch (err) {
      throw await withSafetyFirst(adapter, { record }, err);
    }
  });
}

/** The key of a record's lock: one send of a record at a time, safety-only writes included. */
export function lockKey(record: { source: { system: string }; recordId: string }): string {
  return JSON.stringify([record.source.system, record.recordId]);
}

/**
 * Safety first when the routine write failed for anything but a busy or unreachable server (spec §4):
 * a field the mapping could not turn into FHIR (400), a size limit (413), a transaction the server
 * refused (502), a bug (500). The stat review is written on its own and the answer says so.
 */
export async function withSafetyFirst(adapter: Adapter, from: Parameters<typeof raiseSafetyAlone>[1], err: unknown): Promise<unknown> {
  const status = err instanceof AdapterError ? err.status : 500;
  if ([401, 403, 409, 429, 503].includes(status) || err instanceof TransientFhirError) return err;
  let note: OperationOutcomeIssue | undefined;
  try {
    note = safetyIssue(await raiseSafetyAlone(adapter, from));
  } catch {
    note = safetyIssue({ state: 'not-raised', reason: 'the FHIR server did not take the review either' });
  }
  if (!note || !(err instanceof AdapterError)) return err;
  return new AdapterError(err.status, outcome([...(err.outcome.issue ?? []), note]), err.retryAfter);
}

/** A transaction that failed in a way worth another try; its answer may have been lost after a commit. */
class UnsettledWrite extends Error {
  constructor(readonly failure: TransientFhirError) {
    super('transaction unsettled');
  }
}

/** A 409/412: re-read and re-applied at once (the change that beat us is already on the server). */
const conflictRetry = retry(handleType(WriteConflictError), { maxAttempts: maxConflictAttempts - 1 });

/** A transient failure of the transaction: re-read and re-sent after the backoff or the server's Retry-After. */
const unsettledRetry = retry(
  handleWhen((err) => err instanceof UnsettledWrite && worthRetrying(err)),
  { maxAttempts: maxWriteAttempts - 1, backoff: fhirBackoff },
);

/**
 * Evaluates and writes until the transaction lands. A 409/412 (someone changed a resource between our
 * read and our write) and a transient failure of the transaction (503, reset, timeout: the server may
 * have committed before the answer was lost) are both retried from the read, never by resending the
 * same Bundle: the next evaluation sees whatever did land and updates it instead of doubling it.
 * Reads are retried in place by the FhirClient, so their failures end the request here. The attempts
 * and waits are cockatiel's (fhir/retry.ts).
 */
async function writeWithRetries(adapter: Adapter, record: PathwayRecord, claim: RecordClaim): Promise<RecordAnswer> {
  try {
    return await unsettledRetry.execute(async () => {
      try {
        return await conflictRetry.execute(() => writeOnce(adapter, record, claim));
      } catch (err) {
        if (!(err instanceof WriteConflictError)) throw err;
        throw new AdapterError(
          409,
          outcome([issue('conflict', 'conflict', "The record's resources kept changing on the FHIR server while writing; send it again.")]),
          1,
        );
      }
    });
  } catch (err) {
    throw err instanceof UnsettledWrite ? err.failure : err;
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

/**
 * The record's transaction, with the release of its claim as one more entry (record-claim.ts RecordClaim):
 * one commit for both, and a send whose claim was taken over writes nothing.
 */
async function sendWithRelease(adapter: Adapter, bundle: Bundle, claim: RecordClaim): Promise<Bundle> {
  const release = await claim.releaseEntry();
  // evaluateRecord kept room for this entry (claimReleaseRoom): it fits.
  const withRelease: Bundle = { ...bundle, entry: [...(bundle.entry ?? []), release] };
  let response: Bundle;
  try {
    response = await send(adapter, withRelease);
  } catch (err) {
    await claim.notReleased(err instanceof WriteConflictError);
    throw err;
  }
  claim.released();
  return response;
}

async function writeOnce(adapter: Adapter, record: PathwayRecord, claim: RecordClaim): Promise<RecordAnswer> {
  const ev = await evaluateRecord(adapter, record);
  const response = ev.bundle.entry?.length ? await sendWithRelease(adapter, ev.bundle, claim) : undefined;
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
    operationOutcome: gateOutcome(ev),
  };
}
