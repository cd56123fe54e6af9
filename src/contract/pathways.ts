/** The five pathways of the contract (spec §2): the `pathway` of a record, the pathway code of its CarePlan. */
export const pathwayCodes = ['early-engagement', 'step-down', 'crisis-transition', 'concern-routing', 'recovery-maintenance'] as const;
export type PathwayCode = (typeof pathwayCodes)[number];
