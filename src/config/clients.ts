import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clientsSchema, type ClientRegistry } from './clients-schema.js';
import { defaultMappingsDir, MappingsError } from './mappings.js';

/** Where the client registrations are: AUTH_CLIENTS_FILE, else clients.json in the mappings folder. */
export function clientsFilePath(file: string | undefined, mappingsDir: string | undefined): string {
  return file ?? join(mappingsDir ?? defaultMappingsDir, 'clients.json');
}

/**
 * Reads and checks the client registrations; start-up stops on a bad file. A missing file is an
 * empty registry unless `required` (OAuth callers configured: without it nobody could get in).
 */
export function loadClients(path: string, required: boolean): ClientRegistry {
  if (!existsSync(path)) {
    if (required) throw new MappingsError(`${path}: missing; OAuth callers (AUTH_ISSUER) need their registrations there`);
    return { clients: [] };
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new MappingsError(`${path}: cannot be read as JSON (${(err as Error).message})`);
  }
  const parsed = clientsSchema.safeParse(json);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new MappingsError(`${path} is not valid:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
