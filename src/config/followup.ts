import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckedFile } from './checked-file.js';
import { escalationSchema, webhooksSchema, type EscalationConfig, type WebhooksConfig } from './followup-schema.js';
import { defaultMappingsDir, MappingsError } from './mappings.js';

/**
 * Reads mappings/escalation.json (required: overdue clinical reviews must escalate somewhere) and
 * mappings/webhooks.json (optional: no file, no webhooks); throws MappingsError, and start-up stops.
 */
export function loadFollowUpConfig(dir: string = defaultMappingsDir): { escalation: EscalationConfig; webhooks: WebhooksConfig } {
  const escalationFile = join(dir, 'escalation.json');
  if (!existsSync(escalationFile))
    throw new MappingsError([
      { file: escalationFile, path: '', message: "is missing: copy it from the project's mappings/escalation.json" },
    ]);
  const webhooksFile = join(dir, 'webhooks.json');
  return {
    escalation: readCheckedFile(escalationFile, escalationSchema),
    webhooks: existsSync(webhooksFile) ? readCheckedFile(webhooksFile, webhooksSchema) : { sources: {} },
  };
}
