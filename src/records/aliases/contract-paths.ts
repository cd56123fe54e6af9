import type { z } from 'zod';
import { pathwaySchemas } from '../index.js';
import { parsePattern, type PatternSegment } from './paths.js';

type Scalar = string | number | boolean;

/** What the record contract has at a field path, over all pathways. */
export interface ContractField {
  found: boolean;
  /** The allowed values, when every pathway that has the field restricts it to a list. */
  values?: Scalar[];
}

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  options?: z.ZodType[];
  entries?: Record<string, Scalar>;
  values?: Scalar[];
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** Unwraps optional/default/pipe and spreads unions, so that a walk sees the shapes underneath. */
function variants(schema: z.ZodType): z.ZodType[] {
  const def = defOf(schema);
  if (def.innerType) return variants(def.innerType);
  if (def.type === 'pipe' && def.in) return variants(def.in);
  if (def.type === 'union' && def.options) return def.options.flatMap(variants);
  return [schema];
}

function step(schema: z.ZodType, seg: PatternSegment): z.ZodType[] {
  return variants(schema).flatMap((v) => {
    const def = defOf(v);
    if (seg === '[]') return def.type === 'array' && def.element ? [def.element] : [];
    const child = def.type === 'object' ? def.shape?.[seg] : undefined;
    return child ? [child] : [];
  });
}

function allowedValues(schemas: z.ZodType[]): Scalar[] | undefined {
  const leaves = schemas.flatMap(variants).map(defOf);
  if (!leaves.every((d) => d.type === 'enum' || d.type === 'literal')) return undefined;
  return [...new Set(leaves.flatMap((d) => (d.type === 'enum' ? Object.values(d.entries ?? {}) : (d.values ?? []))))];
}

/** Looks a field path (`concerns[].category`) up in every pathway's schema. */
export function contractField(path: string): ContractField {
  const pattern = parsePattern(path);
  const reached = Object.values(pathwaySchemas).flatMap((schema) =>
    pattern.reduce<z.ZodType[]>((at, seg) => at.flatMap((s) => step(s, seg)), [schema as z.ZodType]),
  );
  if (reached.length === 0) return { found: false };
  const values = allowedValues(reached);
  return values ? { found: true, values } : { found: true };
}
