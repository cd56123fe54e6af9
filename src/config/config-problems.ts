import { relative } from 'node:path';
import type { z } from 'zod';

/** One thing wrong in a configuration file: which file, where inside it, and what is expected. */
export interface ConfigProblem {
  file: string;
  /** A path inside the file such as `concerns.housing.priority` (empty: the whole file). */
  path: string;
  message: string;
}

/** A file path as the engineer would type it: relative to the working directory when inside it. */
export function displayFile(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}

/** Joins a zod/FHIR path as `a.b[2].c`. */
export function joinPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

function shown(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Turns zod issues into problems that name the path and say what is expected (and what was found). */
export function zodProblems(file: string, issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[] = []): ConfigProblem[] {
  return issues.flatMap((zi): ConfigProblem[] => {
    const at = [...prefix, ...zi.path];
    if (zi.code === 'unrecognized_keys') {
      return zi.keys.map((key) => ({
        file,
        path: joinPath([...at, key]),
        message: 'is not a setting of this file: check its spelling (unknown keys are refused)',
      }));
    }
    const input = (zi as { input?: unknown }).input;
    if (zi.code === 'invalid_type' && input === undefined) {
      return [{ file, path: joinPath(at), message: `is missing: expected ${zi.expected}` }];
    }
    const got = input !== undefined && (typeof input !== 'object' || input === null) ? ` (found ${shown(input)})` : '';
    return [{ file, path: joinPath(at), message: `${zi.message}${got}` }];
  });
}

/** One line per problem: `file at path: message`. */
export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems.map((p) => `${displayFile(p.file)}${p.path ? ` at ${p.path}` : ''}: ${p.message}`).join('\n');
}
