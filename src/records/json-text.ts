import { parse, type AnyNode } from '@humanwhocodes/momoa';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { issue } from '../outcomes/index.js';

/**
 * The one input-cleaning step of every way a record comes in (spec §8): HTTP POST and $validate, the
 * CLI's validate, map and import (each NDJSON line). It turns text into a JSON value, or says why not:
 * - a leading UTF-8 byte-order mark is ignored;
 * - bytes that are not UTF-8, and text that is not well-formed Unicode (a lone surrogate, raw or as a
 *   `\uD800` escape), are refused;
 * - control characters other than tab, line feed and carriage return are refused, raw or escaped;
 * - a property name that occurs twice in one object is refused, naming it and its path: JSON.parse would
 *   silently keep the last one, so `"immediateConcernDisclosed": true … false` would turn a disclosure off;
 * - keys that reach Object.prototype (`__proto__`…) and nesting beyond maxJsonDepth are refused.
 * The parser is @humanwhocodes/momoa: its syntax tree keeps every member, so duplicates can be seen.
 */

/**
 * Deepest nesting a record may have. The contract's deepest field is five levels down
 * (`escalationRoute.clinicalOwner.identifier.system` in an array item); 32 leaves room to grow while
 * refusing nesting bombs before the schema, mapping or logging code walks them recursively.
 */
export const maxJsonDepth = 32;
/** Keys that reach Object.prototype once any code copies or merges the parsed value (prototype pollution). */
export const forbiddenJsonKeys: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const controlCharacter = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

/**
 * A refusal may still carry `partial`: the value without every refused member (duplicated keys — both
 * occurrences —, broken text, forbidden keys), when the text was JSON at all. Nothing ambiguous is in it;
 * safety first reads the envelope from it (spec §4), nothing else does.
 */
export type JsonTextResult = { ok: true; value: unknown } | { ok: false; issues: OperationOutcomeIssue[]; partial?: unknown };

/** A surrogate half without its partner: text that is not well-formed UTF-16 (and so has no UTF-8 form). */
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Parses record text (a string, or bytes read as UTF-8) by the input rules above; every problem is one issue. */
export function parseJsonText(input: string | Uint8Array): JsonTextResult {
  let text: string;
  if (typeof input === 'string') {
    text = input.startsWith('\uFEFF') ? input.slice(1) : input;
  } else {
    try {
      text = utf8.decode(input); // strips a leading BOM
    } catch {
      return refused([issue('invalid-text', 'structure', 'The body is not UTF-8 text: send the record as UTF-8 JSON.')]);
    }
  }
  if (loneSurrogate.test(text)) {
    return refused([issue('invalid-text', 'structure', 'The text is not well-formed Unicode (it holds a lone surrogate half): fix the encoding of the sending system.')]);
  }
  if (controlCharacter.test(text)) {
    return refused([issue('invalid-text', 'structure', 'The text holds a control character (only tab, line feed and carriage return are allowed): remove it.')]);
  }
  if (depthOf(text) > maxJsonDepth) {
    return refused([issue('unsafe-json', 'too-costly', `The body is nested deeper than ${maxJsonDepth} levels; pathway records are far shallower.`)]);
  }
  let ast;
  try {
    ast = parse(text, { mode: 'json', ranges: false, tokens: false });
  } catch (err) {
    const at = err as { line?: number; column?: number };
    const where = at.line !== undefined ? ` (line ${at.line}, column ${at.column})` : '';
    return refused([issue('invalid-json', 'structure', `The body is not valid JSON${where}.`)]);
  }
  const issues: OperationOutcomeIssue[] = [];
  const value = build(ast.body, [], issues);
  return issues.length ? { ok: false, issues, partial: value } : { ok: true, value };
}

function refused(issues: OperationOutcomeIssue[]): JsonTextResult {
  return { ok: false, issues };
}

/** Bracket depth of JSON text outside strings, counted without recursion (the parser recurses). */
function depthOf(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** A JSON path as the schema's issues name fields: `safety.immediateConcernDisclosed`, `concerns[1].summary`. */
export function jsonPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${p}`)).join('');
}

/** Checks one string (key or value); false when it is refused. */
function checkString(s: string, path: (string | number)[], issues: OperationOutcomeIssue[]): boolean {
  const field = jsonPath(path) || '(root)';
  if (loneSurrogate.test(s)) {
    issues.push(issue('invalid-text', 'structure', `"${field}" holds a lone surrogate half (e.g. an escaped \\uD800): send well-formed Unicode.`, [field]));
    return false;
  }
  if (controlCharacter.test(s)) {
    issues.push(issue('invalid-text', 'structure', `"${field}" holds a control character (only tab, line feed and carriage return are allowed).`, [field]));
    return false;
  }
  return true;
}

function build(node: AnyNode, path: (string | number)[], issues: OperationOutcomeIssue[]): unknown {
  switch (node.type) {
    case 'Object': {
      const out: Record<string, unknown> = {};
      const seen = new Set<string>();
      const duplicated = new Set<string>();
      for (const member of node.members) {
        const key = member.name.type === 'String' ? member.name.value : member.name.name;
        const at = [...path, key];
        if (!checkString(key, at, issues)) continue;
        if (forbiddenJsonKeys.has(key)) {
          issues.push(issue('unsafe-json', 'security', `The key "${key}" is not accepted in a record (it could alter object prototypes); remove it.`, [jsonPath(at)]));
          continue;
        }
        if (seen.has(key)) {
          if (!duplicated.has(key)) {
            issues.push(issue('duplicate-key', 'structure',
              `"${key}" occurs twice in ${path.length ? `"${jsonPath(path)}"` : 'the record'}: JSON keys must be unique (FHIR JSON forbids duplicates); send it once.`, [jsonPath(at)]));
          }
          duplicated.add(key);
          continue;
        }
        seen.add(key);
        const value = build(member.value, at, issues);
        if (value !== undefined) out[key] = value;
      }
      // Neither occurrence of a duplicated key is kept: which one was meant is unknown.
      for (const key of duplicated) delete out[key];
      return out;
    }
    case 'Array':
      return node.elements.map((e, i) => build(e.value, [...path, i], issues)).filter((v) => v !== undefined);
    case 'String':
      return checkString(node.value, path, issues) ? node.value : undefined;
    case 'Number':
    case 'Boolean':
      return node.value;
    case 'Null':
      return null;
    default:
      issues.push(issue('invalid-json', 'structure', 'The body is not valid JSON.'));
      return undefined;
  }
}
