import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { existingSlots, lookUpRecord } from '../fhir/lookup/record-lookup.js';
import { withRecordClaim } from '../fhir/record-claim.js';
import { planWrite, transactionOf } from '../fhir/write/write-plan.js';
import { MappingContext } from '../mapping/context.js';
import { slotFullUrl } from '../contract/identity.js';
import { buildSafetyTask, safetyRaised, safetySlot } from '../mapping/triggers/safety.js';
import { issue } from '../outcomes/index.js';
import { safetyEnvelopeOf, type EnvelopeRecord } from '../records/envelope.js';
import type { PathwayRecord } from '../records/index.js';
import type { Adapter } from './process-record.js';
import { summarise, type RaisedTask } from './summary.js';

/** What safety first did for a record whose routine write could not happen. */
export type SafetyAlone = { state: 'not-disclosed' } | { state: 'raised'; task: RaisedTask } | { state: 'not-raised'; reason: string };

/** The envelope fields whose references the safety review needs: nothing else is resolved. */
function envelopeReferences(r: EnvelopeRecord): object {
  return { person: r.person, peerSpecialist: r.peerSpecialist, ...(r.escalationRoute ? { escalationRoute: r.escalationRoute } : {}) };
}

/**
 * Writes the stat clinical-review Task on its own (spec §4 "Safety first"), when the routine write of the
 * record cannot happen: the schema refused it elsewhere than its envelope, its mapping or validation
 * failed, it is too large, or the FHIR server refused the transaction. Built from the envelope alone
 * (safety/triggers): it depends on nothing after it. Its slot is the safety slot every send uses, so a
 * resend of the corrected record finds this Task and keeps it (updated in place, or left alone once a
 * clinician moved it on). Nothing is written when the person does not resolve: there is no one to raise
 * it for; the answer says so. The caller holds the record's lock; this takes the record's claim
 * (record-claim.ts) across processes.
 */
export async function raiseSafetyAlone(
  adapter: Adapter,
  from: { record: PathwayRecord } | { value: unknown },
  now = new Date(),
): Promise<SafetyAlone> {
  const record: EnvelopeRecord | undefined = 'record' in from ? from.record : safetyEnvelopeOf(from.value, now);
  if (!record) return { state: 'not-disclosed' };
  // Under the record's claim, as every write of a record: the caller's lock holds only within this process,
  // and two workers or replicas given the same refused record at once each raised a review (H5).
  return withRecordClaim(adapter.fhir, record, () => raiseUnderClaim(adapter, from, record));
}

async function raiseUnderClaim(
  adapter: Adapter,
  from: { record: PathwayRecord } | { value: unknown },
  record: EnvelopeRecord,
): Promise<SafetyAlone> {
  // One round trip: the envelope's references and the record's Tasks and CarePlan (the safety slot, and whether the record was accepted).
  const { resolution, written } = await lookUpRecord(adapter.fhir, record, envelopeReferences(record), adapter.mappings.site, [
    'Task',
    'CarePlan',
  ]);
  const probe = new MappingContext<EnvelopeRecord>(record, adapter.mappings, resolution.resolved, resolution.peerRoles);
  const raised = 'record' in from ? safetyRaised(probe) : record.safety.immediateConcernDisclosed;
  if (!raised) return { state: 'not-disclosed' };
  if (!resolution.resolved.has('person')) return { state: 'not-raised', reason: 'the person does not resolve on the FHIR server' };
  const careplan: Resource = { resourceType: 'CarePlan', identifier: [probe.identifier('careplan')] } as Resource;
  const existing = await existingSlots(
    adapter.fhir,
    [
      { slot: safetySlot, resource: buildSafetyTask(probe, { blocked: true }).resource },
      { slot: 'careplan', resource: careplan },
    ],
    written,
  );
  const existingRefs = new Map([...existing].map(([slot, r]) => [slot, `${r.resourceType}/${r.id}`]));
  const ctx = new MappingContext<EnvelopeRecord>(record, adapter.mappings, resolution.resolved, resolution.peerRoles, existingRefs);
  const task = buildSafetyTask(ctx, { blocked: !existing.has('careplan') });
  const plan = planWrite([task], new Map([...existing].filter(([slot]) => slot === safetySlot)));
  const bundle = transactionOf(plan, (slot) => slotFullUrl(record.source.system, record.recordId, slot));
  const response = bundle.entry?.length ? await adapter.fhir.transaction(bundle) : undefined;
  const raisedTask = summarise(plan, response).tasks[0];
  return raisedTask ? { state: 'raised', task: raisedTask } : { state: 'not-raised', reason: 'the review could not be built' };
}

/** The issue that tells the caller what safety first did, appended to a 400/413/422/502 answer. */
export function safetyIssue(result: SafetyAlone): OperationOutcomeIssue | undefined {
  if (result.state === 'raised') {
    const t = result.task;
    return {
      ...issue(
        'safety-review-raised',
        'informational',
        `Raised despite the refusal (safety first): ${t.code} Task ${t.reference}, priority ${t.priority}, owner ${t.owner}. A corrected resend keeps this Task.`,
        undefined,
        'information',
      ),
      diagnostics: t.reference,
    };
  }
  if (result.state === 'not-raised') {
    return issue(
      'safety-review-raised',
      'incomplete',
      `An immediate safety concern was disclosed but no review could be raised: ${result.reason}. Contact the clinical route directly.`,
      ['person'],
    );
  }
  return undefined;
}
