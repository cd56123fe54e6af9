import { ensureBuilt } from '../scripts/build.mjs';

/**
 * vitest globalSetup: compiles src/ to dist/ once, before any test file runs, when it is missing or
 * stale. Tests that start the service as an operator does (`npm start`, the bin) run the compiled code.
 * A build that fails (a type error while working) is reported, not fatal: the tests of the compiled
 * service then fail on their own, and the others still run.
 */
export default function setup(): void {
  try {
    ensureBuilt();
  } catch (err) {
    process.stderr.write(`build-setup: ${(err as Error).message}\n`);
  }
}
