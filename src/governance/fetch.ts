import type { AuditEvent, CarePlan, Encounter, Goal, Resource, Task } from '@medplum/fhirtypes';
import type { CodesConfig } from '../config/mappings-schema.js';
import type { GovernanceConfig } from '../config/governance-schema.js';
import type { FhirClient } from '../fhir/client.js';
import { searchAll as searchAllPages, type SearchResult } from '../fhir/lookup/search-all.js';
import { clinicalTaskCodes, profileUrl, systems, trackingTaskCodes } from '../contract/vocabulary.js';
import { pathwayCodes, type PathwayCode } from '../records/envelope.js';

/** Resources per search page: the largest page a real Medplum server serves (fewer pages, fewer re-runs of the search). */
export const pageSize = 1_000;
/**
 * Resources per page of a search with _include: Medplum refuses a page whose matches plus included
 * resources pass 1,000; with one included owner per Task at most, 500 matches can never reach it.
 */
export const includePageSize = 500;
/** Pages followed for one search: a server whose next links never end must not hang the report. */
export const maxPages = 2_000;

/** Every resource of the FHIR server that governance evidence is computed from. */
export interface GovernanceSources {
  carePlans: Record<PathwayCode, CarePlan[]>;
  /** The adapter's Goals (by `Goal/id`): step-down CarePlans point at them. */
  goals: Map<string, Goal>;
  /** Clinical and routing Tasks. */
  tasks: Task[];
  /** Owners of those Tasks (by `Type/id`), included with them: a PractitionerRole's code tells a peer role. */
  owners: Map<string, Resource>;
  peerContacts: Encounter[];
  crisisEncounters: Encounter[];
  blocked: AuditEvent[];
}

/** The Task codes governance reads: the clinical and tracking ones (role integrity) and the two routing channels. */
export const governanceTaskCodes = [...clinicalTaskCodes, ...trackingTaskCodes, 'care-coordination-review'] as const;

/** All pages of one search (fhir/search-all.ts), with governance's page sizes. */
export function searchAll(fhir: Pick<FhirClient, 'search' | 'page'>, type: string, query: Record<string, string>, count = query._include ? includePageSize : pageSize): Promise<SearchResult> {
  return searchAllPages(fhir, type, query, { pageSize: count, maxPages });
}

function tokens(codings: { system: string; code: string }[]): string {
  return codings.map((c) => `${c.system}|${c.code}`).join(',');
}

function byId<T extends Resource>(resources: T[]): T[] {
  return [...new Map(resources.map((r) => [`${r.resourceType}/${r.id}`, r])).values()];
}

/** Crisis-contact Encounters: any configured class, or any configured type (two searches, joined). */
async function crisisEncounters(fhir: FhirClient, config: GovernanceConfig): Promise<Encounter[]> {
  const { class: classes, type } = config.crisisContactEncounter;
  const searches = [
    classes.length ? searchAll(fhir, 'Encounter', { class: tokens(classes) }) : undefined,
    type.length ? searchAll(fhir, 'Encounter', { type: tokens(type) }) : undefined,
  ];
  const found = await Promise.all(searches);
  return byId(found.flatMap((f) => (f?.matches ?? []) as Encounter[]));
}

/** Reads everything governance needs from the FHIR server's REST API, searches in parallel. */
export async function readSources(fhir: FhirClient, codes: CodesConfig, config: GovernanceConfig): Promise<GovernanceSources> {
  const pathway = (code: string) => `${systems.pathway}|${code}`;
  const [plans, goals, tasks, peerContacts, crisis, blocked] = await Promise.all([
    Promise.all(pathwayCodes.map((p) => searchAll(fhir, 'CarePlan', { category: pathway(p) }))),
    // Not _include=CarePlan:goal: a page of plans with many goals each would pass Medplum's include limit.
    searchAll(fhir, 'Goal', { _profile: profileUrl('peer-pathway-goal') }),
    searchAll(fhir, 'Task', { code: governanceTaskCodes.map(pathway).join(','), _include: 'Task:owner' }),
    searchAll(fhir, 'Encounter', { type: tokens(codes.peerContactType.slice(0, 1)) }),
    crisisEncounters(fhir, config),
    searchAll(fhir, 'AuditEvent', { type: pathway('record-blocked') }),
  ]);
  const carePlans = Object.fromEntries(pathwayCodes.map((p, i) => [p, plans[i]!.matches as CarePlan[]])) as Record<PathwayCode, CarePlan[]>;
  return {
    carePlans,
    goals: new Map((goals.matches as Goal[]).map((g) => [`Goal/${g.id}`, g])),
    tasks: tasks.matches as Task[],
    owners: tasks.included,
    peerContacts: peerContacts.matches as Encounter[],
    crisisEncounters: crisis,
    blocked: blocked.matches as AuditEvent[],
  };
}
