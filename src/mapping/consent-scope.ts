import type { ConcernCategory, RecipientKind } from '../config/mappings-schema.js';
import type { MappingContext } from './context.js';
import type { PayloadItem } from './resources/communication.js';

/**
 * The one place that decides what content about the person may travel (spec §2, §3.5).
 * Optional content (free text beyond the minimum needed to act) goes only where consent covers it;
 * content that is the disclosure itself (a routed concern, a notification) always goes into the
 * Bundle so that the consent gates see it and block it when it is not covered.
 */
export function consentedItems(ctx: MappingContext, recipient: RecipientKind, items: PayloadItem[]): PayloadItem[] {
  return items.filter((item) => ctx.consents(item.category, recipient));
}

/** The routing rule of a concern category (mappings/routing.json). */
export function concernRule(ctx: MappingContext, category: ConcernCategory) {
  return ctx.mappings.routing.concerns[category];
}

/** A routed concern as a payload item: its consent category, its concern category and its summary. */
export function concernItem(ctx: MappingContext, category: ConcernCategory, summary: string): PayloadItem {
  return { category: concernRule(ctx, category).consentCategory, concern: category, text: summary };
}

/** True when every item is a safety concern: routed under the duty of care whatever the consent says. */
export function allSafety(items: PayloadItem[]): boolean {
  return items.length > 0 && items.every((i) => i.concern === 'safety');
}
