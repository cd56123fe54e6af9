import type { Response } from 'express';

/** Who is calling, once authenticated: what every authorization decision is made from. */
export interface Caller {
  /** The registered client id, or `api-token` for the static token. Logged; never a secret. */
  clientId: string;
  scopes: ReadonlySet<string>;
  /** The `source.system`s the caller may send records for; `any` for the static API_TOKEN. */
  sourceSystems: ReadonlySet<string> | 'any';
}

/** The client id the static API_TOKEN is logged and rate-limited under. */
export const staticTokenClientId = 'api-token';

/** Stores the authenticated caller on the response (Express's per-request place for such state). */
export function setCaller(res: Response, caller: Caller): void {
  res.locals.caller = caller;
}

/** The authenticated caller, or undefined before authentication (public endpoints). */
export function callerOf(res: Response): Caller | undefined {
  return res.locals.caller as Caller | undefined;
}

/** True when the caller may act for records of `system`. */
export function mayUseSource(caller: Caller, system: string): boolean {
  return caller.sourceSystems === 'any' || caller.sourceSystems.has(system);
}
