import { badRequest, OperationOutcomeError, parseSearchRequest, preconditionFailed } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { EmbeddedRepository } from './repository.js';
import { conditionalCriteria, searchOf } from './search-params.js';

/**
 * Conditional references (FHIR R4 http.html#trules, "Conditional References"): a transaction may name a
 * resource by a search, `{"reference": "Patient?identifier=sys|val"}`, which the server resolves to the one
 * resource it matches before the transaction runs. The embedded server stored them as written: an EHR's
 * crisis Encounter whose subject was `Patient?identifier=…` belonged to nobody (outside tester).
 */

/** R4's form of a conditional reference: `Type?search`. */
const conditionalForm = /^[A-Z][A-Za-z]+\?/;

/** Distinct conditional references one transaction may hold: each is a search, run under the write lock. */
export const MAX_CONDITIONAL_REFERENCES = 100;

/**
 * The objects holding a reference whose value matches `test`, anywhere in a JSON value; a nested Bundle
 * (a stored document) is left as it is unless `intoBundles`.
 */
function holders(value: unknown, test: (reference: string) => boolean, intoBundles: boolean, found: { reference: string }[] = []) {
  if (Array.isArray(value)) {
    for (const v of value) holders(v, test, intoBundles, found);
  } else if (value && typeof value === 'object' && (intoBundles || (value as Resource).resourceType !== 'Bundle')) {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') {
        if (test(v)) found.push(value as { reference: string });
      } else {
        holders(v, test, intoBundles, found);
      }
    }
  }
  return found;
}

/**
 * Why a resource is not stored, or undefined: a reference holding a search (`?`) — a conditional reference
 * outside a transaction (a create, an update, a PATCH, a batch entry), one in another form than R4's
 * (`patient?…`, `Patient/?…`, an absolute URL with a query), or one inside a document Bundle. No literal
 * reference holds a `?` (R4 references.html#literal). Checked by the repository on every write.
 */
export function searchReferenceProblem(resource: unknown): string | undefined {
  const [first] = holders(resource, (r) => r.includes('?'), true);
  if (!first) return undefined;
  return 'A reference names a search (it holds "?"): a conditional reference (Type?search) is resolved only inside a transaction Bundle (FHIR R4 http.html#trules). Send the literal reference (Type/id), or send the write in a transaction.';
}

/** The objects holding a conditional reference in R4's form in a Bundle's entries' resources (not inside documents). */
function conditionalHolders(entries: ({ resource?: unknown } | null)[]): { reference: string }[] {
  return holders(
    entries.map((e) => e?.resource),
    (r) => conditionalForm.test(r),
    false,
  );
}

/** True when the request body is a transaction whose entries' resources hold conditional references. */
export function holdsConditionalReferences(body: unknown): boolean {
  const bundle = body as { resourceType?: unknown; type?: unknown; entry?: unknown } | undefined;
  if (bundle?.resourceType !== 'Bundle' || bundle.type !== 'transaction' || !Array.isArray(bundle.entry)) return false;
  return conditionalHolders(bundle.entry as ({ resource?: unknown } | null)[]).length > 0;
}

/**
 * A transaction's conditional references resolved as FHIR R4 says: each is a search of the store as it is
 * before the transaction, checked as the criteria of a conditional write are (search-params.ts: no result
 * parameters, no unknown modifiers, at least one filter), and rewritten to `Type/id` of its one match; none
 * or several fail the whole transaction (400, 412), as do more than MAX_CONDITIONAL_REFERENCES distinct
 * ones. Run under the write lock with the transaction (fhir-exchange.ts), so the match cannot change in
 * between. Returns a copy of the Bundle with them rewritten.
 */
export async function resolveConditionalReferences(repo: EmbeddedRepository, body: unknown): Promise<unknown> {
  const copy = JSON.parse(JSON.stringify(body)) as { entry: { resource?: unknown }[] };
  const found = conditionalHolders(copy.entry);
  const distinct = [...new Set(found.map((h) => h.reference))];
  if (distinct.length > MAX_CONDITIONAL_REFERENCES) {
    throw new OperationOutcomeError(
      badRequest(
        `A transaction may hold at most ${MAX_CONDITIONAL_REFERENCES} distinct conditional references (this one holds ${distinct.length}): resolve some first, or split it.`,
      ),
    );
  }
  const resolved = new Map<string, string>();
  for (const reference of distinct) resolved.set(reference, await resolveOne(repo, reference));
  for (const holder of found) holder.reference = resolved.get(holder.reference) as string;
  return copy;
}

async function resolveOne(repo: EmbeddedRepository, reference: string): Promise<string> {
  const type = reference.slice(0, reference.indexOf('?'));
  const criteria = conditionalCriteria('PUT', reference, undefined);
  if ('problem' in criteria) throw new OperationOutcomeError(badRequest(`${type}?…: ${criteria.problem}`, criteria.param));
  const search = searchOf(criteria.url as string);
  if ('problem' in search) throw new OperationOutcomeError(badRequest(`${type}?…: ${search.problem}`, search.param));
  const request = parseSearchRequest(search.path);
  if (!request.filters?.length) {
    throw new OperationOutcomeError(
      badRequest(`The conditional reference ${type}? names no search criteria: it must match exactly one resource.`),
    );
  }
  const answer = await repo.search({ ...request, count: 2, offset: 0, sortRules: undefined, total: 'accurate' });
  const matches = (answer.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  if (matches.length === 1 && (answer.total ?? 1) === 1) return `${matches[0]?.resourceType}/${matches[0]?.id}`;
  const text = `The conditional reference ${type}?… matches ${matches.length ? 'several resources' : 'no resource'}: a transaction's conditional reference must match exactly one (FHIR R4 http.html#trules). Nothing was written.`;
  throw new OperationOutcomeError(
    matches.length
      ? { ...preconditionFailed, issue: [{ severity: 'error', code: 'multiple-matches', details: { text } }] }
      : badRequest(text),
  );
}
