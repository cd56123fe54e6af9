import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

/** The adapter's own issue codes: stable, so that callers can act on them without parsing text. */
export const issueCodeSystem = 'http://peer-pathways.example.org/fhir/CodeSystem/adapter-issue';

export type AdapterIssueCode =
  | 'unmapped-code'
  | 'source-mapping-unknown'
  | 'invalid-json'
  | 'unsupported-media-type'
  | 'payload-too-large'
  | 'schema-invalid'
  | 'unknown-field'
  | 'required'
  | 'wrong-pathway-field'
  | 'reference-unresolved'
  | 'gate-failed'
  | 'gate-passed'
  | 'safety-review-raised'
  | 'fhir-unavailable'
  | 'fhir-rejected'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'internal'
  | 'conflict'
  | 'unsafe-json'
  | 'duplicate-key'
  | 'invalid-text'
  | 'rate-limited'
  | 'auth-unavailable'
  | 'mapping-invalid'
  | 'reference-wrong-type'
  | 'reference-ambiguous'
  | 'configuration-unresolved'
  | 'fhir-not-atomic'
  | 'service-stopping'
  | 'malformed-request';

/** Builds one issue with our stable code in `details.coding`. */
export function issue(
  code: AdapterIssueCode,
  fhirCode: OperationOutcomeIssue['code'],
  text: string,
  expression?: string[],
  severity: OperationOutcomeIssue['severity'] = 'error',
): OperationOutcomeIssue {
  return {
    severity,
    code: fhirCode,
    details: { coding: [{ system: issueCodeSystem, code }], text },
    ...(expression?.length ? { expression } : {}),
  };
}

/** Wraps issues in an OperationOutcome. */
export function outcome(issues: OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

/** An error that carries an OperationOutcome and the HTTP status to answer with. */
export class AdapterError extends OperationOutcomeError {
  constructor(
    readonly status: number,
    oo: OperationOutcome,
    /** Seconds, for 503/429 answers. */
    readonly retryAfter?: number,
  ) {
    super(oo);
  }
}

/** A 503 for a FHIR server that is down or timing out; the caller may retry the same record. */
export function fhirUnavailable(reason: string, retryAfter = 5): AdapterError {
  return new AdapterError(
    503,
    outcome([
      issue(
        'fhir-unavailable',
        'transient',
        `The FHIR server is unavailable (${reason}). Nothing was written; send the same record again later.`,
      ),
    ]),
    retryAfter,
  );
}
