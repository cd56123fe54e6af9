import { isValidCalendarDate, validationRegexes } from '@medplum/core';
import { z } from 'zod';
import { consentCategories, recipientKinds, concernCategories } from '../config/mappings-schema.js';

/*
 * FHIR R4's own primitive rules (R4 §2.24: datatypes), taken from Medplum's validationRegexes — the same
 * expressions Medplum's validateResource applies — so that every value the schema accepts maps to a
 * value a FHIR server accepts. Every schema field that ends up in FHIR is built from these.
 */
function regex(name: string): RegExp {
  const re = validationRegexes[name];
  if (!re) throw new Error(`@medplum/core has no validation regex for FHIR ${name}`);
  return re;
}
const fhir = { date: regex('date'), instant: regex('instant'), string: regex('string'), code: regex('code'), uri: regex('uri') };

/** Full calendar date, as the contract's dates are: YYYY-MM-DD (no partial dates). */
const fullDate = /^\d{4}-\d{2}-\d{2}$/;
/** Full date-time: seconds required and an offset, as FHIR requires once a time is given. */
const fullDateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** A FHIR `date` (R4 §2.24 regex, years 0001–9999) that is also a real calendar day (no 2026-02-30). */
export function isFhirDate(s: string): boolean {
  return fullDate.test(s) && fhir.date.test(s) && isValidCalendarDate(s);
}

/**
 * A FHIR `dateTime` with a time: the R4 regex (offset at most ±14:00, years 0001–9999), a real calendar
 * day, and a time a clock shows (second 60, which the regex allows for leap seconds, has no instant in
 * ECMAScript and so could not be turned into a due time).
 */
export function isFhirDateTimeWithTime(s: string): boolean {
  return fullDateTime.test(s) && fhir.instant.test(s) && isValidCalendarDate(s) && !Number.isNaN(Date.parse(s));
}

/** ISO 8601 date (YYYY-MM-DD), a FHIR `date`. */
export const date = z.string().refine(isFhirDate, { error: 'expected a calendar date YYYY-MM-DD between 0001 and 9999' });
/** A FHIR `dateTime`: a full date-time with an offset (at most ±14:00), or a date. */
export const dateTime = z.string().refine((s) => isFhirDate(s) || isFhirDateTimeWithTime(s), {
  error: 'expected an ISO 8601 date-time with seconds and an offset of at most ±14:00 (e.g. 2026-11-20T15:30:00Z), or a date YYYY-MM-DD',
});

/** FHIR `string`: no control characters but tab, CR and LF (R4 regex), not blank, at most `max` characters. */
export const fhirString = (max: number) =>
  z
    .string()
    .max(max)
    .regex(fhir.string, 'control characters are not allowed')
    .refine((s) => s.trim().length > 0, { error: 'must not be blank' });

/** A FHIR `code`: no leading, trailing or doubled whitespace. */
export const fhirCode = z.string().max(256).regex(fhir.code, 'expected a code without surrounding or doubled spaces');

/** A non-empty, bounded string: free text is capped so that no record can flood the FHIR server. */
export const text = z.string().trim().min(1, 'must not be empty').max(4000).regex(fhir.string, 'control characters are not allowed');

/**
 * Items of a free-text list that becomes FHIR content (criteria, warning signs, community connections,
 * concerns): bounded so that the largest accepted record stays far inside a FHIR server's 1 MB
 * transaction (tests/reliability/transaction-limits.test.ts).
 */
export const maxListItems = 20;

/** FHIR `unsignedInt` (0..2^31-1). */
export const unsignedInt = z.number().int().min(0).max(2_147_483_647);
/** FHIR `positiveInt` (1..2^31-1). */
export const positiveInt = z.number().int().min(1).max(2_147_483_647);

/**
 * Longest identifier system, value or source URI: they travel in search URLs (`identifier=sys|val`),
 * and a URL beyond a server's header limit (16 KB in Node) fails the whole record instead of one field.
 */
export const maxUriLength = 256;

/** A FHIR `uri`: no whitespace (R4 regex), no control characters, at most maxUriLength. */
export const fhirUri = z
  .string()
  .min(1)
  .max(maxUriLength)
  .regex(fhir.uri, 'a URI holds no whitespace')
  .regex(fhir.string, 'control characters are not allowed');

const identifier = z.object({ system: fhirUri, value: fhirString(maxUriLength) }).strict();

/** A FHIR-style reference: a literal `Type/id`, or a business identifier resolved on the FHIR server. */
export const reference = z
  .object({
    reference: z
      .string()
      .regex(/^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/, 'expected a literal reference such as "PractitionerRole/abc"')
      .optional(),
    type: z
      .string()
      .regex(/^[A-Z][A-Za-z]+$/)
      .max(64)
      .optional(),
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
