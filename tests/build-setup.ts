import { ensureBuilt } from '../scripts/build.mjs';

/**
 * vitest globalSetup: compiles src/ to dist/ once, before any test file runs, when it is missing or
 * stale. Tests that start the service as an operator does (`npm start`, the bin) run the compiled code.
 */
export default function setup(): void {
  ensureBuilt();
}
