import type { AuditEvent, CarePlan, Communication, Encounter, Goal, Resource, Task } from '@medplum/fhirtypes';
import type { CodesConfig } from '../config/mappings-schema.js';
import type { GovernanceConfig } from '../config/governance-schema.js';
import type { FhirClient } from '../fhir/client.js';
import { searchAll as searchAllPages, type SearchQuery, type SearchResult } from '../fhir/lookup/search-all.js';
import { clinicalTaskCodes, indexMonthSystem, recordMonthSystem, systems, trackingTaskCodes } from '../contract/vocabulary.js';
import { tokenSearchValue } from '../fhir/lookup/search-values.js';
import { pathwayCodes, type PathwayCode } from '../records/envelope.js';
import { addDays, evidenceRange, lookBackDays, type Period } from './period.js';

/** Resources per search page: the largest page a real Medplum server serves (fewer pages, fewer re-runs of the search). */
export const pageSize = 1_000;
/**
 * Resources per page of a search with _include: Medplum refuses a page whose matches plus included
 * resources pass 1,000; with one included owner per Task at most, 500 matches can never reach it.
 */
export const includePageSize = 500;
/** Pages followed for one search: a server whose next links never end must not hang the report. */
export const maxPages = 2_000;
/** Values of one token search (`_id`, `identifier`, `_tag`): a URL stays well under any server's limit. */
const valuesPerSearch = 50;

/** What governance evidence for one period is computed from: the resources of that period and its windows. */
export interface GovernanceSources {
  carePlans: Record<PathwayCode, CarePlan[]>;
  /** The Goals the step-down CarePlans point at (by `Goal/id`). */
  goals: Map<string, Goal>;
  /** Clinical and routing Tasks. */
  tasks: Task[];
  /** Owners of those Tasks (by `Type/id`), included with them: a PractitionerRole's code tells a peer role. */
  owners: Map<string, Resource>;
  peerContacts: Encounter[];
  crisisEncounters: Encounter[];
  /** Notifications: the routed concerns are their payload items (spec §6 escalation use). */
  communications: Communication[];
  blocked: AuditEvent[];
  refused: AuditEvent[];
}

/** The Task codes governance reads: the clinical and tracking ones (role integrity) and the two routing channels. */
export const governanceTaskCodes = [...clinicalTaskCodes, ...trackingTaskCodes, 'care-coordination-review'] as const;

/** All pages of one search (fhir/search-all.ts), with governance's page sizes. */
export function searchAll(
  fhir: Pick<FhirClient, 'search' | 'page'>,
  type: string,
  query: SearchQuery,
  count = query._include ? includePageSize : pageSize,
): Promise<SearchResult> {
  return searchAllPages(fhir, type, query, { pageSize: count, maxPages });
}

function tokens(codings: { system: string; code: string }[]): string {
  return codings.map((c) => `${c.system}|${c.code}`).join(',');
}

function byId<T extends Resource>(resources: T[]): T[] {
  return [...new Map(resources.map((r) => [`${r.resourceType}/${r.id}`, r])).values()];
}

/** `date`-style bounds: resources whose dates overlap [from, to] (FHIR `ge`/`le` on a period). */
function overlapping(from: string, to: string): string[] {
  return [`ge${from}`, `le${to}`];
}

/** Bounds on a period's start: resources whose period starts within [from, to] (FHIR `sa`/`le`). */
function startingIn(from: string, to: string): string[] {
  return [`sa${addDays(from, -1)}`, `le${to}`];
}

/**
 * The dates each pathway's CarePlans are read for, for a period: the date each counts under (its index
 * date, spec §6, digest.ts indexDate) widened to the windows that look past it (period.ts evidenceRange).
 * Concern-routing CarePlans carry no period: they count by their first send, read through their
 * notifications (concernRoutingPlans).
 */
function carePlanRange(pathway: Exclude<PathwayCode, 'concern-routing'>, period: Period): { from: string; to: string } {
  const range = evidenceRange(period);
  const [from, to] = [addDays(period.start, -1), addDays(period.end, 1)];
  switch (pathway) {
    case 'step-down':
      return { from, to };
    case 'crisis-transition':
      // Earlier discharges have first appointments in the period; later ones are re-contacts within a window.
      return range;
    default:
      // Early engagement (intake) and recovery maintenance (check-ins start): an appointment or a missed
      // check-in reported in the period may belong to a record that started up to the look-back before it.
      return { from: range.from, to };
  }
}

/**
 * A pathway's CarePlans for its range, read by two searches: by the content's index date (`date`, on
 * CarePlan.period: a CarePlan written before the index-date extension existed), and by the index-month tag
 * of the date it counts under as first sent (vocabulary.ts indexMonthTag: a resend may have moved the period
 * since). Joined by id; facts.ts reads which date counts.
 */
async function carePlansOf(fhir: FhirClient, pathway: Exclude<PathwayCode, 'concern-routing'>, period: Period): Promise<CarePlan[]> {
  const { from, to } = carePlanRange(pathway, period);
  const category = `${systems.pathway}|${pathway}`;
  const [byPeriod, byIndexMonth] = await Promise.all([
    searchAll(fhir, 'CarePlan', { category, date: startingIn(from, to) }),
    searchEach(fhir, 'CarePlan', '_tag', monthTags({ start: from, end: to }, indexMonthSystem), { category }),
  ]);
  return byId([...byPeriod.matches, ...byIndexMonth]) as CarePlan[];
}

/** A token search over many values, in searches of `valuesPerSearch`, joined. */
async function searchEach(fhir: FhirClient, type: string, param: string, values: string[], query: SearchQuery = {}): Promise<Resource[]> {
  const chunks: string[][] = [];
  for (let i = 0; i < values.length; i += valuesPerSearch) chunks.push(values.slice(i, i + valuesPerSearch));
  const found = await Promise.all(chunks.map((c) => searchAll(fhir, type, { ...query, [param]: c.join(',') })));
  return byId(found.flatMap((f) => f.matches));
}

/**
 * The concern-routing CarePlans first sent in the period. R4 indexes no search parameter on
 * CarePlan.created, but every accepted concern-routing record notifies its channels, and a notification
 * keeps the date of the first send (`Communication.sent`, write-plan.ts): the records with a notification
 * sent in the period are read by their CarePlan's identifier (`<recordId>/careplan`).
 */
function concernRoutingPlans(fhir: FhirClient, communications: Communication[]): Promise<Resource[]> {
  const identifiers = new Set<string>();
  for (const c of communications) {
    const id = c.identifier?.[0];
    const recordId = id?.value?.split('/')[0];
    if (id?.system && recordId) identifiers.add(tokenSearchValue(id.system, `${recordId}/careplan`));
  }
  return searchEach(fhir, 'CarePlan', 'identifier', [...identifiers], { category: `${systems.pathway}|concern-routing` });
}

/** The month tags (record-month: audit.ts, refusal.ts; index-month: careplan.ts) of every month the dates touch, a day wider each side. */
function monthTags(period: Pick<Period, 'start' | 'end'>, system: string = recordMonthSystem): string[] {
  const months = new Set<string>();
  for (let d = addDays(period.start, -1); d <= addDays(period.end, 1); d = addDays(`${d.slice(0, 7)}-01`, 32).slice(0, 7) + '-01') {
    months.add(d.slice(0, 7));
  }
  return [...months].map((m) => tokenSearchValue(system, m));
}

/** Crisis-contact Encounters dated in the range: any configured class, or any configured type (two searches, joined). */
async function crisisEncounters(fhir: FhirClient, config: GovernanceConfig, date: string[]): Promise<Encounter[]> {
  const { class: classes, type } = config.crisisContactEncounter;
  const searches = [
    classes.length ? searchAll(fhir, 'Encounter', { class: tokens(classes), date }) : undefined,
    type.length ? searchAll(fhir, 'Encounter', { type: tokens(type), date }) : undefined,
  ];
  const found = await Promise.all(searches);
  return byId(found.flatMap((f) => (f?.matches ?? []) as Encounter[]));
}

/** The Goals the CarePlans point at, by `_id`. */
async function goalsOf(fhir: FhirClient, plans: CarePlan[]): Promise<Goal[]> {
  const ids = [
    ...new Set(
      plans.flatMap((p) =>
        (p.goal ?? [])
          .map((g) => g.reference?.split('/'))
          .filter((r) => r?.[0] === 'Goal' && r[1])
          .map((r) => r![1] as string),
      ),
    ),
  ];
  return (await searchEach(fhir, 'Goal', '_id', ids)) as Goal[];
}

/**
 * Reads what governance needs for one period from the FHIR server's REST API: date-bounded searches on
 * indexed parameters (the period, the look-back before it and the follow-up windows after it: period.ts),
 * so the time a report takes follows the size of the period, not of the whole history. Searches in parallel.
 */
export async function readSources(
  fhir: FhirClient,
  codes: CodesConfig,
  config: GovernanceConfig,
  period: Period,
): Promise<GovernanceSources> {
  const pathway = (code: string) => `${systems.pathway}|${code}`;
  const range = evidenceRange(period);
  const [from, to] = [addDays(period.start, -1), addDays(period.end, 1)];
  const months = monthTags(period);
  const planned = pathwayCodes.filter((p): p is Exclude<PathwayCode, 'concern-routing'> => p !== 'concern-routing');
  const [plans, tasks, peerContacts, crisis, communications, blocked, blockedBefore, refused] = await Promise.all([
    Promise.all(planned.map((p) => carePlansOf(fhir, p, period))),
    searchAll(fhir, 'Task', {
      code: governanceTaskCodes.map(pathway).join(','),
      'authored-on': overlapping(range.from, range.to),
      _include: 'Task:owner',
    }),
    // Contacts after a report in the period, within the longest reconnection window (14 days).
    searchAll(fhir, 'Encounter', { type: tokens(codes.peerContactType.slice(0, 1)), date: overlapping(from, addDays(to, 15)) }),
    // A week before the period too: an EHR's crisis discharge is matched to a crisis-transition record within 7 days.
    crisisEncounters(fhir, config, overlapping(addDays(from, -8), range.to)),
    searchAll(fhir, 'Communication', { sent: overlapping(from, to) }),
    // Dated by the record's recordedAt, filed under its month (the record-month tag), whenever audited.
    searchEach(fhir, 'AuditEvent', '_tag', months, { type: pathway('record-blocked') }),
    // Blocks audited before the record-month tag: by when they were audited, within the look-back after the period.
    searchAll(fhir, 'AuditEvent', { type: pathway('record-blocked'), date: overlapping(from, addDays(to, lookBackDays)) }),
    searchEach(fhir, 'AuditEvent', '_tag', months, { type: pathway('record-refused') }),
  ]);
  const carePlans = Object.fromEntries([
    ...planned.map((p, i) => [p, plans[i]!]),
    ['concern-routing', await concernRoutingPlans(fhir, communications.matches as Communication[])],
  ]) as Record<PathwayCode, CarePlan[]>;
  const goals = await goalsOf(fhir, carePlans['step-down']);
  return {
    carePlans,
    goals: new Map(goals.map((g) => [`Goal/${g.id}`, g])),
    tasks: tasks.matches as Task[],
    owners: tasks.included,
    peerContacts: peerContacts.matches as Encounter[],
    crisisEncounters: crisis,
    communications: communications.matches as Communication[],
    blocked: byId([...blocked, ...blockedBefore.matches]) as AuditEvent[],
    refused: refused as AuditEvent[],
  };
}
