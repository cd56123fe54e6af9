import type express from 'express';
import { createOAuthRouter, TokenStore } from './auth.js';
import { loadFhirDefinitions } from '../contract/definitions.js';
import type { Resource, StructureDefinition } from '@medplum/fhirtypes';
import { CapabilityStatementBuilder } from './capability.js';
import { preloadConformanceResources, readConformanceResources } from './conformance-preload.js';
import { loadDemoDirectoryIfEmpty } from './demo-directory.js';
import { createFhirHttpRouter } from './http.js';
import { openDatabase, openReader } from './database.js';
import { pendingJournal, readJournal, retireJournal } from './journal.js';
import { EmbeddedRepository, type Derivation } from './repository.js';

export { EmbeddedRepository, type Derivation, type DerivedMatch } from './repository.js';
export { TokenStore } from './auth.js';

/** dataDir value that keeps the store in memory only. */
export const IN_MEMORY = ':memory:';

/** Options of the embedded FHIR R4 server. */
export interface EmbeddedFhirOptions {
  /** The directory of the SQLite store (created 0700), or ':memory:' (nothing written to disk). */
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
  /** A value to keep beside each resource written, read back by EmbeddedRepository.visitDerived. */
  derivation?: Derivation;
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
  /** Waits for in-flight calls and closes the database. */
  close(): Promise<void>;
}

/**
 * Creates the embedded FHIR server: opens (or creates) its SQLite store, imports the NDJSON journal of an
 * older version once (then renames it), and loads the demo directory into an empty store. Opening takes
 * the same time at any store size (nothing is replayed). Throws when the store cannot be used safely.
 */
export async function createEmbeddedFhirServer(opts: EmbeddedFhirOptions): Promise<EmbeddedFhirServer> {
  loadFhirDefinitions();
  const dataDir = opts.dataDir === IN_MEMORY ? undefined : opts.dataDir;
  const conformance = opts.conformanceResources ?? readConformanceResources();
  const repo = new EmbeddedRepository(openDatabase(dataDir), dataDir ? openReader(dataDir) : undefined, opts.derivation);
  try {
    const journal = dataDir && pendingJournal(dataDir);
    if (dataDir && journal) {
      await repo.importJournal(readJournal(journal));
      retireJournal(dataDir);
    }
    if (opts.loadDemoDirectory !== false) {
      await loadDemoDirectoryIfEmpty(repo);
    }
    // After the demo directory, which loads only into an empty store.
    await preloadConformanceResources(repo, conformance);
  } catch (err) {
    await repo.close();
    throw err;
  }
  const profiles = conformance
    .filter((r): r is StructureDefinition => r.resourceType === 'StructureDefinition')
    .map((sd) => ({ url: sd.url, type: sd.type }));
  const tokens = new TokenStore(opts.accessTokens, opts.clientId, opts.clientSecret);
  const capability = new CapabilityStatementBuilder({ profiles });
  return {
    fhirRouter: createFhirHttpRouter(repo, tokens, capability),
    capability,
    oauthRouter: createOAuthRouter(tokens),
    repo,
    async close() {
      await repo.close();
    },
  };
}
