import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Resource, StructureDefinition } from '@medplum/fhirtypes';
import { readConformanceResources } from '../embedded/conformance-preload.js';
import { withSnapshot } from './snapshot.js';

/** The canonical base the project's resources are written under today. */
export const defaultCanonicalBase = 'http://peer-pathways.example.org';

/** The FHIR package id (FHIR NPM Package spec: lowercase, dot-separated). */
export const fhirPackageName = 'peer-pathways.fhir';

/** One file of a FHIR NPM package, under its `package/` folder. */
export interface PackageFile {
  name: string;
  content: string;
}

type Canonical = Resource & { url?: string; version?: string; kind?: string; type?: string };

/**
 * The project's conformance resources — profiles, terminology, Measures — as a FHIR NPM package
 * (https://confluence.hl7.org/display/FHIR/NPM+Package+Specification): `package.json` with `fhirVersions`
 * 4.0.1 and a dependency on `hl7.fhir.r4.core` 4.0.1, one `<Type>-<id>.json` per resource (profiles with
 * their snapshot) and the
 * `.index.json` that package loaders (SUSHI, GoFSH, the IG Publisher, HAPI) read. `canonicalBase`
 * (`https://fhir.site.example`) replaces http://peer-pathways.example.org in every URL, for a site that
 * publishes under its own domain; throws when it is not an absolute http(s) URL without a trailing slash.
 */
export function buildFhirPackage(
  canonicalBase: string = defaultCanonicalBase,
  resources: Resource[] = readConformanceResources(),
): PackageFile[] {
  if (!/^https?:\/\/[^/\s]+(\/[^\s]*[^/\s])?$/.test(canonicalBase)) {
    throw new Error(
      `The canonical base must be an absolute http(s) URL without a trailing slash, such as ${defaultCanonicalBase}; got "${canonicalBase}".`,
    );
  }
  const project = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')) as {
    version: string;
    description: string;
    license: string;
  };
  // Profiles get their snapshot: a package's dependants (SUSHI, validators) need it to build on them.
  const complete = resources.map((r) => (r.resourceType === 'StructureDefinition' ? withSnapshot(r as StructureDefinition) : r));
  const rebased = complete.map((r) => JSON.parse(JSON.stringify(r).replaceAll(defaultCanonicalBase, canonicalBase)) as Canonical);
  const files: PackageFile[] = rebased.map((r) => ({ name: `${r.resourceType}-${r.id}.json`, content: `${JSON.stringify(r, null, 2)}\n` }));
  const index = {
    'index-version': 1,
    files: rebased.map((r) => ({
      filename: `${r.resourceType}-${r.id}.json`,
      resourceType: r.resourceType,
      id: r.id,
      url: r.url,
      ...(r.version ? { version: r.version } : {}),
      ...(r.kind ? { kind: r.kind } : {}),
      ...(r.type ? { type: r.type } : {}),
    })),
  };
  const manifest = {
    name: fhirPackageName,
    version: project.version,
    description: 'peer-pathways-fhir: profiles, terminology (CodeSystems, ValueSets) and governance Measures.',
    canonical: `${canonicalBase}/fhir`,
    url: `${canonicalBase}/fhir`,
    fhirVersions: ['4.0.1'],
    dependencies: { 'hl7.fhir.r4.core': '4.0.1' },
    type: 'fhir.ig',
    license: project.license,
    author: 'peer-pathways-fhir',
  };
  return [
    { name: 'package.json', content: `${JSON.stringify(manifest, null, 2)}\n` },
    { name: '.index.json', content: `${JSON.stringify(index, null, 2)}\n` },
    ...files,
  ];
}
