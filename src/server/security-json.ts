import { AdapterError, issue, outcome } from '../outcomes/index.js';

/**
 * Deepest nesting a request body may have. The contract's deepest field is five levels down
 * (`escalationRoute.clinicalOwner.identifier.system` in an array item); 32 leaves room to grow while
 * refusing nesting bombs before the schema, mapping or logging code walks them recursively.
 */
export const maxJsonDepth = 32;
/** Keys that reach Object.prototype once any code copies or merges the parsed body (prototype pollution). */
export const forbiddenJsonKeys: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Checks a parsed JSON body for forbidden keys and excess depth; answers the 400 to send, if any.
 * Iterative, so that the check itself cannot overflow the stack on the bodies it exists to refuse.
 */
export function unsafeJson(body: unknown): AdapterError | undefined {
  const stack: Array<{ value: unknown; depth: number; path: string }> = [{ value: body, depth: 0, path: '' }];
  while (stack.length) {
    const { value, depth, path } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (depth >= maxJsonDepth) {
      return new AdapterError(400, outcome([issue('unsafe-json', 'too-costly',
        `The body is nested deeper than ${maxJsonDepth} levels; pathway records are far shallower.`)]));
    }
    for (const [key, child] of Object.entries(value)) {
      const childPath = Array.isArray(value) ? `${path}[${key}]` : path ? `${path}.${key}` : key;
      if (!Array.isArray(value) && forbiddenJsonKeys.has(key)) {
        return new AdapterError(400, outcome([issue('unsafe-json', 'security',
          `The key "${key}" is not accepted in a record (it could alter object prototypes); remove it.`, [childPath])]));
      }
      stack.push({ value: child, depth: depth + 1, path: childPath });
    }
  }
  return undefined;
}
