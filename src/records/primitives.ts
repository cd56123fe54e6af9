import { z } from 'zod';
import { consentCategories, recipientKinds, concernCategories } from '../config/mappings-schema.js';

/** ISO 8601 date (YYYY-MM-DD). */
export const date = z.iso.date({ error: 'expected an ISO 8601 date, YYYY-MM-DD' });
/** ISO 8601 date-time with an offset, or a date. FHIR dateTime accepts both. */
export const dateTime = z.union([z.iso.datetime({ offset: true }), z.iso.date()], {
  error: 'expected an ISO 8601 date-time such as 2026-11-20T15:30:00Z',
});
/** A non-empty, bounded string: free text is capped so that no record can flood the FHIR server. */
export const text = z.string().trim().min(1, 'must not be empty').max(4000);

const identifier = z.object({ system: z.string().min(1), value: z.string().min(1) }).strict();

/** A FHIR-style reference: a literal `Type/id`, or a business identifier resolved on the FHIR server. */
export const reference = z
  .object({
    reference: z.string().regex(/^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/, 'expected a literal reference such as "PractitionerRole/abc"').optional(),
    type: z.string().regex(/^[A-Z][A-Za-z]+$/).optional(),
    identifier: identifier.optional(),
    display: z.string().max(200).optional(),
  })
  .strict()
  .refine((r) => r.reference !== undefined || r.identifier !== undefined, {
    error: 'a reference needs "reference" ("Type/id") or "identifier" ({system, value})',
  });

export const consentCategory = z.enum(consentCategories);
export const recipientKind = z.enum(recipientKinds);
export const concernCategory = z.enum(concernCategories);

export type Reference = z.infer<typeof reference>;
