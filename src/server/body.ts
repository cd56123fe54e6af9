import express, { type RequestHandler } from 'express';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { AdapterError, issue, outcome } from '../outcomes/index.js';
import { parseJsonText } from '../records/json-text.js';

const jsonTypes = ['application/json', 'application/fhir+json'];

/** Refuses anything but JSON with 415 before reading it. */
export const requireJson: RequestHandler = (req, _res, next) => {
  if (!req.is(jsonTypes)) {
    next(new AdapterError(415, outcome([issue('unsupported-media-type', 'not-supported',
      'Send the record as JSON with "Content-Type: application/json".')])));
    return;
  }
  next();
};

/** The input-cleaning issues of a body that was refused but parsed (see jsonBody), if any. */
export function refusedTextOf(res: { locals: Record<string, unknown> }): OperationOutcomeIssue[] | undefined {
  return res.locals.refusedText as OperationOutcomeIssue[] | undefined;
}

/**
 * Reads JSON bodies up to `limit` bytes and parses them with the one input-cleaning step of every way in
 * (records/json-text.ts: BOM, UTF-8, Unicode, control characters, duplicate keys, depth); a refusal is a
 * 400 naming what and where. Size errors become OperationOutcomes in the error handler.
 */
export function jsonBody(limit: number): RequestHandler {
  const read = express.raw({ type: jsonTypes, limit });
  return (req, res, next) => read(req, res, (err?: unknown) => {
    if (err) return next(err);
    const charset = req.get('content-type')?.match(/charset\s*=\s*"?([^";\s]+)/i)?.[1]?.toLowerCase();
    if (charset && charset !== 'utf-8' && charset !== 'utf8') {
      return next(new AdapterError(415, outcome([issue('unsupported-media-type', 'not-supported', 'Send the record as UTF-8 JSON.')])));
    }
    const parsed = parseJsonText(Buffer.isBuffer(req.body) ? req.body : new Uint8Array());
    if (!parsed.ok && parsed.partial === undefined) return next(new AdapterError(400, outcome(parsed.issues)));
    // A refused text that was JSON goes on, marked: the route answers 400 with these issues, and safety
    // first may still read its unambiguous envelope (spec §4). Nothing else reads the partial value.
    if (!parsed.ok) res.locals.refusedText = parsed.issues;
    req.body = parsed.ok ? parsed.value : parsed.partial;
    next();
  });
}

/** Turns body-parser errors into the adapter's outcomes (no parser text: it can echo the body). */
export function bodyError(err: unknown): AdapterError | undefined {
  const type = (err as { type?: string })?.type;
  if (type === 'entity.too.large') {
    return new AdapterError(413, outcome([issue('payload-too-large', 'too-costly', 'The record is larger than this adapter accepts; send one record per request.')]));
  }
  if (type === 'entity.parse.failed') {
    return new AdapterError(400, outcome([issue('invalid-json', 'structure', 'The body is not valid JSON.')]));
  }
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return new AdapterError(415, outcome([issue('unsupported-media-type', 'not-supported', 'Send the record as UTF-8 JSON.')]));
  }
  return undefined;
}
