import type { Bundle, OperationOutcome, OperationOutcomeIssue, Parameters, Task } from '@medplum/fhirtypes';
import type { SourceMapping } from '../config/source-schema.js';
import { AdapterError, issue, outcome } from '../outcomes/index.js';
import { parseContractShaped, toContractShape, toSenderIssue, type SourceApplied } from '../records/aliases/index.js';
import { safetyEnvelopeOf } from '../records/envelope.js';
import { evaluateRecord, evaluationIssues, type Adapter } from './process-record.js';

/** What a dry run found: the verdict, every issue and gate result, and the Bundle a write would send. */
export interface DryRun {
  result: 'accepted' | 'blocked' | 'rejected';
  outcome: OperationOutcome;
  /** Exactly the transaction a POST /pathway-records of the same record would send now (absent when rejected). */
  bundle?: Bundle;
}

/** A blocked record still raises its safety review (spec §4): the dry run says so, as the write's 422 does. */
function raisedDespiteBlock(bundle: Bundle): OperationOutcomeIssue[] {
  return (bundle.entry ?? [])
    .map((e) => e.resource)
    .filter((r): r is Task => r?.resourceType === 'Task')
    .map((t) =>
      issue(
        'safety-review-raised',
        'informational',
        `Would be raised despite the block (safety first): ${t.code?.coding?.[0]?.code} Task, priority ${t.priority}, owner ${t.owner?.reference ?? t.owner?.display}.`,
        undefined,
        'information',
      ),
    );
}

function inSenderTerms(source: SourceMapping | undefined, issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  return source ? issues.map((i) => toSenderIssue(source, i)) : issues;
}

/**
 * Checks a record as it was sent — source mapping, schema, references, gates — and builds the
 * transaction that a write would send, writing nothing. The write path runs the same evaluateRecord,
 * so what is previewed is what is written.
 */
export async function dryRun(adapter: Adapter, body: unknown, requestedSource?: string): Promise<DryRun> {
  return dryRunShaped(adapter, toContractShape(body, adapter.mappings, requestedSource));
}

/** dryRun for a record its source mapping was already applied to (the HTTP route does that first). */
export async function dryRunShaped(adapter: Adapter, applied: SourceApplied): Promise<DryRun> {
  const parsed = parseContractShaped(applied);
  if (!parsed.ok) return rejectedRun(parsed.issues, applied.value);
  let ev;
  try {
    ev = await evaluateRecord(adapter, parsed.record);
  } catch (err) {
    // A field the mapping could not turn into FHIR, or a transaction too large: the record is refused, as a write would refuse it.
    if (err instanceof AdapterError && (err.status === 400 || err.status === 413)) {
      return { result: 'rejected', outcome: outcome(inSenderTerms(parsed.source, err.outcome.issue ?? [])) };
    }
    throw err;
  }
  const blocked = ev.blockers.length > 0;
  // The write's answer has exactly these issues (evaluationIssues); a dry run adds what safety first would raise.
  const issues = [...evaluationIssues(ev), ...(blocked ? raisedDespiteBlock(ev.bundle) : [])];
  return { result: blocked ? 'blocked' : 'accepted', outcome: outcome(inSenderTerms(parsed.source, issues)), bundle: ev.bundle };
}

/**
 * A refused record's dry run. As the write would (spec §4), it says when the stat review would still be
 * raised: the refused value's envelope is valid and discloses an immediate safety concern.
 */
export function rejectedRun(issues: OperationOutcomeIssue[], value: unknown): DryRun {
  const disclosed = safetyEnvelopeOf(value, new Date())?.safety.immediateConcernDisclosed === true;
  const note = disclosed
    ? [
        issue(
          'safety-review-raised',
          'informational',
          'Would be raised despite the refusal (safety first): a stat clinical-review Task, when the person resolves on the FHIR server.',
          undefined,
          'information',
        ),
      ]
    : [];
  return { result: 'rejected', outcome: outcome([...issues, ...note]) };
}

/** A dry run as the FHIR Parameters answer of $validate: result, outcome, bundle. */
export function dryRunParameters(run: DryRun): Parameters {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'result', valueCode: run.result },
      { name: 'outcome', resource: run.outcome },
      ...(run.bundle ? [{ name: 'bundle', resource: run.bundle }] : []),
    ],
  };
}
