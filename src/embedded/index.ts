import type express from 'express';
import { createOAuthRouter, TokenStore } from './auth.js';
import { loadFhirDefinitions } from '../contract/definitions.js';
import type { Resource, StructureDefinition } from '@medplum/fhirtypes';
import { CapabilityStatementBuilder } from './capability.js';
import { preloadConformanceResources, readConformanceResources } from './conformance-preload.js';
import { loadDemoDirectoryIfEmpty } from './demo-directory.js';
import { createFhirHttpRouter } from './http.js';
import { Journal } from './journal.js';
import { EmbeddedRepository } from './repository.js';

export { EmbeddedRepository } from './repository.js';
export { TokenStore } from './auth.js';

/** dataDir value that keeps the store in memory only. */
export const IN_MEMORY = ':memory:';

/** Options of the embedded FHIR R4 server. */
export interface EmbeddedFhirOptions {
  /** A directory for the journal, or ':memory:' (nothing written to disk). */
  dataDir: string;
  /** Static bearer tokens always accepted (the adapter's API_TOKEN goes here). */
  accessTokens: string[];
  /** The client accepted by the client_credentials token endpoint. */
  clientId: string;
  clientSecret: string;
  /** Load the demo directory when the store is empty (default true). */
  loadDemoDirectory?: boolean;
  /**
   * The conformance resources held from start-up (profiles, terminology, Measures; default: read from
   * profiles/): readable by canonical URL, and the profiles are the CapabilityStatement's supportedProfile.
   */
  conformanceResources?: Resource[];
}

/** A running embedded FHIR server: routers to mount, its repository, and close(). */
export interface EmbeddedFhirServer {
  /** Mount at '/fhir/R4'. */
  fhirRouter: express.Router;
  /** Mount at '/oauth2' (POST /oauth2/token). */
  oauthRouter: express.Router;
  repo: EmbeddedRepository;
  /** Its CapabilityStatement: a layer that answers an operation beside the server declares it here. */
  capability: CapabilityStatementBuilder;
  /** Waits for in-flight writes and closes the journal. */
  close(): Promise<void>;
}

/** Creates the embedded FHIR server: replays the journal, loads the demo directory if empty. */
export async function createEmbeddedFhirServer(opts: EmbeddedFhirOptions): Promise<EmbeddedFhirServer> {
  loadFhirDefinitions();
  const journal = opts.dataDir === IN_MEMORY ? undefined : await Journal.open(opts.dataDir);
  const repo = new EmbeddedRepository(journal);
  if (journal) {
    await repo.replay(journal.readUnits());
  }
  if (opts.loadDemoDirectory !== false) {
    await loadDemoDirectoryIfEmpty(repo);
  }
  // After the demo directory, which loads only into an empty store.
  const conformance = opts.conformanceResources ?? readConformanceResources();
  await preloadConformanceResources(repo, conformance);
  const profiles = conformance.filter((r): r is StructureDefinition => r.resourceType === 'StructureDefinition').map((sd) => ({ url: sd.url, type: sd.type }));
  const tokens = new TokenStore(opts.accessTokens, opts.clientId, opts.clientSecret);
  const capability = new CapabilityStatementBuilder({ profiles });
  return {
    fhirRouter: createFhirHttpRouter(repo, tokens, capability),
    capability,
    oauthRouter: createOAuthRouter(tokens),
    repo,
    async close() {
      // A no-op unit queues behind every in-flight write, so nothing is cut off.
      await repo.withTransaction(async () => undefined);
      await journal?.close();
    },
  };
}
