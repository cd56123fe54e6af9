import express, { type RequestHandler } from 'express';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { AdapterError, issue, outcome } from '../outcomes/index.js';
import { safetyEnvelopeOf } from '../records/envelope.js';
import { parseJsonText } from '../records/json-text.js';

const jsonTypes = ['application/json', 'application/fhir+json'];

/** Refuses anything but JSON with 415 before reading it. */
export const requireJson: RequestHandler = (req, _res, next) => {
  if (!req.is(jsonTypes)) {
    next(
      new AdapterError(
        415,
        outcome([issue('unsupported-media-type', 'not-supported', 'Send the record as JSON with "Content-Type: application/json".')]),
      ),
    );
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
  // Bodies up to this are read even past `limit`, only so that a too-large record's disclosure can still
  // raise its safety review (spec §4 "a size limit"); beyond it nothing is read.
  const read = express.raw({ type: jsonTypes, limit: Math.max(limit * 4, 1_000_000) });
  return (req, res, next) =>
    read(req, res, (err?: unknown) => {
      if (err) return next(err);
      if (Buffer.isBuffer(req.body) && req.body.length > limit) {
        const parsed = parseJsonText(req.body);
        const value = parsed.ok ? parsed.value : parsed.partial;
        if (!safetyEnvelopeOf(value, new Date())?.safety.immediateConcernDisclosed) return next(tooLarge());
        res.locals.tooLarge = true;
        req.body = value;
        return next();
      }
      const charset = req
        .get('content-type')
        ?.match(/charset\s*=\s*"?([^";\s]+)/i)?.[1]
        ?.toLowerCase();
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

/** The 413 of a body over MAX_BODY_BYTES. */
export function tooLarge(): AdapterError {
  return new AdapterError(
    413,
    outcome([issue('payload-too-large', 'too-costly', 'The record is larger than this adapter accepts; send one record per request.')]),
  );
}

/** True when the body was over MAX_BODY_BYTES but read for its safety disclosure (see jsonBody): the route answers 413. */
export function bodyTooLarge(res: { locals: Record<string, unknown> }): boolean {
  return res.locals.tooLarge === true;
}

/** Turns body-parser errors into the adapter's outcomes (no parser text: it can echo the body). */
export function bodyError(err: unknown): AdapterError | undefined {
  const type = (err as { type?: string })?.type;
  if (type === 'entity.too.large') return tooLarge();
  if (type === 'entity.parse.failed') {
    return new AdapterError(400, outcome([issue('invalid-json', 'structure', 'The body is not valid JSON.')]));
  }
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return new AdapterError(415, outcome([issue('unsupported-media-type', 'not-supported', 'Send the record as UTF-8 JSON.')]));
  }
  // Any other client error Express or its parsers raise (http-errors with a 4xx status): a Content-Encoding
  // the body is not in (gzip/deflate that does not inflate: zlib's error), a path whose percent-encoding
  // does not decode (the router's URIError), and the like. The caller's request, not the adapter, is at
  // fault: a 4xx, never a 500; the parser's own text is not passed on (it can echo the input).
  const status = (err as { status?: unknown; statusCode?: unknown })?.status ?? (err as { statusCode?: unknown })?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new AdapterError(
      status,
      outcome([
        issue(
          'malformed-request',
          'invalid',
          err instanceof URIError
            ? 'The request path is not valid percent-encoding (RFC 3986); encode the identifiers in the path and send it again.'
            : 'The request could not be read as sent (check its Content-Encoding, Content-Length and framing) and send it again.',
        ),
      ]),
    );
  }
  return undefined;
}
