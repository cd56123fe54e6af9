#!/usr/bin/env node
// The CLI (and `npm start`) run the compiled JavaScript in dist/ with plain node, in this very process:
// a SIGTERM sent to it reaches the service itself, with no wrapper in between. dist/ is built first
// when it is missing or older than src/ (a fresh clone after `npm ci`).
import { ensureBuilt } from '../scripts/build.mjs';

// @medplum/* need Node ^22.18; the project brings its own in node_modules/.bin, which npm and npx use.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `peer-pathways-fhir needs Node 22.18 or later; this is ${process.versions.node}. Run it through npm (npm start, npx peer-pathways-fhir …), which uses the project's Node 22 from npm ci.\n`,
  );
  process.exit(2);
}

try {
  if (ensureBuilt()) process.stderr.write('Built dist/ from src/.\n');
} catch (err) {
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
}
await import('../dist/cli/main.js');
