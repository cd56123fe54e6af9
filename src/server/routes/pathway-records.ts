import { Router } from 'express';
import type { OperationOutcome, OperationOutcomeIssue, Parameters } from '@medplum/fhirtypes';
import { AdapterError, issue, outcome } from '../../outcomes/index.js';
import { evaluateRecord, processRecord, type Adapter, type RecordAnswer } from '../../pipeline/process-record.js';
import { parseRecord, type PathwayRecord } from '../../records/index.js';
import { jsonBody, requireJson } from '../body.js';

function parsed(body: unknown): PathwayRecord {
  const result = parseRecord(body);
  if (!result.ok) throw new AdapterError(400, outcome(result.issues));
  return result.record;
}

/** A blocked record's answer is an OperationOutcome: the failed gates, then what was raised anyway. */
function blockedOutcome(answer: RecordAnswer): OperationOutcome {
  const raised: OperationOutcomeIssue[] = answer.tasks.map((t) => ({
    ...issue('safety-review-raised', 'informational',
      `Raised despite the block (safety first): ${t.code} Task ${t.reference}, priority ${t.priority}, owner ${t.owner}.`, undefined, 'information'),
    diagnostics: t.reference,
  }));
  const failed = (answer.operationOutcome.issue ?? []).filter((i) => i.severity === 'error');
  return outcome([...failed, ...raised]);
}

/** POST /pathway-records and POST /pathway-records/$validate (spec §7). */
export function pathwayRecordsRouter(adapter: Adapter, maxBodyBytes: number): Router {
  const router = Router();
  router.post('/pathway-records/\\$validate', requireJson, jsonBody(maxBodyBytes), async (req, res) => {
    const result = parseRecord(req.body);
    if (!result.ok) {
      res.status(200).json(validationAnswer('rejected', outcome(result.issues)));
      return;
    }
    const ev = await evaluateRecord(adapter, parsed(req.body));
    const oo = outcome([...ev.blockers, ...ev.gates.filter((g) => g.passed).map((g) => issue('gate-passed', 'informational', `Gate ${g.key} passed.`, undefined, 'information'))]);
    res.status(200).json(validationAnswer(ev.blockers.length ? 'blocked' : 'accepted', oo, ev.bundle));
  });
  router.post('/pathway-records', requireJson, jsonBody(maxBodyBytes), async (req, res) => {
    const answer = await processRecord(adapter, parsed(req.body));
    if (answer.status === 422) {
      res.status(422).type('application/fhir+json').json(blockedOutcome(answer));
      return;
    }
    const { status, ...body } = answer;
    res.status(status).json(body);
  });
  return router;
}

function validationAnswer(result: 'accepted' | 'blocked' | 'rejected', oo: OperationOutcome, bundle?: unknown): Parameters {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'result', valueCode: result },
      { name: 'outcome', resource: oo },
      ...(bundle ? [{ name: 'bundle', resource: bundle as never }] : []),
    ],
  };
}
