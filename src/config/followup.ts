import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { zodProblems } from './config-problems.js';
import { escalationSchema, webhooksSchema, type EscalationConfig, type WebhooksConfig } from './followup-schema.js';
import { defaultMappingsDir, MappingsError } from './mappings.js';

function readChecked<T>(file: string, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MappingsError([{ file, path: '', message: `is not valid JSON (${(err as Error).message})` }]);
  }
  const parsed = schema.safeParse(json, { reportInput: true });
  if (!parsed.success) throw new MappingsError(zodProblems(file, parsed.error.issues));
  return parsed.data;
}

/**
 * Reads mappings/escalation.json (required: overdue clinical reviews must escalate somewhere) and
 * mappings/webhooks.json (optional: no file, no webhooks); throws MappingsError, and start-up stops.
 */
export function loadFollowUpConfig(dir: string = defaultMappingsDir): { escalation: EscalationConfig; webhooks: WebhooksConfig } {
  const escalationFile = join(dir, 'escalation.json');
  if (!existsSync(escalationFile)) throw new MappingsError([{ file: escalationFile, path: '', message: 'is missing: copy it from the project\'s mappings/escalation.json' }]);
  const webhooksFile = join(dir, 'webhooks.json');
  return {
    escalation: readChecked(escalationFile, escalationSchema),
    webhooks: existsSync(webhooksFile) ? readChecked(webhooksFile, webhooksSchema) : { sources: {} },
  };
}
