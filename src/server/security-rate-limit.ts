import type { RequestHandler } from 'express';
import { rateLimit, type RateLimitInfo } from 'express-rate-limit';
import { AdapterError, issue, outcome } from '../outcomes/index.js';
import { callerOf } from './auth/caller.js';

/** The window the per-client limit counts over. */
const windowMs = 60_000;

/**
 * Per-client rate limit (RATE_LIMIT_PER_MINUTE), keyed by the authenticated client, not the IP: many
 * clients may sit behind one gateway, and one client may come from many addresses. Mounted after
 * authentication; 0 turns it off. Counts live in this process (one adapter instance per site).
 */
export function rateLimitPerClient(perMinute: number): RequestHandler {
  if (perMinute <= 0) return (_req, _res, next) => next();
  return rateLimit({
    windowMs,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (_req, res) => `client:${callerOf(res)?.clientId ?? 'anonymous'}`,
    handler: (req, _res, next) => {
      const reset = (req as { rateLimit?: RateLimitInfo }).rateLimit?.resetTime?.getTime();
      const retryAfter = reset ? Math.max(1, Math.ceil((reset - Date.now()) / 1000)) : windowMs / 1000;
      next(
        new AdapterError(
          429,
          outcome([
            issue(
              'rate-limited',
              'throttled',
              `This client sent more than ${perMinute} requests in a minute; send again after ${retryAfter} s.`,
            ),
          ]),
          retryAfter,
        ),
      );
    },
  });
}
