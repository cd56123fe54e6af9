import type { Bundle, List, MeasureReport, MeasureReportGroup, MeasureReportGroupPopulation, Reference } from '@medplum/fhirtypes';
import { recordIdOf, type Case } from './facts.js';
import type { Period } from './period.js';
import type { GroupResult, MeasureResult, Population } from './result.js';
import { groupScoringExtension, governanceSystems as sys, measureUrl } from './vocabulary.js';

/** Where a case sits in a List: its resource, its business identifier and the recordId it traces to. */
function caseReference(c: Case): Reference {
  const recordId = recordIdOf(c);
  return {
    reference: c.reference,
    ...(c.identifier ? { identifier: c.identifier } : {}),
    ...(recordId ? { display: `record ${recordId}` } : {}),
  };
}

/** Contained Lists, one per non-empty population, that subjectResults point at. */
class Lists {
  readonly contained: List[] = [];

  add(idParts: string[], cases: Case[]): Reference<List> | undefined {
    if (!cases.length) return undefined;
    const id = idParts
      .join('.')
      .replace(/[^A-Za-z0-9\-.]/g, '-')
      .slice(0, 64);
    this.contained.push({
      resourceType: 'List',
      id,
      status: 'current',
      mode: 'snapshot',
      title: `Cases of ${idParts.join(' / ')}`,
      entry: cases.map((c) => ({ item: caseReference(c) })),
    });
    return { reference: `#${id}` } as Reference<List>;
  }
}

function populations(pops: Population[], lists: Lists, idParts: string[]): MeasureReportGroupPopulation[] {
  return pops.map((p) => {
    const subjectResults = lists.add([...idParts, p.code], p.cases);
    return {
      code: { coding: [{ system: sys.measurePopulation, code: p.code }] },
      count: p.values ? p.values.length : p.cases.length,
      ...(subjectResults ? { subjectResults } : {}),
    };
  });
}

function score(value: number | undefined) {
  return value === undefined ? {} : { measureScore: { value: Math.round(value * 10_000) / 10_000 } };
}

function group(g: GroupResult, lists: Lists): MeasureReportGroup {
  return {
    extension: [{ url: groupScoringExtension, valueCodeableConcept: { coding: [{ system: sys.measureScoring, code: g.scoring }] } }],
    code: { coding: [{ system: sys.measureGroup, code: g.code }], text: g.code },
    population: populations(g.populations, lists, [g.code]),
    ...score(g.score),
    ...(g.stratifiers?.length
      ? {
          stratifier: g.stratifiers.map((s) => ({
            code: [{ coding: [{ system: sys.stratifier, code: s.code }], text: s.code }],
            stratum: s.strata.map((st) => ({
              value: st.coded === false ? { text: st.value } : { coding: [{ system: sys.stratum, code: st.value }], text: st.value },
              population: populations(st.populations, lists, [g.code, st.value]),
              ...score(st.score),
            })),
          })),
        }
      : {}),
  };
}

/** Every resource the report counted or consulted, once, each with the identifier that names its record. */
function evaluated(result: MeasureResult): Reference[] {
  const all = new Map<string, Case>();
  const add = (c: Case) => all.set(c.reference, c);
  for (const g of result.groups) {
    g.populations.forEach((p) => p.cases.forEach(add));
    g.stratifiers?.forEach((s) => s.strata.forEach((st) => st.populations.forEach((p) => p.cases.forEach(add))));
  }
  result.evidence.forEach(add);
  return [...all.values()].map((c) => ({ reference: c.reference, ...(c.identifier ? { identifier: c.identifier } : {}) }));
}

/** A summary MeasureReport (DEQM-style) whose populations list their cases, traceable to source recordIds. */
export function toMeasureReport(
  result: MeasureResult,
  period: Period,
  generated: Date,
  reporter: MeasureReport['reporter'],
): MeasureReport {
  const lists = new Lists();
  const groups = result.groups.map((g) => group(g, lists));
  const evaluatedResource = evaluated(result);
  return {
    resourceType: 'MeasureReport',
    id: result.id,
    ...(lists.contained.length ? { contained: lists.contained } : {}),
    status: 'complete',
    type: 'summary',
    measure: measureUrl(result.id),
    date: generated.toISOString(),
    reporter,
    period: { start: period.start, end: period.end },
    group: groups,
    ...(evaluatedResource.length ? { evaluatedResource } : {}),
  };
}

/** The reports of one period as a collection Bundle (spec §7 GET /governance/measures). */
export function reportBundle(reports: MeasureReport[], generated: Date): Bundle<MeasureReport> {
  return {
    resourceType: 'Bundle',
    type: 'collection',
    timestamp: generated.toISOString(),
    entry: reports.map((resource) => ({ resource })),
  };
}
