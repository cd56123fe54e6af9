import type { Goal } from '@medplum/fhirtypes';
import type { MappingContext, MappedResource } from '../context.js';
import { recordIdentity } from './common.js';
import { contentCategory, maskedConcept } from '../consent-scope.js';

const achievementCode = {
  'in-progress': 'in-progress',
  achieved: 'achieved',
  'not-achieved': 'not-achieved',
} as const;

/**
 * A recovery goal (spec §3.2) as a Goal, expressed by the person; achievement as the standard code. Its
 * words are content of `recovery-goals` (spec §5): masked unless consented for the care team; its status
 * and target date are operational and always written (governance counts goals by achievement).
 */
export function buildGoal(
  ctx: MappingContext,
  slot: string,
  goal: { description: string; targetDate?: string; status?: keyof typeof achievementCode },
): MappedResource {
  const resource: Goal = {
    resourceType: 'Goal',
    ...recordIdentity(ctx, slot, 'peer-pathway-goal'),
    lifecycleStatus: goal.status === 'achieved' ? 'completed' : 'active',
    // Without a status the achievement is not known (spec §6: reported `unknown`), never assumed in progress.
    achievementStatus: goal.status
      ? { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/goal-achievement', code: achievementCode[goal.status] }] }
      : { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] },
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/goal-category', code: 'behavioral', display: 'Behavioral' }] }],
    description: maskedConcept(ctx, contentCategory.recoveryGoals, { text: goal.description }),
    subject: ctx.person,
    expressedBy: ctx.person,
    ...(goal.targetDate ? { target: [{ dueDate: goal.targetDate }] } : {}),
  };
  return { slot, resource };
}
