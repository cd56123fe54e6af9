import { z } from 'zod';
import { isSystemScope } from '../contract/smart-scopes.js';
import { knownScopes } from '../contract/scopes.js';

/** A source system as records name it in `source.system`: a URI (spec §2). */
const sourceSystem = z
  .string()
  .min(1)
  .regex(/^[a-z][a-z0-9+.-]*:\S+$/i, 'expected a URI such as urn:example:peer-platform');

/**
 * One registered caller (mappings/clients.json). A token is matched to it by its `client_id` claim
 * (RFC 9068), else `azp`, else `sub`; the caller gets the token's scopes that are also listed here,
 * and may only send records whose `source.system` is listed here.
 */
export const clientSchema = z
  .object({
    clientId: z.string().min(1),
    description: z.string().optional(),
    sourceSystems: z.array(sourceSystem),
    // The adapter's own scopes, and SMART system scopes for the embedded FHIR server (system/Task.rs…).
    scopes: z
      .array(
        z.string().refine((s) => knownScopes.includes(s) || isSystemScope(s), {
          error: (i) =>
            `unknown scope "${String(i.input)}"; known: ${knownScopes.join(', ')}, or a SMART system scope such as system/Task.rs`,
        }),
      )
      .min(1),
  })
  .strict();

export const clientsSchema = z
  .object({
    $comment: z.string().optional(),
    clients: z.array(clientSchema),
  })
  .strict()
  .refine((c) => new Set(c.clients.map((x) => x.clientId)).size === c.clients.length, {
    error: 'each clientId may be registered once',
    path: ['clients'],
  });

export type ClientRegistration = z.infer<typeof clientSchema>;
export type ClientRegistry = z.infer<typeof clientsSchema>;
