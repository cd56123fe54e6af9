import { readFile } from 'node:fs/promises';

/** One line of a batch file: the record to send, or why it cannot be sent. */
export interface BatchLine {
  /** 1-based line number in the file, or the original line number when resending a .failed.ndjson file. */
  line: number;
  record?: unknown;
  /** The raw text of a line that is not JSON (kept so that it can be fixed in the failed file). */
  raw?: string;
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

/** Reads an NDJSON batch (or a .failed.ndjson of an earlier import): one entry per non-blank line. */
export async function readBatch(file: string): Promise<BatchLine[]> {
  const text = await readFile(file, 'utf8');
  return text.split(/\r?\n/).flatMap((raw, i): BatchLine[] => {
    const line = i + 1;
    if (!raw.trim()) return [];
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      return [{ line, raw, key: `line:${line}` }];
    }
    if (isFailedLine(value)) {
      const retried = value.record;
      return retried === undefined ? [{ line: value.line, raw: String((value as { raw?: unknown }).raw ?? ''), key: `line:${line}` }] : [{ line: value.line, record: retried, key: keyOf(retried, line) }];
    }
    return [{ line, record: value, key: keyOf(value, line) }];
  });
}
