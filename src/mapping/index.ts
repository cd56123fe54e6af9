import type { Bundle } from '@medplum/fhirtypes';
import type { PathwayCode, PathwayRecord } from '../records/index.js';
import type { MappedResource, MappingContext } from './context.js';
import { mapConcernRouting } from './concern-routing.js';
import { mapCrisisTransition } from './crisis-transition.js';
import { mapEarlyEngagement } from './early-engagement.js';
import { mapRecoveryMaintenance } from './recovery-maintenance.js';
import { mapStepDown } from './step-down.js';
import { buildSafetyTask, safetyRaised } from './triggers/safety.js';
import { profileUrl } from '../contract/vocabulary.js';

type Mapper = (ctx: MappingContext, record: never) => MappedResource[];

/** One mapping function per pathway: adding a pathway adds one entry here and one file beside it. */
const mappers: Record<PathwayCode, Mapper> = {
  'early-engagement': mapEarlyEngagement,
  'step-down': mapStepDown,
  'crisis-transition': mapCrisisTransition,
  'concern-routing': mapConcernRouting,
  'recovery-maintenance': mapRecoveryMaintenance,
};

/** The Bundle profile whose invariants are a pathway's gates. */
export function bundleProfileOf(pathway: PathwayCode): string {
  return profileUrl(`${pathway}-bundle`);
}

// Referenced resources first, so that a reader of the Bundle meets a target before its referrers.
const typeOrder = ['Consent', 'Goal', 'Encounter', 'CarePlan', 'Communication', 'Task', 'AuditEvent', 'Provenance'];

/**
 * Maps a record to its resources, in a deterministic order (byte-stable Bundles for the same record).
 * Safety first is applied here, once for every pathway (spec §4): a disclosure or a routed safety concern
 * adds the one stat review; no pathway mapper raises it itself.
 */
export function mapRecord(ctx: MappingContext): MappedResource[] {
  const mapped = [
    ...mappers[ctx.record.pathway](ctx, ctx.record as never),
    ...(safetyRaised(ctx) ? [buildSafetyTask(ctx, { blocked: false })] : []),
  ];
  return mapped
    .map((m, i) => ({ m, i }))
    .sort((a, b) => typeOrder.indexOf(a.m.resource.resourceType) - typeOrder.indexOf(b.m.resource.resourceType) || a.i - b.i)
    .map(({ m }) => m);
}

/** The whole mapped record as a transaction Bundle: what the gates evaluate. */
export function gateBundle(ctx: MappingContext, mapped: MappedResource[]): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    meta: { profile: [bundleProfileOf(ctx.record.pathway as PathwayRecord['pathway'])] },
    // A withdrawal (MappedResource.withdrawn) is not part of what this record asserts.
    entry: mapped
      .filter((m) => !m.withdrawn)
      .map((m) => ({
        fullUrl: ctx.slotRef(m.slot),
        resource: m.resource,
        request: { method: 'POST', url: m.resource.resourceType },
      })),
  };
}
