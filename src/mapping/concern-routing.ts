import type { ConcernRoutingRecord } from '../records/index.js';
import type { MappingContext, MappedResource } from './context.js';

/** Maps a concern-routing record to its resources. (Not yet implemented: the pathway answers 501 until it is.) */
export function mapConcernRouting(_ctx: MappingContext, _r: ConcernRoutingRecord): MappedResource[] {
  throw new Error('concern-routing mapping is not implemented yet');
}
