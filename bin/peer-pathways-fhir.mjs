#!/usr/bin/env node
// The CLI (and `npm start`) run the compiled JavaScript in dist/ with plain node, in this very process:
// a SIGTERM sent to it reaches the service itself, with no wrapper in between. dist/ is built first
// when it is missing or older than src/ (a fresh clone after `npm ci`).
import { ensureBuilt } from '../scripts/build.mjs';

try {
  if (ensureBuilt()) process.stderr.write('Built dist/ from src/.\n');
} catch (err) {
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
}
await import('../dist/cli/main.js');
