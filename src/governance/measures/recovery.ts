import type { Goal } from '@medplum/fhirtypes';
import { caseOf, type Case, type PlanFacts } from '../facts.js';
import { indexDate, type MeasureInput } from '../digest.js';
import { inPeriod } from '../period.js';
import { cohortGroup, strataValues, proportionGroup, type GroupResult, type MeasureResult, type Population } from '../result.js';

const achievementSystem = 'http://terminology.hl7.org/CodeSystem/goal-achievement';
const achievementStrata = ['in-progress', 'achieved', 'not-achieved'] as const;

function stepDownsInPeriod(input: MeasureInput) {
  return input.facts.stepDown.filter((s) => inPeriod(s.startDate, input.period));
}

/** Recovery goals of step-downs starting in the period: share achieved, and counts by achievement status. */
export function recoveryGoalProgress(input: MeasureInput): MeasureResult {
  const goals = stepDownsInPeriod(input)
    .flatMap((s) => s.goals)
    .map((ref) => input.facts.goals.get(ref))
    .filter((g): g is Goal & { id: string } => g !== undefined)
    .map((g) => ({ case: caseOf(g), status: g.achievementStatus?.coding?.find((c) => c.system === achievementSystem)?.code ?? 'unknown' }));
  return {
    id: 'recovery-goal-progress',
    groups: [
      proportionGroup('goals-achieved', goals, (g) => (g.status === 'achieved' ? 'numerator' : 'not-met')),
      cohortGroup('goals-by-status', goals, [
        {
          code: 'achievement',
          values: strataValues(
            achievementStrata,
            goals.map((g) => g.status),
          ),
          of: (g) => [g.status],
        },
      ]),
    ],
    evidence: [],
  };
}

/** The pathways, in the contract's order: person feedback is reported for each (spec §6). */
const pathwayStrata = ['early-engagement', 'step-down', 'crisis-transition', 'concern-routing', 'recovery-maintenance'] as const;

function feedbackPopulations(records: PlanFacts[]): { populations: Population[]; score?: number } {
  const rated = records.filter((r) => r.feedbackScore !== undefined);
  const values = rated.map((r) => r.feedbackScore as number);
  const cases: Case[] = rated.map((r) => r.case);
  return {
    populations: [
      { code: 'initial-population', cases: records.map((r) => r.case) },
      { code: 'measure-population', cases },
      { code: 'measure-observation', cases, values },
    ],
    ...(values.length ? { score: values.reduce((a, b) => a + b, 0) / values.length } : {}),
  };
}

/**
 * Mean person-feedback score (1–5, spec §2 `personFeedback`) of the records of every pathway that count in
 * the period (digest.ts indexDate: intake, start of peer support, discharge, first send, start of check-ins)
 * and collected feedback: a continuous variable, stratified by pathway.
 */
export function personFeedback(input: MeasureInput): MeasureResult {
  const { facts, period } = input;
  const records: PlanFacts[] = [
    ...facts.earlyEngagement,
    ...facts.stepDown,
    ...facts.crisis,
    ...facts.concern,
    ...facts.recoveryMaintenance,
  ].filter((r) => inPeriod(indexDate(r), period));
  const group: GroupResult = {
    code: 'feedback-score',
    scoring: 'continuous-variable',
    ...feedbackPopulations(records),
    stratifiers: [
      {
        code: 'pathway',
        strata: pathwayStrata.map((value) => ({ value, ...feedbackPopulations(records.filter((r) => r.pathway === value)) })),
      },
    ],
  };
  return { id: 'person-feedback', groups: [group], evidence: [] };
}
