/**
 * Field paths of a record, as the mappings files write them: `nextAppt.when`, `concerns[].category`.
 * A pattern segment is a key or `[]` (every element); a concrete path has indices instead.
 */
export type Segment = string | number;
export type PatternSegment = string | '[]';

/** Splits `a.b[].c` into ['a', 'b', '[]', 'c']. */
export function parsePattern(path: string): PatternSegment[] {
  return path.split('.').flatMap((part) => (part.endsWith('[]') ? [part.slice(0, -2), '[]' as const] : [part]));
}

/** Splits an issue path such as `informationShared[0].category` into ['informationShared', 0, 'category']. */
export function parseConcrete(path: string): Segment[] {
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : (m[1] as string)));
}

/** Writes ['a', 0, 'b'] as `a[0].b`. */
export function formatConcrete(path: readonly Segment[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${p}`)).join('');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every concrete path (and its value) a pattern reaches in a document; `[]` expands over each element. */
export function expand(doc: unknown, pattern: readonly PatternSegment[], at: Segment[] = []): { path: Segment[]; value: unknown }[] {
  if (pattern.length === 0) return [{ path: at, value: doc }];
  const [head, ...rest] = pattern;
  if (head === '[]') {
    return Array.isArray(doc) ? doc.flatMap((v, i) => expand(v, rest, [...at, i])) : [];
  }
  return isObject(doc) && Object.hasOwn(doc, head as string) ? expand(doc[head as string], rest, [...at, head as string]) : [];
}

/** Fills a pattern's `[]` with the indices of a concrete path, in order. */
export function fill(pattern: readonly PatternSegment[], indices: readonly number[]): Segment[] {
  let next = 0;
  return pattern.map((s) => (s === '[]' ? (indices[next++] ?? 0) : s));
}

/** The indices of a concrete path, in order. */
export function indicesOf(path: readonly Segment[]): number[] {
  return path.filter((s): s is number => typeof s === 'number');
}

/** Sets a value at a concrete path, creating objects and arrays on the way; objects already there are merged. */
export function set(doc: Record<string, unknown>, path: readonly Segment[], value: unknown): void {
  let node: Record<Segment, unknown> = doc;
  path.forEach((seg, i) => {
    if (i === path.length - 1) {
      node[seg] = merge(node[seg], value);
      return;
    }
    if (node[seg] === undefined || typeof node[seg] !== 'object' || node[seg] === null) {
      node[seg] = typeof path[i + 1] === 'number' ? [] : {};
    }
    node = node[seg] as Record<Segment, unknown>;
  });
}

/** Deep-merges b into a: objects key by key, arrays element by element, anything else b wins. */
export function merge(a: unknown, b: unknown): unknown {
  if (Array.isArray(a) && Array.isArray(b)) {
    return Array.from({ length: Math.max(a.length, b.length) }, (_, i) => (i < b.length ? merge(a[i], b[i]) : a[i]));
  }
  if (isObject(a) && isObject(b)) {
    const out: Record<string, unknown> = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = merge(a[k], v);
    return out;
  }
  return b === undefined ? a : b;
}

/**
 * When a concrete path starts with what a pattern describes, the length of that prefix; else -1.
 * `[]` matches any index.
 */
export function prefixMatch(pattern: readonly PatternSegment[], path: readonly Segment[]): number {
  if (pattern.length > path.length) return -1;
  return pattern.every((p, i) => (p === '[]' ? typeof path[i] === 'number' : p === path[i])) ? pattern.length : -1;
}
