import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { z } from 'zod';
import { issue } from '../outcomes/index.js';
import { pathwayCodes, type PathwayCode } from './envelope.js';
import { pathwaySchemas, type PathwayRecord } from './index.js';

export type ParseResult = { ok: true; record: PathwayRecord } | { ok: false; issues: OperationOutcomeIssue[] };

/** Checks a parsed JSON value against the record contract; one issue per field, never the first only. */
export function parseRecord(input: unknown): ParseResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, issues: [issue('schema-invalid', 'structure', 'The body must be one pathway record: a JSON object.')] };
  }
  const pathway = (input as Record<string, unknown>).pathway;
  if (typeof pathway !== 'string' || !(pathwayCodes as readonly string[]).includes(pathway)) {
    return {
      ok: false,
      issues: [
        issue(
          pathway === undefined ? 'required' : 'schema-invalid',
          pathway === undefined ? 'required' : 'value',
          `"pathway" must be one of: ${pathwayCodes.join(', ')}.`,
          ['pathway'],
        ),
      ],
    };
  }
  const parsed = pathwaySchemas[pathway as PathwayCode].safeParse(input);
  if (parsed.success) {
    return { ok: true, record: parsed.data as PathwayRecord };
  }
  return { ok: false, issues: parsed.error.issues.flatMap((i) => toIssues(i, pathway as PathwayCode, input)) };
}

function pathOf(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>((v, p) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[p] : undefined), input);
}

function toIssues(zi: z.core.$ZodIssue, pathway: PathwayCode, input: unknown): OperationOutcomeIssue[] {
  if (zi.code === 'unrecognized_keys') {
    return zi.keys.map((key) => {
      const field = pathOf([...zi.path, key]);
      const owner = zi.path.length === 0 ? otherPathwayOf(key, pathway) : undefined;
      return owner
        ? issue(
            'wrong-pathway-field',
            'structure',
            `"${field}" belongs to the ${owner} pathway, not ${pathway}: send it in a ${owner} record.`,
            [field],
          )
        : issue(
            'unknown-field',
            'structure',
            `"${field}" is not a field of a ${pathway} record: check its spelling (unknown fields are refused, never ignored).`,
            [field],
          );
    });
  }
  const field = pathOf(zi.path);
  const missing = valueAt(input, zi.path) === undefined;
  if (missing) {
    return [issue('required', 'required', `"${field}" is required for a ${pathway} record.`, [field])];
  }
  return [
    issue('schema-invalid', zi.code === 'invalid_value' ? 'value' : 'invalid', `"${field}": ${zi.message}.`, field ? [field] : undefined),
  ];
}

function otherPathwayOf(key: string, pathway: PathwayCode): PathwayCode | undefined {
  return pathwayCodes.find((p) => p !== pathway && key in pathwaySchemas[p].shape);
}
