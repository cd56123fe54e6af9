import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CarePlan, Communication, Encounter, Resource } from '@medplum/fhirtypes';
import { extensions, systems } from '../contract/vocabulary.js';
import { tokenSearchValue } from '../fhir/lookup/search-values.js';
import { concernRoutingExtensions } from '../mapping/concern-routing.js';
import { earlyEngagementExtensions } from '../mapping/early-engagement.js';
import { recoveryMaintenanceExtensions } from '../mapping/recovery-maintenance.js';
import { personFeedbackUrl } from '../mapping/resources/careplan.js';
import { pathwayCodes, type PathwayCode } from '../records/envelope.js';
import {
  blockedFacts,
  concernFacts,
  crisisFacts,
  earlyEngagementFacts,
  peerContactOf,
  recoveryMaintenanceFacts,
  refusedFacts,
  routedConcernFacts,
  stepDownFacts,
  taskFacts,
  type BlockedFacts,
  type ConcernFacts,
  type CrisisFacts,
  type EarlyEngagementFacts,
  type PeerContact,
  type RecoveryMaintenanceFacts,
  type RefusedFacts,
  type RoutedConcernFacts,
  type StepDownFacts,
  type TaskFacts,
} from './facts.js';

/** The facts each pathway's CarePlans are read as (facts.ts). */
export interface PlanFactsOf {
  'early-engagement': EarlyEngagementFacts;
  'step-down': StepDownFacts;
  'crisis-transition': CrisisFacts;
  'concern-routing': ConcernFacts;
  'recovery-maintenance': RecoveryMaintenanceFacts;
}

/** Reads a CarePlan as one pathway's facts. */
export const planReaders: { [P in PathwayCode]: (plan: CarePlan, timeZone: string) => PlanFactsOf[P] } = {
  'early-engagement': earlyEngagementFacts,
  'step-down': stepDownFacts,
  'crisis-transition': crisisFacts,
  'concern-routing': concernFacts,
  'recovery-maintenance': recoveryMaintenanceFacts,
};

/** A notification the adapter wrote: the concerns it routed, and the CarePlan of its record (by identifier). */
export interface NotificationFacts {
  /** The identifier search value of the CarePlan of the record it was sent for (`<recordId>/careplan`), if it names one. */
  plan?: string;
  concerns: RoutedConcernFacts[];
}

/**
 * Everything a governance report reads of one resource (facts.ts), in the site's time zone, as one JSON
 * value: a report picks the part its search is for. Made from the resource as a report reads it, or made
 * when the resource was written and kept beside it by the embedded store (storedFacts): the same function
 * either way, so the two cannot differ.
 */
export interface ResourceFacts {
  /** A CarePlan under each pathway a category coding names (a search by category reads it under that pathway). */
  plans?: Partial<PlanFactsOf>;
  task?: TaskFacts;
  peerContact?: PeerContact;
  notification?: NotificationFacts;
  blocked?: BlockedFacts;
  refused?: RefusedFacts;
}

/** The identifier search value of the CarePlan of the record a notification was sent for, if it names one. */
function planIdentifier(c: Communication): string | undefined {
  const id = c.identifier?.[0];
  const recordId = id?.value?.split('/')[0];
  return id?.system && recordId ? tokenSearchValue(id.system, `${recordId}/careplan`) : undefined;
}

/**
 * The pathways a CarePlan's category names, as a `category=<pathway system>|<code>` search matches them:
 * system and code compared without case (FHIR token search on the embedded server and Medplum).
 */
function categoryPathways(plan: CarePlan): PathwayCode[] {
  const system = systems.pathway.toLowerCase();
  const codes = new Set(
    (plan.category ?? [])
      .flatMap((c) => c.coding ?? [])
      .filter((c) => c.system?.toLowerCase() === system && c.code)
      .map((c) => (c.code as string).toLowerCase()),
  );
  return pathwayCodes.filter((p) => codes.has(p));
}

/** The types resourceFacts makes facts of: the others governance reads whole (Goals, the EHR's crisis Encounters by search) or not at all. */
export const factTypes = ['CarePlan', 'Task', 'Encounter', 'Communication', 'AuditEvent'] as const;

/** Every governance fact of a resource (ResourceFacts), or undefined for a type not in factTypes. */
export function resourceFacts(resource: Resource, timeZone: string): ResourceFacts | undefined {
  switch (resource.resourceType) {
    case 'CarePlan':
      return { plans: Object.fromEntries(categoryPathways(resource).map((p) => [p, planReaders[p](resource, timeZone)])) };
    case 'Task':
      return { task: taskFacts(resource, timeZone) };
    case 'Encounter':
      return { peerContact: peerContactOf(resource as Encounter, timeZone) };
    case 'Communication': {
      const plan = planIdentifier(resource);
      return { notification: { ...(plan ? { plan } : {}), concerns: routedConcernFacts(resource, timeZone) } };
    }
    case 'AuditEvent':
      return { blocked: blockedFacts(resource, timeZone), refused: refusedFacts(resource, timeZone) };
    default:
      return undefined;
  }
}

/** The text of the modules resourceFacts runs, beside this one (`.ts` under tsx, `.js` built). */
function sourceTexts(): string[] {
  const here = fileURLToPath(import.meta.url);
  const ext = extname(here);
  return ['./facts', './stored-facts', './period', '../fhir/lookup/search-values', '../fhir/references'].map((m) =>
    readFileSync(fileURLToPath(new URL(`${m}${ext}`, import.meta.url)), 'utf8'),
  );
}

/**
 * What made a store's kept facts: a hash of the code that makes them (these modules' text and the URLs
 * and systems they read by), the time zone database the local dates come from, and the site's time zone.
 * Computed, not a version number someone must remember to raise: a release that reads facts otherwise, or
 * a site that changes its time zone, reads the resources written before it whole (as a remote server's),
 * never facts made by other rules.
 */
export function factsKey(timeZone: string): string {
  let key = keys.get(timeZone);
  if (!key) {
    key = `governance-facts/${codeHash()}/${timeZone}`;
    keys.set(timeZone, key);
  }
  return key;
}

/** factsKey by time zone: each report asks (fetch.ts reportReader). */
const keys = new Map<string, string>();

function codeHash(): string {
  let code: string;
  try {
    code = sourceTexts().join('\n');
  } catch {
    // Sources not found beside this module (a bundled build): no kept facts are trusted.
    code = randomUUID();
  }
  const constants = JSON.stringify([
    extensions,
    systems,
    personFeedbackUrl,
    concernRoutingExtensions,
    earlyEngagementExtensions,
    recoveryMaintenanceExtensions,
    pathwayCodes,
  ]);
  return createHash('sha256')
    .update(code)
    .update(constants)
    .update(`${process.versions.icu ?? ''}/${process.versions.tz ?? ''}`)
    .digest('base64url')
    .slice(0, 22);
}

/**
 * The governance facts the embedded store keeps beside each resource it is given (embedded/repository.ts
 * Derivation, read back through FhirClient.derivedReads): `resourceFacts` in the site's time zone, under
 * factsKey.
 */
export function storedFacts(timeZone: string): {
  key: string;
  types: readonly string[];
  derive: (resource: Resource) => ResourceFacts | undefined;
} {
  return { key: factsKey(timeZone), types: factTypes, derive: (resource) => resourceFacts(resource, timeZone) };
}
