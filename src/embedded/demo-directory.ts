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

/**
 * Loads the demo directory as one atomic write when the store has never held anything; returns how many
 * were loaded. The check is inside the write, so two processes starting on one empty DATA_DIR load it once.
 */
export async function loadDemoDirectoryIfEmpty(repo: EmbeddedRepository): Promise<number> {
  if (!repo.isEmpty()) {
    return 0;
  }
  const resources = readDemoDirectory();
  return repo.withTransaction(async (tx) => {
    if (!tx.isEmpty()) {
      return 0;
    }
    for (const resource of resources) {
      // Update-as-create keeps the given id (a plain create assigns a new one).
      await tx.updateResource(resource);
    }
    return resources.length;
  });
}
