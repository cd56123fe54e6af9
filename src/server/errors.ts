import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { AdapterError, issue, outcome } from '../outcomes/index.js';
import { bodyError } from './body.js';

/** Header that carries the correlation id of every request and every error. */
export const correlationHeader = 'x-correlation-id';

/** Gives each request a correlation id (a caller's own, if it is sane) and returns it in a header. */
export const correlationId: RequestHandler = (req, res, next) => {
  const given = req.get(correlationHeader);
  const id = given && /^[A-Za-z0-9\-_.]{8,64}$/.test(given) ? given : randomUUID();
  res.locals.correlationId = id;
  res.set(correlationHeader, id);
  next();
};

/**
 * The only place an outcome becomes an HTTP answer. Unknown errors are logged by name and correlation
 * id only — never their message, which may hold record content — and answered with a generic 500.
 */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    const id = res.locals.correlationId as string | undefined;
    const known = err instanceof AdapterError ? err : bodyError(err);
    if (known) {
      if (known.retryAfter) res.set('Retry-After', String(known.retryAfter));
      // The authentication middleware may have set a more precise challenge (RFC 6750 error=…).
      if (known.status === 401 && !res.get('WWW-Authenticate')) res.set('WWW-Authenticate', 'Bearer');
      res.status(known.status).type('application/fhir+json').json(withCorrelation(known.outcome, id));
      return;
    }
    log.error({ correlationId: id, errorName: (err as Error)?.name }, 'unhandled error');
    res
      .status(500)
      .type('application/fhir+json')
      .json(
        withCorrelation(
          outcome([
            issue(
              'internal',
              'exception',
              `The adapter failed unexpectedly; nothing was confirmed. Quote correlation id ${id} when reporting it.`,
            ),
          ]),
          id,
        ),
      );
  };
}

/** An OperationOutcome carrying the response's correlation id as its `id`, as every error body does. */
export function withCorrelation<T extends object>(oo: T, id: string | undefined): T {
  return id ? { ...oo, id } : oo;
}

/** 404 for unknown paths, as an OperationOutcome. */
export const notFound: RequestHandler = (req, _res, next) => {
  next(new AdapterError(404, outcome([issue('not-found', 'not-found', `No endpoint ${req.method} ${req.path}.`)])));
};
