import { timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AdapterError, issue, outcome } from '../outcomes/index.js';

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Callers authenticate with `Authorization: Bearer <API_TOKEN>` (spec §7). Never open by default. */
export function requireApiToken(apiToken: string): RequestHandler {
  return (req, _res, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    if (match?.[1] && sameToken(match[1], apiToken)) {
      next();
      return;
    }
    next(new AdapterError(401, outcome([issue('unauthorized', 'login',
      match ? 'The bearer token is not valid for this adapter.' : 'Send "Authorization: Bearer <token>" (the API_TOKEN of this adapter).')])));
  };
}
