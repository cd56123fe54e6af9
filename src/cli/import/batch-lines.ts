import { readFile } from 'node:fs/promises';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { parseJsonText } from '../../records/json-text.js';

/** One line of a batch file: the record to send, or why it cannot be sent. */
export interface BatchLine {
  /** 1-based line number in the file, or the original line number when resending a .failed.ndjson file. */
  line: number;
  record?: unknown;
  /** The raw text of a line that is not JSON (kept so that it can be fixed in the failed file). */
  raw?: string;
  /** Why the input-cleaning step refused the line (records/json-text.ts), when it did. */
  issues?: OperationOutcomeIssue[];
  /**
   * The line's own text, sent as it is when the cleaning step refused JSON it could read (a duplicated
   * key, broken text): the adapter answers the 400 itself, and raises a disclosed safety concern whose
   * envelope is unambiguous (spec §4), which a refusal here could not.
   */
  text?: string;
  /** Lines with the same key are sent in file order, one after the other (updates of the same record). */
  key: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A line of a previous run's .failed.ndjson: `{line, status, outcome, record}`; its record is sent again. */
function isFailedLine(v: unknown): v is { line: number; record: unknown } {
  return isObject(v) && typeof v.line === 'number' && 'status' in v && 'record' in v;
}

/** The same source system and recordId means the same record (spec §2); without them, a line is its own key. */
function keyOf(record: unknown, line: number): string {
  const r = isObject(record) ? record : {};
  const source = isObject(r.source) ? r.source.system : undefined;
  return typeof r.recordId === 'string' ? JSON.stringify([source, r.recordId]) : `line:${line}`;
}

/** The lines of a file as bytes: each is decoded (and checked) on its own, so one bad line spoils no other. */
function byteLines(bytes: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, start)) {
    lines.push(bytes.subarray(start, i > start && bytes[i - 1] === 0x0d ? i - 1 : i));
    start = i + 1;
  }
  lines.push(bytes.subarray(start));
  return lines;
}

/**
 * Reads an NDJSON batch (or a .failed.ndjson of an earlier import): one entry per non-blank line, each
 * through the same input-cleaning step as an HTTP body (a BOM on line 1 is ignored, duplicate keys and
 * broken text are refused with the issue the adapter would give).
 */
export async function readBatch(file: string): Promise<BatchLine[]> {
  const bytes = await readFile(file);
  return byteLines(bytes).flatMap((lineBytes, i): BatchLine[] => {
    const line = i + 1;
    const raw = lineBytes.toString('utf8');
    if (!raw.replace(/^\uFEFF/, '').trim()) return [];
    const parsed = parseJsonText(lineBytes);
    if (!parsed.ok && parsed.partial === undefined) return [{ line, raw, issues: parsed.issues, key: `line:${line}` }];
    if (!parsed.ok)
      return [
        { line, raw, record: parsed.partial, issues: parsed.issues, text: raw.replace(/^\uFEFF/, ''), key: keyOf(parsed.partial, line) },
      ];
    const value = parsed.value;
    if (isFailedLine(value)) {
      const retried = value.record;
      return retried === undefined
        ? [{ line: value.line, raw: String((value as { raw?: unknown }).raw ?? ''), key: `line:${line}` }]
        : [{ line: value.line, record: retried, key: keyOf(retried, line) }];
    }
    return [{ line, record: value, key: keyOf(value, line) }];
  });
}
