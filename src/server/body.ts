import express, { type RequestHandler } from 'express';
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
    if (!parsed.ok) return next(new AdapterError(400, outcome(parsed.issues)));
    req.body = parsed.value;
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
