import type { ConceptMap, OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { SourceMapping } from '../../config/source-schema.js';
import { conceptMapByUrl, translateCode } from '../../contract/terminology.js';
import { issue } from '../../outcomes/index.js';
import { expand, fill, formatConcrete, indicesOf, merge, parseConcrete, parsePattern, prefixMatch, set, type Segment } from './paths.js';

/** A code that looks like a code may be quoted back; anything else could be free text about a person. */
const quotableCode = /^[A-Za-z0-9._:-]{1,40}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isEmptied(v: unknown): boolean {
  return (isObject(v) && Object.keys(v).length === 0) || (Array.isArray(v) && v.length > 0 && v.every(isEmptied));
}

/** Removes a moved value, then every container left empty by the move (so that it is not an "unknown field"). */
function removeMoved(doc: Record<string, unknown>, path: readonly Segment[]): void {
  for (let k = path.length; k >= 1; k--) {
    const parent = path.slice(0, k - 1).reduce<unknown>((v, s) => (v as Record<Segment, unknown> | undefined)?.[s], doc);
    const key = path[k - 1];
    // Array elements keep their positions; whether the whole array was emptied is decided one level up.
    if (Array.isArray(parent) && typeof key === 'number') continue;
    if (!isObject(parent) || typeof key !== 'string') return;
    if (k < path.length && !isEmptied(parent[key])) return;
    delete parent[key];
  }
}

/** Renames the sender's fields onto the contract's; the most deeply nested renames go first. */
function rename(input: Record<string, unknown>, source: SourceMapping): Record<string, unknown> {
  const rest = structuredClone(input);
  const moved: Record<string, unknown> = {};
  const rules = [...source.fields].sort((a, b) => parsePattern(b.from).length - parsePattern(a.from).length);
  for (const rule of rules) {
    const to = parsePattern(rule.to);
    const found = expand(rest, parsePattern(rule.from));
    for (const { path, value } of found) set(moved, fill(to, indicesOf(path)), value);
    for (const { path } of found) removeMoved(rest, path);
  }
  return merge(rest, moved) as Record<string, unknown>;
}

function replaceAt(doc: Record<string, unknown>, path: Segment[], value: unknown): void {
  const parent = path.slice(0, -1).reduce<unknown>((v, s) => (v as Record<Segment, unknown>)[s], doc) as Record<Segment, unknown>;
  parent[path[path.length - 1] as Segment] = value;
}

/** Every scalar at a field: the value itself, or each element when the field holds an array. */
function scalarsAt(doc: unknown, field: string): { path: Segment[]; value: unknown }[] {
  return expand(doc, parsePattern(field)).flatMap((hit) =>
    Array.isArray(hit.value) ? hit.value.map((value, i) => ({ path: [...hit.path, i], value })) : [hit],
  );
}

function mapValues(doc: Record<string, unknown>, source: SourceMapping): void {
  for (const [field, map] of Object.entries(source.values)) {
    for (const { path, value } of scalarsAt(doc, field)) {
      const key = String(value);
      if (Object.hasOwn(map, key)) replaceAt(doc, path, map[key]);
    }
  }
}

function translateCodes(doc: Record<string, unknown>, source: SourceMapping, maps: readonly ConceptMap[]): OperationOutcomeIssue[] {
  return Object.entries(source.codes).flatMap(([field, url]) => {
    const map = conceptMapByUrl(maps, url);
    return scalarsAt(doc, field).flatMap(({ path, value }) => {
      if (typeof value !== 'string' || !map) return [];
      const t = translateCode(map, value);
      if (t.ok) {
        replaceAt(doc, path, t.code);
        return [];
      }
      const sender = formatConcrete(senderPath(source, path));
      const code = quotableCode.test(value) ? `"${value}"` : 'the value sent';
      return [
        issue(
          'unmapped-code',
          'code-invalid',
          `"${sender}": ${code} has no translation in ConceptMap ${url} (mappings/conceptmaps/, used by mappings/sources/${source.name}.json for ${field}): ${t.reason}. Add the code to the ConceptMap, or send a code it maps.`,
          [sender],
        ),
      ];
    });
  });
}

/** The field path the sender used for a contract field path (inverse of the renames; unchanged when none applies). */
export function senderPath(source: SourceMapping, path: readonly Segment[]): Segment[] {
  let best: { n: number; from: string } | undefined;
  for (const rule of source.fields) {
    const n = prefixMatch(parsePattern(rule.to), path);
    if (n > (best?.n ?? 0)) best = { n, from: rule.from };
  }
  if (!best) return [...path];
  return [...fill(parsePattern(best.from), indicesOf(path.slice(0, best.n))), ...path.slice(best.n)];
}

/** The outcome of applying a source mapping: the record in the contract's shape, or why it cannot be. */
export interface Aliased {
  value: Record<string, unknown>;
  issues: OperationOutcomeIssue[];
}

/** Applies a source mapping to a record as sent: renames, then value maps, then ConceptMap translations. */
export function applySourceMapping(input: Record<string, unknown>, source: SourceMapping, maps: readonly ConceptMap[]): Aliased {
  const value = rename(input, source);
  mapValues(value, source);
  return { value, issues: translateCodes(value, source, maps) };
}

/**
 * An unknown field that is a container some renames read from (`nextAppt`, after `nextAppt.when` moved)
 * holds what the source mapping did not rename: each leftover is named, not the container.
 */
export function leftoverIssues(source: SourceMapping, found: OperationOutcomeIssue, value: unknown): OperationOutcomeIssue[] | undefined {
  const at = found.expression?.[0];
  if (found.details?.coding?.[0]?.code !== 'unknown-field' || at === undefined) return undefined;
  const path = parseConcrete(at);
  const renamedInside = source.fields.some((f) => {
    const from = parsePattern(f.from);
    return from.length > path.length && prefixMatch(from.slice(0, path.length), path) === path.length;
  });
  const leftover = expand(
    value,
    path.map((s) => (typeof s === 'number' ? '[]' : s)),
  ).find((h) => formatConcrete(h.path) === at)?.value;
  if (!renamedInside || typeof leftover !== 'object' || leftover === null || Array.isArray(leftover)) return undefined;
  return Object.keys(leftover).map((key) =>
    issue(
      'unknown-field',
      'structure',
      `"${at}.${key}" is not a field of the record contract, and mappings/sources/${source.name}.json does not rename it: check its spelling, or add a rename for it.`,
      [`${at}.${key}`],
    ),
  );
}

/** Rewrites a contract-shaped issue (from schema parsing) so that it names the field the sender used. */
export function toSenderIssue(source: SourceMapping, found: OperationOutcomeIssue): OperationOutcomeIssue {
  const expression = found.expression?.map((e) => formatConcrete(senderPath(source, parseConcrete(e))));
  if (!expression || expression.every((e, i) => e === found.expression?.[i])) return found;
  let text = found.details?.text ?? '';
  found.expression?.forEach((canonical, i) => {
    if (canonical !== expression[i])
      text = text.replaceAll(
        `"${canonical}"`,
        `"${expression[i]}" (${canonical} in the record contract, renamed by mappings/sources/${source.name}.json)`,
      );
  });
  return { ...found, expression, details: { ...found.details, text } };
}
