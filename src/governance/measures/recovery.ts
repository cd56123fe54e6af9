import type { Goal } from '@medplum/fhirtypes';
import { caseOf, type Case } from '../facts.js';
import type { MeasureInput } from '../digest.js';
import { inPeriod } from '../period.js';
import { cohortGroup, strataValues, proportionGroup, type GroupResult, type MeasureResult } from '../result.js';

const achievementSystem = 'http://terminology.hl7.org/CodeSystem/goal-achievement';
const achievementStrata = ['in-progress', 'achieved', 'not-achieved'] as const;

function stepDownsInPeriod(input: MeasureInput) {
  return input.facts.stepDown.filter((s) => inPeriod(s.startDate, input.period));
}

/** Recovery goals of step-downs starting in the period: share achieved, and counts by achievement status. */
export function recoveryGoalProgress(input: MeasureInput): MeasureResult {
  const goals = stepDownsInPeriod(input).flatMap((s) => s.goals)
    .map((ref) => input.facts.goals.get(ref))
    .filter((g): g is Goal & { id: string } => g !== undefined)
    .map((g) => ({ case: caseOf(g), status: g.achievementStatus?.coding?.find((c) => c.system === achievementSystem)?.code ?? 'unknown' }));
  return {
    id: 'recovery-goal-progress',
    groups: [
      proportionGroup('goals-achieved', goals, (g) => (g.status === 'achieved' ? 'numerator' : 'not-met')),
      cohortGroup('goals-by-status', goals, [{ code: 'achievement', values: strataValues(achievementStrata, goals.map((g) => g.status)), of: (g) => [g.status] }]),
    ],
    evidence: [],
  };
}

/** Mean feedback score (1–5) of step-downs starting in the period that collected feedback: a continuous variable. */
export function personFeedback(input: MeasureInput): MeasureResult {
  const stepDowns = stepDownsInPeriod(input);
  const rated = stepDowns.filter((s) => s.feedbackScore !== undefined);
  const values = rated.map((s) => s.feedbackScore as number);
  const cases: Case[] = rated.map((s) => s.case);
  const group: GroupResult = {
    code: 'feedback-score',
    scoring: 'continuous-variable',
    populations: [
      { code: 'initial-population', cases: stepDowns.map((s) => s.case) },
      { code: 'measure-population', cases },
      { code: 'measure-observation', cases, values },
    ],
    ...(values.length ? { score: values.reduce((a, b) => a + b, 0) / values.length } : {}),
  };
  return { id: 'person-feedback', groups: [group], evidence: [] };
}
