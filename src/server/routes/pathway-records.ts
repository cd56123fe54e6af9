import { Router } from 'express';
import { withCorrelation } from '../errors.js';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { AdapterError, issue, outcome } from '../../outcomes/index.js';
import { dryRunParameters, dryRunShaped, rejectedRun } from '../../pipeline/dry-run.js';
import { lockKey, processRecord, withSafetyFirst, type Adapter, type RecordAnswer } from '../../pipeline/process-record.js';
import { recordRefusal } from '../../pipeline/refusal.js';
import { safetyEnvelopeOf } from '../../records/envelope.js';
import { parseContractShaped, toSenderIssue, type SourceApplied } from '../../records/aliases/index.js';
import type { PathwayRecord } from '../../records/index.js';
import { authorizeRecord } from '../auth/authorize.js';
import { bodyTooLarge, jsonBody, refusedTextOf, requireJson, tooLarge } from '../body.js';
import { contractShape, sourceAppliedOf } from '../source-mapping.js';

/**
 * The record, or the 400 naming every field; safety first (spec §4): when the refused record's envelope
 * is valid and discloses an immediate safety concern, the stat review is raised anyway and the 400 says so.
 */
async function parsed(
  adapter: Adapter,
  applied: SourceApplied,
  refusedText: OperationOutcomeIssue[] | undefined,
  tooLargeBody: boolean,
): Promise<PathwayRecord> {
  const result = tooLargeBody || refusedText ? { ok: false as const, issues: refusedText ?? [] } : parseContractShaped(applied);
  if (result.ok) return result.record;
  const refused = tooLargeBody ? tooLarge() : new AdapterError(400, outcome(result.issues));
  const envelope = safetyEnvelopeOf(applied.value, new Date());
  if (!envelope?.safety.immediateConcernDisclosed) throw refused;
  throw await adapter.lock.run(lockKey(envelope), () => withSafetyFirst(adapter, { value: applied.value }, refused));
}

/**
 * Every 400 an authenticated sender gets for a record is recorded for documentation burden (spec §6;
 * pipeline/refusal.ts: field paths only), here, where every refusal of POST /pathway-records passes —
 * the schema's, the JSON text's and a mapping's. A body that is not JSON at all is refused before the
 * caller is authenticated and is not recorded: nothing says who sent it. The 400 stands whatever the
 * FHIR server does with the record of it; when that fails, the answer says so.
 */
async function withRefusalRecorded(adapter: Adapter, value: unknown, err: unknown): Promise<unknown> {
  if (!(err instanceof AdapterError) || err.status !== 400) return err;
  const refused = (err.outcome.issue ?? []).filter(
    (i) => i.severity === 'error' && !i.details?.coding?.some((c) => c.code === 'safety-review-raised'),
  );
  try {
    await recordRefusal(adapter, value, refused);
    return err;
  } catch {
    return new AdapterError(
      400,
      outcome([
        ...(err.outcome.issue ?? []),
        issue(
          'fhir-unavailable',
          'informational',
          'The refusal could not be recorded for governance (the FHIR server did not take it); the record was not written.',
          undefined,
          'information',
        ),
      ]),
      err.retryAfter,
    );
  }
}

/** A blocked record's answer is an OperationOutcome: the failed gates, then what was raised anyway. */
function blockedOutcome(answer: RecordAnswer, applied: SourceApplied): OperationOutcome {
  const raised: OperationOutcomeIssue[] = answer.tasks.map((t) => ({
    ...issue(
      'safety-review-raised',
      'informational',
      `Raised despite the block (safety first): ${t.code} Task ${t.reference}, priority ${t.priority}, owner ${t.owner}.`,
      undefined,
      'information',
    ),
    diagnostics: t.reference,
  }));
  const failed = (answer.operationOutcome.issue ?? [])
    .filter((i) => i.severity === 'error')
    .map((i) => (applied.source ? toSenderIssue(applied.source, i) : i));
  return outcome([...failed, ...raised]);
}

/** POST /pathway-records and POST /pathway-records/$validate (spec §7). */
export function pathwayRecordsRouter(adapter: Adapter, maxBodyBytes: number): Router {
  const router = Router();
  router.post(
    '/pathway-records/\\$validate',
    requireJson,
    jsonBody(maxBodyBytes),
    contractShape(adapter),
    authorizeRecord('validate'),
    async (req, res) => {
      if (bodyTooLarge(res)) throw tooLarge();
      const refusedText = refusedTextOf(res);
      const run = refusedText
        ? rejectedRun(refusedText, sourceAppliedOf(res, req.body).value)
        : await dryRunShaped(adapter, sourceAppliedOf(res, req.body));
      res.status(200).json(dryRunParameters(run));
    },
  );
  router.post(
    '/pathway-records',
    requireJson,
    jsonBody(maxBodyBytes),
    contractShape(adapter),
    authorizeRecord('write'),
    async (req, res) => {
      const applied = sourceAppliedOf(res, req.body);
      let answer: RecordAnswer;
      try {
        answer = await processRecord(adapter, await parsed(adapter, applied, refusedTextOf(res), bodyTooLarge(res)));
      } catch (err) {
        throw await withRefusalRecorded(adapter, applied.value, err);
      }
      if (answer.status === 422) {
        res
          .status(422)
          .type('application/fhir+json')
          .json(withCorrelation(blockedOutcome(answer, applied), res.locals.correlationId as string | undefined));
        return;
      }
      const { status, ...body } = answer;
      res.status(status).json(body);
    },
  );
  return router;
}
