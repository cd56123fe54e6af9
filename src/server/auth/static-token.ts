import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IN_MEMORY } from '../../embedded/index.js';

/** Name of the file in DATA_DIR that keeps a generated token across restarts. */
export const apiTokenFileName = 'api-token';
/** Random bytes of a generated token (192 bits: unguessable, and short enough to paste). */
const generatedTokenBytes = 24;

/** The static token of this run, and whether it was just generated (then it is shown once). */
export interface StaticToken {
  token?: string;
  /** True only on the run that created it: the one time it is printed. */
  generated: boolean;
  /** Where a generated token is kept, when DATA_DIR is a directory. */
  file?: string;
}

/**
 * The static API_TOKEN: the one given in the environment; else none when OAuth is configured (a
 * production deployment must not grow a token nobody asked for); else one generated at first start,
 * kept in DATA_DIR/api-token (owner-only) and reused on later starts, or per run with DATA_DIR=:memory:.
 */
export function resolveStaticToken(given: string | undefined, dataDir: string, oauthConfigured: boolean): StaticToken {
  if (given) return { token: given, generated: false };
  if (oauthConfigured) return { generated: false };
  const fresh = randomBytes(generatedTokenBytes).toString('base64url');
  if (dataDir === IN_MEMORY) return { token: fresh, generated: true };
  const file = join(dataDir, apiTokenFileName);
  const kept = readKept(file);
  if (kept) return { token: kept, generated: false, file };
  mkdirSync(dataDir, { recursive: true });
  try {
    // `wx`: if another process created it meanwhile, its token wins and is read below.
    writeFileSync(file, `${fresh}\n`, { mode: 0o600, flag: 'wx' });
    return { token: fresh, generated: true, file };
  } catch (err) {
    const existing = (err as NodeJS.ErrnoException).code === 'EEXIST' ? readKept(file) : undefined;
    if (!existing) throw err;
    return { token: existing, generated: false, file };
  }
}

function readKept(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
