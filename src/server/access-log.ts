import type { Request, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { callerOf } from './auth/caller.js';

/** Longest path logged: paths hold ids only, and a longer one is noise or an attack. */
const maxLoggedPathLength = 200;

/**
 * The route a request took, without anything a caller chose: the matched pattern when Express knows
 * it, else the path. Never the query string: FHIR searches carry names, identifiers and dates there.
 */
function routeOf(req: Request): string {
  const pattern = req.route?.path;
  // Route patterns escape literal characters (`\$validate`); the log shows the path as called.
  const route = typeof pattern === 'string' ? `${req.baseUrl}${pattern}`.replace(/\\/g, '') : (req.originalUrl.split('?')[0] ?? '');
  return route.length > maxLoggedPathLength ? `${route.slice(0, maxLoggedPathLength)}…` : route;
}

/**
 * One line per request once it is answered (or abandoned): method, route, status, duration,
 * correlation id and client id. No body, headers or query values: they can hold PHI or credentials.
 */
export function accessLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    let logged = false;
    const done = () => {
      if (logged) return;
      logged = true;
      log.info(
        {
          method: req.method,
          route: routeOf(req),
          status: res.headersSent ? res.statusCode : 499,
          durationMs: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
          correlationId: res.locals.correlationId as string | undefined,
          // The adapter's caller, or the client of a request to the embedded FHIR server (embedded/auth.ts).
          clientId: callerOf(res)?.clientId ?? (res.locals.clientId as string | undefined),
        },
        'request',
      );
    };
    res.once('finish', done);
    res.once('close', done);
    next();
  };
}
