import type { OperationOutcome } from '@medplum/fhirtypes';
import type { BatchLine } from './batch-lines.js';
import type { SendResult } from './send-record.js';

/** What happened to one line, in the words of the summary. */
export type LineVerdict = 'written' | 'unchanged' | 'blocked' | 'rejected' | 'failed';

/** A line that was not written, as the .failed.ndjson file keeps it: enough to fix it and send it again. */
export interface FailedLine {
  line: number;
  status: number;
  verdict: Exclude<LineVerdict, 'written' | 'unchanged'>;
  outcome: OperationOutcome;
  record?: unknown;
  raw?: string;
}

/** The verdict of an answer: 201 and updated 200 are written; 422 blocked; 400 rejected; anything else failed. */
export function verdictOf(result: SendResult): LineVerdict {
  if (result.status === 201) return 'written';
  if (result.status === 200) return result.body?.outcome === 'unchanged' ? 'unchanged' : 'written';
  if (result.status === 422) return 'blocked';
  if (result.status === 400) return 'rejected';
  return 'failed';
}

/** An OperationOutcome for a line that got none from the adapter (not JSON, no answer, not sent). */
export function localOutcome(code: string, text: string): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: 'processing',
        details: { coding: [{ system: 'http://peer-pathways.example.org/fhir/CodeSystem/adapter-issue', code }], text },
      },
    ],
  };
}

/** The failed-file entry of a line that was not written. */
export function failedLine(entry: BatchLine, result: SendResult, verdict: FailedLine['verdict']): FailedLine {
  const outcome =
    result.body?.resourceType === 'OperationOutcome'
      ? (result.body as OperationOutcome)
      : localOutcome(
          result.status === 0 ? 'not-sent' : 'unexpected-answer',
          result.error ?? `The adapter answered ${result.status} after ${result.attempts} attempt(s).`,
        );
  // A line whose text was refused is kept as text: its parsed form would hide what to fix.
  return {
    line: entry.line,
    status: result.status,
    verdict,
    outcome,
    ...(entry.record !== undefined && entry.text === undefined ? { record: entry.record } : { raw: entry.raw }),
  };
}

/** Counts per verdict. */
export type Tally = Record<LineVerdict, number>;

/** An empty tally. */
export function emptyTally(): Tally {
  return { written: 0, unchanged: 0, blocked: 0, rejected: 0, failed: 0 };
}

const hints: Record<LineVerdict, string> = {
  written: '',
  unchanged: 'already on the server as sent',
  blocked: 'a gate failed (422): fix the record, then resend',
  rejected: 'not valid against the schema (400): fix the fields named',
  failed: 'no usable answer (auth, size, server): resend once fixed',
};

/** The summary lines printed at the end of an import. */
export function summaryLines(tally: Tally): string[] {
  return (Object.keys(tally) as LineVerdict[]).map(
    (v) => `  ${v.padEnd(10)} ${String(tally[v]).padStart(6)}${tally[v] && hints[v] ? `   ${hints[v]}` : ''}`,
  );
}
