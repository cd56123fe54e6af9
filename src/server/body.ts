import express, { type RequestHandler } from 'express';
import { AdapterError, issue, outcome } from '../outcomes/index.js';
import { unsafeJson } from './security-json.js';

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
 * Parses JSON bodies up to `limit` bytes, then refuses prototype-pollution keys and excess depth
 * (security-json.ts); size and syntax errors become OperationOutcomes in the error handler.
 */
export function jsonBody(limit: number): RequestHandler {
  const parse = express.json({ type: jsonTypes, limit, strict: false });
  return (req, res, next) => parse(req, res, (err?: unknown) => next(err ?? unsafeJson(req.body)));
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
