import { Router } from 'express';
import { withCorrelation } from '../errors.js';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { AdapterError, issue, outcome } from '../../outcomes/index.js';
import { dryRunParameters, dryRunShaped } from '../../pipeline/dry-run.js';
import { processRecord, type Adapter, type RecordAnswer } from '../../pipeline/process-record.js';
import { parseContractShaped, toSenderIssue, type SourceApplied } from '../../records/aliases/index.js';
import type { PathwayRecord } from '../../records/index.js';
import { authorizeRecord } from '../auth/authorize.js';
import { jsonBody, requireJson } from '../body.js';
import { contractShape, sourceAppliedOf } from '../source-mapping.js';

function parsed(applied: SourceApplied): PathwayRecord {
  const result = parseContractShaped(applied);
  if (!result.ok) throw new AdapterError(400, outcome(result.issues));
  return result.record;
}

/** A blocked record's answer is an OperationOutcome: the failed gates, then what was raised anyway. */
function blockedOutcome(answer: RecordAnswer, applied: SourceApplied): OperationOutcome {
  const raised: OperationOutcomeIssue[] = answer.tasks.map((t) => ({
    ...issue('safety-review-raised', 'informational',
      `Raised despite the block (safety first): ${t.code} Task ${t.reference}, priority ${t.priority}, owner ${t.owner}.`, undefined, 'information'),
    diagnostics: t.reference,
  }));
  const failed = (answer.operationOutcome.issue ?? []).filter((i) => i.severity === 'error')
    .map((i) => (applied.source ? toSenderIssue(applied.source, i) : i));
  return outcome([...failed, ...raised]);
}

/** POST /pathway-records and POST /pathway-records/$validate (spec §7). */
export function pathwayRecordsRouter(adapter: Adapter, maxBodyBytes: number): Router {
  const router = Router();
  router.post('/pathway-records/\\$validate', requireJson, jsonBody(maxBodyBytes), contractShape(adapter), authorizeRecord('validate'), async (req, res) => {
    res.status(200).json(dryRunParameters(await dryRunShaped(adapter, sourceAppliedOf(res, req.body))));
  });
  router.post('/pathway-records', requireJson, jsonBody(maxBodyBytes), contractShape(adapter), authorizeRecord('write'), async (req, res) => {
    const applied = sourceAppliedOf(res, req.body);
    const answer = await processRecord(adapter, parsed(applied));
    if (answer.status === 422) {
      res.status(422).type('application/fhir+json').json(withCorrelation(blockedOutcome(answer, applied), res.locals.correlationId as string | undefined));
      return;
    }
    const { status, ...body } = answer;
    res.status(status).json(body);
  });
  return router;
}
