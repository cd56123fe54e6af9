import type { EarlyEngagementRecord } from '../records/index.js';
import type { MappingContext, MappedResource } from './context.js';

/** Maps a early-engagement record to its resources. (Not yet implemented: the pathway answers 501 until it is.) */
export function mapEarlyEngagement(_ctx: MappingContext, _r: EarlyEngagementRecord): MappedResource[] {
  throw new Error('early-engagement mapping is not implemented yet');
}
