import type { RequestHandler, Response } from 'express';
import type { Adapter } from '../pipeline/process-record.js';
import { sourceMappingHeader, sourceMappingQuery, toContractShape, type SourceApplied } from '../records/aliases/index.js';

/**
 * Brings a posted record into the contract's shape with its sender's source mapping (mappings/sources/),
 * before anything else reads it: authorization must see the real `pathway` and `source.system`.
 */
export function contractShape(adapter: Adapter): RequestHandler {
  return (req, res, next) => {
    const query = req.query[sourceMappingQuery];
    const requested = req.get(sourceMappingHeader) ?? (typeof query === 'string' ? query : undefined);
    const applied = toContractShape(req.body, adapter.mappings, requested);
    res.locals.sourceApplied = applied;
    req.body = applied.value;
    next();
  };
}

/** What contractShape did to this request's record. */
export function sourceAppliedOf(res: Response, body: unknown): SourceApplied {
  return (res.locals.sourceApplied as SourceApplied | undefined) ?? { value: body, issues: [] };
}
