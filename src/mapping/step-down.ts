import type { StepDownRecord } from '../records/index.js';
import type { MappingContext, MappedResource } from './context.js';

/** Maps a step-down record to its resources. (Not yet implemented: the pathway answers 501 until it is.) */
export function mapStepDown(_ctx: MappingContext, _r: StepDownRecord): MappedResource[] {
  throw new Error('step-down mapping is not implemented yet');
}
