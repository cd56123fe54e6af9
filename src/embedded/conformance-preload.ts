import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { OperationOutcomeError, isGone, isNotFound } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { EmbeddedRepository } from './repository.js';

/** The project's conformance resources: profiles/ (StructureDefinitions), profiles/extensions/, profiles/terminology/, profiles/measures/. */
export const conformanceDir = resolve(import.meta.dirname, '../../profiles');

/** Resource types published from the conformance folders; any other JSON file there is not one of them. */
const published = new Set(['StructureDefinition', 'CodeSystem', 'ValueSet', 'Measure', 'ConceptMap']);

/**
 * Every conformance resource (canonical `url`, fixed `id`) in a profiles folder and its `extensions/`,
 * `terminology/` and `measures/` subfolders, in file order. Throws naming the file when one is not JSON.
 */
export function readConformanceResources(dir: string = conformanceDir): Resource[] {
  const out: Resource[] = [];
  for (const sub of ['', 'extensions', 'terminology', 'measures']) {
    const folder = join(dir, sub);
    let names: string[];
    try {
      names = readdirSync(folder)
        .filter((f) => f.endsWith('.json'))
        .sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const file = join(folder, name);
      let resource: Resource & { url?: string };
      try {
        resource = JSON.parse(readFileSync(file, 'utf8')) as Resource & { url?: string };
      } catch (err) {
        throw new Error(`${file}: cannot be read as JSON (${(err as Error).message})`, { cause: err });
      }
      if (published.has(resource.resourceType) && resource.id && resource.url) out.push(resource);
    }
  }
  return out;
}

/** JSON with object keys sorted, so that two copies of a resource compare equal whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .filter((k) => k !== 'meta')
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Puts the conformance resources on the store under their own ids, in one transaction, through the
 * repository's ordinary FHIR operations (read, update-as-create), so that it works on any store. A
 * resource already there with the same content is left alone: restarts over a kept DATA_DIR add no
 * version and no duplicate; a changed file becomes a new version. Returns how many were written.
 */
export async function preloadConformanceResources(repo: EmbeddedRepository, resources: readonly Resource[]): Promise<number> {
  return repo.withTransaction(async (tx) => {
    let written = 0;
    for (const resource of resources) {
      let current: Resource | undefined;
      try {
        current = await tx.readResource(resource.resourceType, resource.id as string);
      } catch (err) {
        // Absent, or deleted by a client: put it back. Anything else is a store fault and stops start-up.
        if (!(err instanceof OperationOutcomeError && (isNotFound(err.outcome) || isGone(err.outcome)))) throw err;
      }
      if (current && canonical(current) === canonical(resource)) continue;
      await tx.updateResource(resource);
      written++;
    }
    return written;
  });
}
