import { z } from 'zod';
import { consentCategories, recipientKinds, concernCategories } from '../config/mappings-schema.js';

/** ISO 8601 date (YYYY-MM-DD). */
export const date = z.iso.date({ error: 'expected an ISO 8601 date, YYYY-MM-DD' });
/** ISO 8601 date-time with an offset, or a date. FHIR dateTime accepts both. */
export const dateTime = z.union([z.iso.datetime({ offset: true }), z.iso.date()], {
  error: 'expected an ISO 8601 date-time such as 2026-11-20T15:30:00Z',
});
/** FHIR strings hold no control characters other than tab, CR and LF; a server refuses the whole write otherwise. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const noControlCharacters = /^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$/;

/** A string FHIR accepts as `string`, at most `max` characters. */
export const fhirString = (max: number) => z.string().max(max).regex(noControlCharacters, 'control characters are not allowed');

/** A FHIR `code`: no leading, trailing or doubled whitespace. */
export const fhirCode = z.string().max(256).regex(/^[^\s]+( [^\s]+)*$/, 'expected a code without surrounding or doubled spaces');

/** A non-empty, bounded string: free text is capped so that no record can flood the FHIR server. */
export const text = z.string().trim().min(1, 'must not be empty').max(4000).regex(noControlCharacters, 'control characters are not allowed');

/**
 * Longest identifier system, value or source URI: they travel in search URLs (`identifier=sys|val`),
 * and a URL beyond a server's header limit (16 KB in Node) fails the whole record instead of one field.
 */
export const maxUriLength = 256;

const identifier = z.object({ system: fhirString(maxUriLength).min(1), value: fhirString(maxUriLength).min(1) }).strict();

/** A FHIR-style reference: a literal `Type/id`, or a business identifier resolved on the FHIR server. */
export const reference = z
  .object({
    reference: z.string().regex(/^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/, 'expected a literal reference such as "PractitionerRole/abc"').optional(),
    type: z.string().regex(/^[A-Z][A-Za-z]+$/).optional(),
    identifier: identifier.optional(),
    display: fhirString(200).optional(),
  })
  .strict()
  .refine((r) => r.reference !== undefined || r.identifier !== undefined, {
    error: 'a reference needs "reference" ("Type/id") or "identifier" ({system, value})',
  });

export const consentCategory = z.enum(consentCategories);
export const recipientKind = z.enum(recipientKinds);
export const concernCategory = z.enum(concernCategories);

export type Reference = z.infer<typeof reference>;
