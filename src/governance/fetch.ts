import type { CarePlan, Encounter, Goal, PractitionerRole, Resource } from '@medplum/fhirtypes';
import pLimit, { type LimitFunction } from 'p-limit';
import type { CodesConfig } from '../config/mappings-schema.js';
import type { GovernanceConfig } from '../config/governance-schema.js';
import type { DerivedReads, FhirClient } from '../fhir/client.js';
import { searchAll as searchAllPages, visitAll, type SearchQuery, type SearchResult } from '../fhir/lookup/search-all.js';
import { clinicalTaskCodes, indexMonthSystem, recordMonthSystem, systems, trackingTaskCodes } from '../contract/vocabulary.js';
import { tokenSearchValue } from '../fhir/lookup/search-values.js';
import { pathwayCodes, type PathwayCode } from '../records/envelope.js';
import {
  pathwayOf,
  type BlockedFacts,
  type Case,
  type PeerContact,
  type PlanFacts,
  type RefusedFacts,
  type RoutedConcernFacts,
  type StepDownFacts,
  type TaskFacts,
} from './facts.js';
import { addDays, evidenceRange, lookBackDays, type Period } from './period.js';
import { factsKey, planReaders, resourceFacts, type PlanFactsOf, type ResourceFacts } from './stored-facts.js';

/**
 * Matches read at most for one search (its pages: this over the page size): a server whose next links never
 * end must not hang the report.
 */
export const maxMatches = 2_000_000;
/** Values of one token search (`_id`, `identifier`, `_tag`): a URL stays well under any server's limit. */
const valuesPerSearch = 50;

/**
 * What governance evidence for one period is computed from: the facts (facts.ts) of the resources of that
 * period and its windows, each read as its search page arrives, so that a report over thousands of records
 * holds their facts, never all their resources at once (measured on 9,500 records of one month: 0.35 s
 * and ~120 MB less than holding them). Each list holds a resource once, in the server's order.
 */
export interface GovernanceSources {
  carePlans: { [P in PathwayCode]: PlanFactsOf[P][] };
  /** The Goals the step-down CarePlans point at (by `Goal/id`). */
  goals: Map<string, Goal>;
  /** Clinical and routing Tasks. */
  tasks: TaskFacts[];
  /** The PractitionerRoles owning those Tasks (by `PractitionerRole/id`): a role's code tells a peer role. */
  owners: Map<string, PractitionerRole>;
  peerContacts: PeerContact[];
  /** The EHR's crisis-contact Encounters, whole: few, and crisis episodes are matched from them (facts.ts crisisEpisodes). */
  crisisEncounters: Encounter[];
  /** The concerns the notifications routed: their payload items (spec §6 escalation use). */
  routedConcerns: RoutedConcernFacts[];
  blocked: BlockedFacts[];
  refused: RefusedFacts[];
}

/** The Task codes governance reads: the clinical and tracking ones (role integrity) and the two routing channels. */
export const governanceTaskCodes = [...clinicalTaskCodes, ...trackingTaskCodes, 'care-coordination-review'] as const;

/**
 * The FHIR server as one report reads it, as its client says whole results are read (fhir/client.ts
 * WholeResultReads): at most `concurrentSearches` searches at once — each with all its pages, so that a
 * search holds its turn from its first page to its last — in pages of `pageSize`; and the facts a server
 * keeps beside its resources (`derived`: the embedded server's, stored-facts.ts), when they were made in
 * the report's time zone by this code.
 */
export interface ReportReader extends Pick<FhirClient, 'search' | 'page'> {
  /** Runs one whole search in its turn. */
  inTurn: LimitFunction;
  pageSize: number;
  /** The site's time zone: the facts' local dates. */
  timeZone: string;
  /** The server's kept facts, when made under this report's factsKey. */
  derived?: DerivedReads;
}

/** A reader for one report (a limit of its own: reports running side by side do not queue behind each other). */
export function reportReader(
  fhir: Pick<FhirClient, 'search' | 'page' | 'wholeResultReads' | 'derivedReads'>,
  timeZone: string,
): ReportReader {
  const { concurrentSearches, pageSize } = fhir.wholeResultReads;
  const derived = fhir.derivedReads && fhir.derivedReads.key === factsKey(timeZone) ? fhir.derivedReads : undefined;
  return {
    search: (...a) => fhir.search(...a),
    page: (...a) => fhir.page(...a),
    inTurn: pLimit(concurrentSearches),
    pageSize,
    timeZone,
    ...(derived ? { derived } : {}),
  };
}

/** All pages of one search (fhir/search-all.ts), its matches whole, in its turn, in the reader's pages unless `count` is given. */
export function searchAll(fhir: ReportReader, type: string, query: SearchQuery, count = fhir.pageSize): Promise<SearchResult> {
  return fhir.inTurn(() => searchAllPages(fhir, type, query, { pageSize: count, maxPages: Math.ceil(maxMatches / count) }));
}

/**
 * Every match of one search, each kept only as the part of its facts (stored-facts.ts ResourceFacts) that
 * `pick` takes (GovernanceSources): the facts the server keeps beside it, else made from the resource as
 * its page arrives. A match `pick` finds nothing in is left out.
 */
async function readAll<U>(
  fhir: ReportReader,
  type: string,
  query: SearchQuery,
  pick: (facts: ResourceFacts) => U | undefined,
): Promise<U[]> {
  const kept: U[] = [];
  const keep = (facts: ResourceFacts | undefined) => {
    const part = facts && pick(facts);
    if (part !== undefined) kept.push(part);
  };
  const { derived } = fhir;
  if (derived) {
    await fhir.inTurn(() =>
      derived.visitAll(type, query, (m) => keep('derived' in m ? (m.derived as ResourceFacts) : resourceFacts(m.resource, fhir.timeZone))),
    );
  } else {
    const count = fhir.pageSize;
    await fhir.inTurn(() =>
      visitAll(fhir, type, query, { pageSize: count, maxPages: Math.ceil(maxMatches / count) }, (match) =>
        keep(resourceFacts(match, fhir.timeZone)),
      ),
    );
  }
  return kept;
}

function tokens(codings: { system: string; code: string }[]): string {
  return codings.map((c) => `${c.system}|${c.code}`).join(',');
}

/** Each resource once (by its `Type/id`), the first read kept. */
function byCase<U extends { case: Case }>(lists: U[][]): U[] {
  const seen = new Map<string, U>();
  for (const list of lists) for (const f of list) if (!seen.has(f.case.reference)) seen.set(f.case.reference, f);
  return [...seen.values()];
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
 * A pathway's CarePlans for its range, read as facts by two searches: by the index-month tag of the date it
 * counts under as first sent (vocabulary.ts indexMonthTag: a resend may have moved the period since), and by
 * the content's index date (`date`, on CarePlan.period) for a CarePlan written before the index-date
 * extension existed — leaving out those the tag search reads (notTagged). facts.ts reads which date counts.
 */
async function carePlansOf<P extends Exclude<PathwayCode, 'concern-routing'>>(
  fhir: ReportReader,
  pathway: P,
  period: Period,
): Promise<PlanFactsOf[P][]> {
  const { from, to } = carePlanRange(pathway, period);
  const category = `${systems.pathway}|${pathway}`;
  const tags = monthTags({ start: from, end: to }, indexMonthSystem);
  const read = (f: ResourceFacts) => f.plans?.[pathway] as PlanFactsOf[P] | undefined;
  const [byIndexMonth, byPeriod] = await Promise.all([
    readEach(fhir, 'CarePlan', '_tag', tags, read, { category }),
    readAll(fhir, 'CarePlan', { category, date: startingIn(from, to), ...notTagged(tags) }, read),
  ]);
  return byCase([byIndexMonth, byPeriod]);
}

/**
 * `_tag:not` for each tag, one parameter each (FHIR search: repeated parameters are AND; a comma list
 * under `:not` reads differently across servers): the second search of a pair leaves out what the tag
 * search reads, so a resource is fetched and parsed once, while the union of the two stays the same.
 */
function notTagged(tags: string[]): SearchQuery {
  return tags.length ? { '_tag:not': tags } : {};
}

/** Values in lists of `valuesPerSearch`, one search each. */
function chunked(values: string[]): string[][] {
  const chunks: string[][] = [];
  for (let i = 0; i < values.length; i += valuesPerSearch) chunks.push(values.slice(i, i + valuesPerSearch));
  return chunks;
}

/** A token search over many values, in searches of `valuesPerSearch`, read as facts and joined (each resource once). */
async function readEach<U extends { case: Case }>(
  fhir: ReportReader,
  type: string,
  param: string,
  values: string[],
  pick: (facts: ResourceFacts) => U | undefined,
  query: SearchQuery = {},
): Promise<U[]> {
  return byCase(await Promise.all(chunked(values).map((c) => readAll(fhir, type, { ...query, [param]: c.join(',') }, pick))));
}

/**
 * The concern-routing CarePlans first sent in the period. R4 indexes no search parameter on
 * CarePlan.created, but every accepted concern-routing record notifies its channels, and a notification
 * keeps the date of the first send (`Communication.sent`, write-plan.ts): the records with a notification
 * sent in the period are read by their CarePlan's identifier (`<recordId>/careplan`, planIdentifier).
 */
function concernRoutingPlans(fhir: ReportReader, identifiers: Set<string>): Promise<PlanFactsOf['concern-routing'][]> {
  return readEach(fhir, 'CarePlan', 'identifier', [...identifiers], (f) => f.plans?.['concern-routing'], {
    category: `${systems.pathway}|concern-routing`,
  });
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
async function crisisEncounters(fhir: ReportReader, config: GovernanceConfig, date: string[]): Promise<Encounter[]> {
  const { class: classes, type } = config.crisisContactEncounter;
  const searches = [
    classes.length ? searchAll(fhir, 'Encounter', { class: tokens(classes), date }) : undefined,
    type.length ? searchAll(fhir, 'Encounter', { type: tokens(type), date }) : undefined,
  ];
  const found = await Promise.all(searches);
  return byId(found.flatMap((f) => (f?.matches ?? []) as Encounter[]));
}

/** The Goals the step-down CarePlans point at, by `_id`. */
async function goalsOf(fhir: ReportReader, plans: StepDownFacts[]): Promise<Goal[]> {
  const ids = [
    ...new Set(
      plans.flatMap((p) =>
        p.goals
          .map((g) => g.split('/'))
          .filter((r) => r[0] === 'Goal' && r[1])
          .map((r) => r[1] as string),
      ),
    ),
  ];
  const found = await Promise.all(chunked(ids).map((c) => searchAll(fhir, 'Goal', { _id: c.join(',') })));
  return byId(found.flatMap((f) => f.matches as Goal[]));
}

/**
 * Each CarePlan under one pathway. Each pathway's CarePlans are read by searches of their own: a record resent
 * under another pathway while a report reads (its CarePlan's category changed) can be read under both, and
 * was counted twice (outside tester). Such CarePlans are read again by `_id` and filed under the pathway
 * they now hold (left out if deleted meanwhile or of no pathway).
 */
async function eachPlanOnce(fhir: ReportReader, plans: GovernanceSources['carePlans']): Promise<GovernanceSources['carePlans']> {
  const seen = new Map<string, number>();
  for (const p of pathwayCodes) for (const f of plans[p]) seen.set(f.case.reference, (seen.get(f.case.reference) ?? 0) + 1);
  const moved = new Set([...seen].filter(([, n]) => n > 1).map(([reference]) => reference));
  if (!moved.size) return plans;
  const ids = [...moved].map((r) => r.split('/')[1] as string);
  const found = await Promise.all(chunked(ids).map((c) => searchAll(fhir, 'CarePlan', { _id: c.join(',') })));
  const kept = Object.fromEntries(pathwayCodes.map((p) => [p, plans[p].filter((f) => !moved.has(f.case.reference))])) as {
    [P in PathwayCode]: PlanFactsOf[P][];
  };
  for (const plan of byId(found.flatMap((f) => f.matches as CarePlan[]))) {
    const pathway = pathwayCodes.find((p) => p === pathwayOf(plan));
    if (pathway) (kept[pathway] as PlanFacts[]).push(planReaders[pathway](plan, fhir.timeZone));
  }
  return kept;
}

/**
 * The PractitionerRoles owning Tasks, by `_id` (role-integrity reads whether an owner is a peer role): each
 * Task's owner as FHIR resolves it (facts.ts TaskOwner). An owner of another type is no peer role.
 */
async function rolesOwning(fhir: ReportReader, tasks: TaskFacts[]): Promise<PractitionerRole[]> {
  const ids = new Set<string>();
  for (const t of tasks) {
    const [type, id] = t.owner?.reference?.split('/') ?? [];
    if (type === 'PractitionerRole' && id) ids.add(id);
  }
  const found = await Promise.all(chunked([...ids]).map((c) => searchAll(fhir, 'PractitionerRole', { _id: c.join(',') })));
  return byId(found.flatMap((f) => f.matches as PractitionerRole[]));
}

/**
 * Reads what governance needs for one period from the FHIR server: date-bounded searches on indexed
 * parameters (the period, the look-back before it and the follow-up windows after it: period.ts), so the
 * time a report takes follows the size of the period, not of the whole history. Searches as many at once
 * as the client runs (reportReader); each match is kept as its facts in the site's time zone
 * (GovernanceSources): the facts the embedded server keeps beside it, else made from the resource.
 */
export async function readSources(
  client: FhirClient,
  codes: CodesConfig,
  config: GovernanceConfig,
  period: Period,
  timeZone: string,
): Promise<GovernanceSources> {
  const fhir = reportReader(client, timeZone);
  const pathway = (code: string) => `${systems.pathway}|${code}`;
  const range = evidenceRange(period);
  const [from, to] = [addDays(period.start, -1), addDays(period.end, 1)];
  const months = monthTags(period);
  const blockedRead = (f: ResourceFacts) => f.blocked;
  const [
    earlyEngagement,
    stepDown,
    crisis,
    recoveryMaintenance,
    tasks,
    peerContacts,
    crisisContacts,
    notifications,
    blocked,
    blockedBefore,
    refused,
  ] = await Promise.all([
    carePlansOf(fhir, 'early-engagement', period),
    carePlansOf(fhir, 'step-down', period),
    carePlansOf(fhir, 'crisis-transition', period),
    carePlansOf(fhir, 'recovery-maintenance', period),
    readAll(
      fhir,
      'Task',
      { code: governanceTaskCodes.map(pathway).join(','), 'authored-on': overlapping(range.from, range.to) },
      (f) => f.task,
    ),
    // Contacts after a report in the period, within the longest reconnection window (14 days).
    readAll(
      fhir,
      'Encounter',
      { type: tokens(codes.peerContactType.slice(0, 1)), date: overlapping(from, addDays(to, 15)) },
      (f) => f.peerContact,
    ),
    // A week before the period too: an EHR's crisis discharge is matched to a crisis-transition record within 7 days.
    crisisEncounters(fhir, config, overlapping(addDays(from, -8), range.to)),
    readAll(fhir, 'Communication', { sent: overlapping(from, to) }, (f) => f.notification),
    // Dated by the record's recordedAt, filed under its month (the record-month tag), whenever audited.
    readEach(fhir, 'AuditEvent', '_tag', months, blockedRead, { type: pathway('record-blocked') }),
    // Blocks audited before the record-month tag: by when they were audited, within the look-back after the period.
    readAll(
      fhir,
      'AuditEvent',
      { type: pathway('record-blocked'), date: overlapping(from, addDays(to, lookBackDays)), ...notTagged(months) },
      blockedRead,
    ),
    readEach(fhir, 'AuditEvent', '_tag', months, (f) => f.refused, { type: pathway('record-refused') }),
  ]);
  const concernPlans = new Set(notifications.map((n) => n.plan).filter((p): p is string => p !== undefined));
  const [concernRouting, goals, owners] = await Promise.all([
    concernRoutingPlans(fhir, concernPlans),
    goalsOf(fhir, stepDown),
    rolesOwning(fhir, tasks),
  ]);
  const carePlans = await eachPlanOnce(fhir, {
    'early-engagement': earlyEngagement,
    'step-down': stepDown,
    'crisis-transition': crisis,
    'concern-routing': concernRouting,
    'recovery-maintenance': recoveryMaintenance,
  });
  return {
    carePlans,
    goals: new Map(goals.map((g) => [`Goal/${g.id}`, g])),
    tasks,
    owners: new Map(owners.map((r) => [`PractitionerRole/${r.id}`, r])),
    peerContacts,
    crisisEncounters: crisisContacts,
    routedConcerns: notifications.flatMap((n) => n.concerns),
    blocked: byCase([blocked, blockedBefore]),
    refused,
  };
}
