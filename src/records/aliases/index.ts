import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { Mappings } from '../../config/mappings-schema.js';
import type { SourceMapping } from '../../config/source-schema.js';
import { issue } from '../../outcomes/index.js';
import { parseRecord, type ParseResult } from '../parse.js';
import { applySourceMapping, leftoverIssues, toSenderIssue } from './apply.js';
import { expand, parsePattern } from './paths.js';

export { senderPath, toSenderIssue } from './apply.js';

/** A parse result, with the source mapping that was applied (if any): later issues name the sender's fields through it. */
export type SourceParseResult = ParseResult & { source?: SourceMapping };

/** Header (and query parameter) naming the source mapping explicitly; otherwise it is chosen by source.system. */
export const sourceMappingHeader = 'x-source-mapping';
export const sourceMappingQuery = 'sourceMapping';

/** The sending system a record names: at `source.system`, or wherever this source mapping renames it from. */
function sourceSystemOf(input: Record<string, unknown>, source?: SourceMapping): unknown {
  const from = source?.fields.find((f) => f.to === 'source.system')?.from ?? 'source.system';
  return expand(input, parsePattern(from))[0]?.value;
}

/** The requested name that means "this record is already in the contract's shape": no source mapping. */
export const noSourceMapping = 'none';

/** Picks the source mapping for a record: the one named, else the one whose appliesTo names its source system. */
export function selectSource(
  input: Record<string, unknown>,
  sources: readonly SourceMapping[],
  requested?: string,
): SourceMapping | undefined | Error {
  if (requested === noSourceMapping) return undefined;
  if (requested) return sources.find((s) => s.name === requested) ?? new Error(requested);
  return sources.find((s) => {
    const system = sourceSystemOf(input, s);
    return typeof system === 'string' && s.appliesTo?.sourceSystems.includes(system);
  });
}

/** A record brought into the contract's shape by its source mapping (if any), with what could not be translated. */
export interface SourceApplied {
  value: unknown;
  source?: SourceMapping;
  issues: OperationOutcomeIssue[];
}

/**
 * Applies the sender's source mapping (mappings/sources/), chosen by name or by source system: renames,
 * value maps, ConceptMap translations. Runs before anything reads the record (authorization included),
 * so that a renamed `pathway` or `source.system` is never missed.
 */
export function toContractShape(input: unknown, mappings: Pick<Mappings, 'sources' | 'conceptMaps'>, requested?: string): SourceApplied {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { value: input, issues: [] };
  const source = selectSource(input as Record<string, unknown>, mappings.sources, requested);
  if (source instanceof Error) {
    const known = mappings.sources.map((s) => s.name).join(', ') || 'none';
    return {
      value: input,
      issues: [
        issue(
          'source-mapping-unknown',
          'not-found',
          `No source mapping "${source.message.slice(0, 64)}" in mappings/sources/ (known: ${known}): fix the ${sourceMappingHeader} header or ${sourceMappingQuery} parameter.`,
        ),
      ],
    };
  }
  if (!source) return { value: input, issues: [] };
  const aliased = applySourceMapping(input as Record<string, unknown>, source, mappings.conceptMaps);
  return { value: aliased.value, source, issues: aliased.issues };
}

/** Checks a contract-shaped record; every issue names the field path the sender used. */
export function parseContractShaped(applied: SourceApplied): SourceParseResult {
  const parsed = applied.issues.some((i) => !i.expression?.length) ? undefined : parseRecord(applied.value);
  const source = applied.source;
  const schemaIssues =
    !parsed || parsed.ok
      ? []
      : source
        ? parsed.issues.flatMap((i) => leftoverIssues(source, i, applied.value) ?? [toSenderIssue(source, i)])
        : parsed.issues;
  if (applied.issues.length || schemaIssues.length) {
    // A code that did not translate stays in the record, so its field's schema issue would only repeat it.
    const untranslated = new Set(applied.issues.flatMap((i) => i.expression ?? []));
    return {
      ok: false,
      issues: [...applied.issues, ...schemaIssues.filter((i) => !(i.expression ?? []).some((e) => untranslated.has(e)))],
      source,
    };
  }
  return { ...(parsed as ParseResult), source };
}

/** Parses a record as its sender sent it: toContractShape, then the record contract. */
export function parseSourceRecord(
  input: unknown,
  mappings: Pick<Mappings, 'sources' | 'conceptMaps'>,
  requested?: string,
): SourceParseResult {
  return parseContractShaped(toContractShape(input, mappings, requested));
}
