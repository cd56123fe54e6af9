import type { Case } from './facts.js';

/** Codes of http://terminology.hl7.org/CodeSystem/measure-population used here. */
export type PopulationCode =
  'initial-population' | 'denominator' | 'denominator-exclusion' | 'numerator' | 'measure-population' | 'measure-observation';
/** Codes of http://terminology.hl7.org/CodeSystem/measure-scoring used here. */
export type Scoring = 'proportion' | 'cohort' | 'continuous-variable';

/** One population and the cases counted in it. */
export interface Population {
  code: PopulationCode;
  cases: Case[];
  /** For measure-observation: the observed values (the count is their number). */
  values?: number[];
}

/** One stratum (e.g. with peer support) of a group. */
export interface Stratum {
  value: string;
  /** False for a value outside the measure-stratum CodeSystem (a source system, a month, a field path): reported as text only. */
  coded?: boolean;
  populations: Population[];
  score?: number;
}

/** One group of a measure (a measure may report several, e.g. 30 and 90 days). */
export interface GroupResult {
  code: string;
  scoring: Scoring;
  populations: Population[];
  score?: number;
  stratifiers?: { code: string; strata: Stratum[] }[];
}

/** A computed measure, before it becomes a MeasureReport. */
export interface MeasureResult {
  id: string;
  groups: GroupResult[];
  /** Evidence consulted besides the counted cases (re-contact Encounters, Goals…). */
  evidence: Case[];
}

/** How a case of a proportion measure falls. */
export type Outcome = 'numerator' | 'not-met' | 'excluded';

/** Populations and score of a proportion: score = numerator / (denominator − exclusions), none when that is 0. */
export function proportion<T extends { case: Case }>(
  items: T[],
  outcomeOf: (item: T) => Outcome,
): { populations: Population[]; score?: number } {
  const all = items.map((i) => i.case);
  const excluded = items.filter((i) => outcomeOf(i) === 'excluded').map((i) => i.case);
  const met = items.filter((i) => outcomeOf(i) === 'numerator').map((i) => i.case);
  const denominator = all.length - excluded.length;
  return {
    populations: [
      { code: 'initial-population', cases: all },
      { code: 'denominator', cases: all },
      { code: 'denominator-exclusion', cases: excluded },
      { code: 'numerator', cases: met },
    ],
    ...(denominator > 0 ? { score: met.length / denominator } : {}),
  };
}

/** A proportion group with strata (e.g. with and without peer support). */
export function proportionGroup<T extends { case: Case }>(
  code: string,
  items: T[],
  outcomeOf: (item: T) => Outcome,
  stratifier?: { code: string; values: string[]; of: (item: T) => string },
): GroupResult {
  return {
    code,
    scoring: 'proportion',
    ...proportion(items, outcomeOf),
    ...(stratifier
      ? {
          stratifiers: [
            {
              code: stratifier.code,
              strata: stratifier.values.map((value) => ({
                value,
                ...proportion(
                  items.filter((i) => stratifier.of(i) === value),
                  outcomeOf,
                ),
              })),
            },
          ],
        }
      : {}),
  };
}

/** A way of splitting a cohort: an item may fall in several strata (a record blocked by two gates). */
export interface CohortStratifier<T> {
  code: string;
  values: string[];
  of: (item: T) => string[];
  /** False when the values are not codes of the measure-stratum CodeSystem (a source system, a month, a field path). */
  coded?: boolean;
}

/** A cohort group: a count of cases (target often 0), optionally by strata. */
export function cohortGroup<T extends { case: Case }>(code: string, items: T[], stratifiers: CohortStratifier<T>[] = []): GroupResult {
  return {
    code,
    scoring: 'cohort',
    populations: [{ code: 'initial-population', cases: items.map((i) => i.case) }],
    ...(stratifiers.length
      ? {
          stratifiers: stratifiers.map((s) => ({
            code: s.code,
            strata: s.values.map((value) => ({
              value,
              ...(s.coded === false ? { coded: false } : {}),
              populations: [
                { code: 'initial-population' as const, cases: items.filter((i) => s.of(i).includes(value)).map((i) => i.case) },
              ],
            })),
          })),
        }
      : {}),
  };
}

/** Fixed strata first (so a chart always shows them, even at 0), then any others seen, sorted. */
export function strataValues(fixed: readonly string[], seen: Iterable<string>): string[] {
  return [...fixed, ...[...new Set(seen)].filter((v) => !fixed.includes(v)).sort()];
}

/** The outcome of a follow-up window: an event within it, none and the window is over, or none yet. */
export function windowOutcome(eventDays: number[], windowDays: number, daysSoFar: number): 'event' | 'none' | 'pending' {
  if (eventDays.some((d) => d >= 0 && d <= windowDays)) return 'event';
  return daysSoFar > windowDays ? 'none' : 'pending';
}
