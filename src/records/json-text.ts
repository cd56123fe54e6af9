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

/**
 * Control characters (Unicode general category Cc: C0, DEL and C1) other than tab, line feed and carriage
 * return. C1 (U+0080–U+009F) counts too: NEL (U+0085) breaks lines in some readers.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const controlCharacter = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;
// eslint-disable-next-line no-control-regex -- the raw ones JSON forbids inside strings (RFC 8259 §7)
const rawJsonControl = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g;

/**
 * A refusal may still carry `partial`: the value without every refused member (duplicated keys — both
 * occurrences —, broken text, forbidden keys), when the text was JSON at all. Nothing ambiguous is in it;
 * safety first reads the envelope from it (spec §4), nothing else does.
 */
export type JsonTextResult = { ok: true; value: unknown } | { ok: false; issues: OperationOutcomeIssue[]; partial?: unknown };

/** A surrogate half without its partner: text that is not well-formed UTF-16 (and so has no UTF-8 form). */
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
/** Bytes that are not UTF-8 become U+FFFD, so the field that holds them can still be found and named. */
const lenientUtf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false });

/** What was wrong with the raw text before parsing, to be pinned on the fields that hold it. */
interface RawText {
  /** Some bytes were not UTF-8 (now U+FFFD). */
  notUtf8: boolean;
  /** Raw control characters were turned into escapes so the text parses. */
  rawControl: boolean;
}

/** Parses record text (a string, or bytes read as UTF-8) by the input rules above; every problem is one issue. */
export function parseJsonText(input: string | Uint8Array): JsonTextResult {
  let text: string;
  const raw: RawText = { notUtf8: false, rawControl: false };
  if (typeof input === 'string') {
    text = input.startsWith('\uFEFF') ? input.slice(1) : input;
  } else {
    try {
      text = utf8.decode(input); // strips a leading BOM
    } catch {
      text = lenientUtf8.decode(input);
      raw.notUtf8 = true;
    }
  }
  // Broken text is refused, but the field that holds it is named and the rest still parses, so that a
  // disclosure elsewhere in the record reaches safety first (spec §4): a raw control character becomes
  // its escape (then refused by field below), a lone surrogate or a U+FFFD from non-UTF-8 bytes stays in
  // its string and is refused there.
  text = text.replace(rawJsonControl, (c) => {
    raw.rawControl = true;
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  if (depthOf(text) > maxJsonDepth) {
    return refused([
      issue('unsafe-json', 'too-costly', `The body is nested deeper than ${maxJsonDepth} levels; pathway records are far shallower.`),
    ]);
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
  const value = build(ast.body, [], issues, raw);
  // A fault the field checks did not pin down (e.g. a raw control character right after a backslash, or
  // bytes that are not UTF-8 in a key) still refuses the whole text.
  if (raw.notUtf8 && !issues.some((i) => i.details?.text?.includes('not UTF-8'))) {
    issues.push(issue('invalid-text', 'structure', 'The body is not UTF-8 text: send the record as UTF-8 JSON.'));
  }
  if (raw.rawControl && !issues.some((i) => i.details?.text?.includes('control character'))) {
    issues.push(
      issue(
        'invalid-text',
        'structure',
        'The text holds a control character (only tab, line feed and carriage return are allowed): remove it.',
      ),
    );
  }
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
function checkString(s: string, path: (string | number)[], issues: OperationOutcomeIssue[], raw: RawText): boolean {
  const field = jsonPath(path) || '(root)';
  if (raw.notUtf8 && s.includes('\uFFFD')) {
    issues.push(issue('invalid-text', 'structure', `"${field}" holds bytes that are not UTF-8: send the record as UTF-8 JSON.`, [field]));
    return false;
  }
  if (loneSurrogate.test(s)) {
    issues.push(
      issue('invalid-text', 'structure', `"${field}" holds a lone surrogate half (e.g. an escaped \\uD800): send well-formed Unicode.`, [
        field,
      ]),
    );
    return false;
  }
  if (controlCharacter.test(s)) {
    issues.push(
      issue('invalid-text', 'structure', `"${field}" holds a control character (only tab, line feed and carriage return are allowed).`, [
        field,
      ]),
    );
    return false;
  }
  return true;
}

function build(node: AnyNode, path: (string | number)[], issues: OperationOutcomeIssue[], raw: RawText): unknown {
  switch (node.type) {
    case 'Object': {
      const out: Record<string, unknown> = {};
      const seen = new Set<string>();
      const duplicated = new Set<string>();
      for (const member of node.members) {
        const key = member.name.type === 'String' ? member.name.value : member.name.name;
        const at = [...path, key];
        if (!checkString(key, at, issues, raw)) continue;
        if (forbiddenJsonKeys.has(key)) {
          issues.push(
            issue(
              'unsafe-json',
              'security',
              `The key "${key}" is not accepted in a record (it could alter object prototypes); remove it.`,
              [jsonPath(at)],
            ),
          );
          continue;
        }
        if (seen.has(key)) {
          if (!duplicated.has(key)) {
            issues.push(
              issue(
                'duplicate-key',
                'structure',
                `"${key}" occurs twice in ${path.length ? `"${jsonPath(path)}"` : 'the record'}: JSON keys must be unique (FHIR JSON forbids duplicates); send it once.`,
                [jsonPath(at)],
              ),
            );
          }
          duplicated.add(key);
          continue;
        }
        seen.add(key);
        const value = build(member.value, at, issues, raw);
        if (value !== undefined) out[key] = value;
      }
      // Neither occurrence of a duplicated key is kept: which one was meant is unknown.
      for (const key of duplicated) delete out[key];
      return out;
    }
    case 'Array':
      return node.elements.map((e, i) => build(e.value, [...path, i], issues, raw)).filter((v) => v !== undefined);
    case 'String':
      return checkString(node.value, path, issues, raw) ? node.value : undefined;
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
