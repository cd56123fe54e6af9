import type { Request, RequestHandler, Response } from 'express';
import { pathwayCodes, type PathwayCode } from '../../records/envelope.js';
import { AdapterError, issue, outcome } from '../../outcomes/index.js';
import { callerOf, mayUseSource, type Caller } from './caller.js';
import { canWrite, canWriteAny, scopes } from '../../contract/scopes.js';

/** What a route needs before its body is read: one scope, or any pathway's write scope. */
type RouteNeed = { scope: string } | { anyWrite: true };

/**
 * The scope each guarded endpoint needs, decided in one place so that a route added later under a
 * known prefix is covered without touching this file. Paths not listed need authentication only.
 */
function routeNeed(method: string, path: string): RouteNeed | undefined {
  const reading = method === 'GET' || method === 'HEAD';
  if (method === 'POST' && path === '/pathway-records/$validate') return { scope: scopes.validate };
  if (method === 'POST' && (path === '/pathway-records' || path.startsWith('/pathway-records/'))) return { anyWrite: true };
  if (reading && (path === '/governance' || path.startsWith('/governance/'))) return { scope: scopes.governance };
  if (reading && (path === '/pathway-records' || path.startsWith('/pathway-records/'))) return { scope: scopes.read };
  return undefined;
}

function decodedPath(req: Request): string {
  try {
    return decodeURIComponent(req.path);
  } catch {
    return req.path;
  }
}

/** A 403 naming what is missing; RFC 6750 §3.1 `insufficient_scope` tells OAuth clients which scope to ask for. */
function forbidden(res: Response, text: string, expression?: string[], scope?: string): AdapterError {
  res.set('WWW-Authenticate', `Bearer error="insufficient_scope"${scope ? `, scope="${scope}"` : ''}`);
  return new AdapterError(403, outcome([issue('forbidden', 'forbidden', text, expression)]));
}

function requireCaller(res: Response): Caller {
  const caller = callerOf(res);
  // Mounted behind authenticate(): reaching here without a caller is a wiring bug, never a way in.
  if (!caller) throw new AdapterError(401, outcome([issue('unauthorized', 'login', 'Authentication is required.')]));
  return caller;
}

/** Refuses (403) a request whose caller lacks the scope its endpoint needs. */
export const requireRouteScope: RequestHandler = (req, res, next) => {
  const need = routeNeed(req.method, decodedPath(req));
  if (!need) {
    next();
    return;
  }
  const caller = requireCaller(res);
  if ('scope' in need) {
    next(
      caller.scopes.has(need.scope)
        ? undefined
        : forbidden(res, `This client lacks the scope "${need.scope}" for ${req.method} ${req.path}.`, undefined, need.scope),
    );
    return;
  }
  next(
    canWriteAny(caller.scopes)
      ? undefined
      : forbidden(
          res,
          'This client may not submit pathway records: it holds no pathway-records/<pathway>.write scope.',
          undefined,
          scopes.writeAll,
        ),
  );
};

/** Refuses (403) a caller that asks about records of a source system it is not registered for. */
export function assertSourceAllowed(res: Response, system: string): void {
  if (!mayUseSource(requireCaller(res), system)) {
    throw forbidden(
      res,
      `This client is not registered for source system "${system}": it may only send and read records of its own sources.`,
      ['source.system'],
    );
  }
}

function isPathway(value: unknown): value is PathwayCode {
  return typeof value === 'string' && (pathwayCodes as readonly string[]).includes(value);
}

/**
 * After the body is parsed, before anything is resolved or written: the caller must be registered for
 * the record's `source.system` (so that no caller can overwrite another source's record by reusing its
 * recordId) and, to write, hold that pathway's write scope. Fields that are not yet well-formed are
 * left to the schema (400): nothing is looked up or written for such a record.
 */
export function authorizeRecord(mode: 'write' | 'validate'): RequestHandler {
  return (req, res, next) => {
    const body = req.body as { pathway?: unknown; source?: { system?: unknown } } | undefined;
    const system = body?.source?.system;
    if (typeof system === 'string') assertSourceAllowed(res, system);
    const pathway = body?.pathway;
    if (mode === 'write' && isPathway(pathway) && !canWrite(requireCaller(res).scopes, pathway)) {
      throw forbidden(
        res,
        `This client may not submit ${pathway} records: it lacks the scope "pathway-records/${pathway}.write".`,
        ['pathway'],
        `pathway-records/${pathway}.write`,
      );
    }
    next();
  };
}

/**
 * Refuses (403) a caller without `scope`, for an endpoint mounted outside the paths routeNeed knows
 * (FHIR operations beside the embedded server, e.g. Measure/$evaluate-measure needs governance.read).
 */
export function requireScope(scope: string): RequestHandler {
  return (req, res, next) => {
    const caller = requireCaller(res);
    next(
      caller.scopes.has(scope)
        ? undefined
        : forbidden(res, `This client lacks the scope "${scope}" for ${req.method} ${req.path}.`, undefined, scope),
    );
  };
}
