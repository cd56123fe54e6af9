import type { RequestHandler } from 'express';
import helmet from 'helmet';

/**
 * Helmet's defaults for a JSON API: no sniffing, no framing, HSTS, no referrer, a restrictive CSP.
 * Answers here carry mental-health information, so nothing is cached by browsers or proxies either.
 */
export function securityHeaders(): RequestHandler[] {
  return [
    helmet(),
    (_req, res, next) => {
      res.set('Cache-Control', 'no-store');
      next();
    },
  ];
}
