import { Router } from 'express';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { retryAfterSeconds } from '../../fhir/client.js';
import { directoryIssue, directoryProblems, mappingDirectory } from '../../fhir/lookup/mapping-directory.js';
import { AdapterError, issue, outcome } from '../../outcomes/index.js';
import type { Adapter } from '../../pipeline/process-record.js';

/** What /ready found, check by check. */
interface Readiness {
  fhir: 'reachable' | 'unreachable';
  breaker: string;
  transactionRollback: string;
  /** Whether every owner and recipient of mappings/ resolved. */
  directory: 'resolved' | 'unresolved' | 'unchecked';
  problems: OperationOutcomeIssue[];
}

/** Checks the FHIR server (one metadata read), the circuit breaker, and the cached rollback verdict. */
async function readiness(adapter: Adapter): Promise<Readiness> {
  const problems: OperationOutcomeIssue[] = [];
  const reachable = await adapter.fhir.metadata().then(
    () => true,
    () => false,
  );
  if (!reachable) problems.push(issue('fhir-unavailable', 'transient', 'The FHIR server does not answer (GET metadata failed).'));
  const breaker = adapter.fhir.breakerState;
  if (breaker !== 'closed')
    problems.push(
      issue(
        'fhir-unavailable',
        'transient',
        `The circuit breaker in front of the FHIR server is ${breaker}: writes are answered 503 until it closes.`,
      ),
    );
  const rollback = await adapter.fhir.rollbackVerdict();
  if (rollback.state === 'not-atomic') {
    problems.push(
      issue(
        'fhir-not-atomic',
        'not-supported',
        `${rollback.reason} Writes are refused (503) until it does; on Medplum enable the project feature "transaction-bundles".`,
      ),
    );
  } else if (rollback.state === 'unknown') {
    problems.push(
      issue(
        'fhir-unavailable',
        'transient',
        `Writes wait until the FHIR server shows it rolls back a failed transaction (${rollback.reason}).`,
      ),
    );
  }
  const directory = reachable ? await directoryCheck(adapter) : [];
  problems.push(...directory);
  return {
    fhir: reachable ? 'reachable' : 'unreachable',
    breaker,
    transactionRollback: rollback.state,
    directory: directory.length ? 'unresolved' : reachable ? 'resolved' : 'unchecked',
    problems,
  };
}

/** How long a directory that resolved is trusted before /ready reads it again. */
const directoryTtlMs = 5 * 60_000;
const directoryVerifiedAt = new WeakMap<Adapter, number>();

/**
 * Every owner and recipient named in mappings/ resolves on the FHIR server to a type its role allows
 * (fhir/mapping-directory.ts); otherwise the service is not ready, naming the file and path.
 */
async function directoryCheck(adapter: Adapter): Promise<OperationOutcomeIssue[]> {
  const verified = directoryVerifiedAt.get(adapter);
  if (verified !== undefined && Date.now() - verified < directoryTtlMs) return [];
  try {
    const problems = (
      await directoryProblems(adapter.fhir, mappingDirectory(adapter.mappings, adapter.escalation), adapter.mappings.site.peerRoleCodes)
    ).map(directoryIssue);
    if (!problems.length) directoryVerifiedAt.set(adapter, Date.now());
    return problems;
  } catch {
    return [issue('fhir-unavailable', 'transient', 'The owners and recipients named in mappings/ could not be read on the FHIR server.')];
  }
}

/** GET /health (the process is alive) and GET /ready (the FHIR server answers, the breaker is closed, and it rolls back failed transactions). */
export function healthRouter(adapter: Adapter): Router {
  const router = Router();
  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/ready', async (_req, res) => {
    const { problems, ...checks } = await readiness(adapter);
    if (problems.length) throw new AdapterError(503, outcome(problems), retryAfterSeconds);
    res.json({ status: 'ready', ...checks });
  });
  return router;
}
