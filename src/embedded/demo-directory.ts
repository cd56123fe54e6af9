import { readFileSync } from 'node:fs';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { EmbeddedRepository } from './repository.js';

const DEMO_FILE = new URL('./demo-directory.json', import.meta.url);

/** The demo directory's resources (organization, practitioners, roles, team, patients), ids as given. */
export function readDemoDirectory(): Resource[] {
  const json = JSON.parse(readFileSync(DEMO_FILE, 'utf8')) as Bundle | Resource[];
  if (Array.isArray(json)) {
    return json;
  }
  return (json.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
}

/** Loads the demo directory as one atomic, journaled unit when the store is empty; returns how many were loaded. */
export async function loadDemoDirectoryIfEmpty(repo: EmbeddedRepository): Promise<number> {
  if (repo.count() > 0) {
    return 0;
  }
  const resources = readDemoDirectory();
  await repo.withTransaction(async (tx) => {
    for (const resource of resources) {
      // Update-as-create keeps the given id (a plain create assigns a new one).
      await tx.updateResource(resource);
    }
  });
  return resources.length;
}
