import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { ConceptMap } from '@medplum/fhirtypes';
import type { z } from 'zod';
import { formatProblems, zodProblems, type ConfigProblem } from './config-problems.js';
import { codesSchema, routingSchema, siteSchema, thresholdsSchema, type Mappings } from './mappings-schema.js';
import { checkConceptMaps, checkSources } from './mappings-crosscheck.js';
import { conceptMapSchema, sourceMappingSchema, type SourceMapping } from './source-schema.js';

export type { ConfigProblem } from './config-problems.js';

/** Raised when a file in mappings/ is missing or does not match its schema; start-up stops. */
export class MappingsError extends Error {
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[] | string) {
    const list = typeof problems === 'string' ? [{ file: 'mappings/', path: '', message: problems }] : problems;
    super(`mappings/ is not valid (${list.length} problem${list.length === 1 ? '' : 's'}):\n${formatProblems(list)}`);
    this.problems = list;
  }
}

/** The default mappings folder: `mappings/` at the project root. */
export const defaultMappingsDir = resolve(import.meta.dirname, '../../mappings');

/** The files of the record pipeline at the root of mappings/, and the folders beside them. */
const rootFiles = {
  'site.json': siteSchema,
  'routing.json': routingSchema,
  'thresholds.json': thresholdsSchema,
  'codes.json': codesSchema,
} as const;
const folders = { sources: 'sources', conceptMaps: 'conceptmaps' } as const;

type Checked<T> = { value?: T; problems: ConfigProblem[] };

function readJson(file: string): Checked<unknown> {
  if (!existsSync(file))
    return { problems: [{ file, path: '', message: "is missing: every mappings folder needs it (copy it from the project's mappings/)" }] };
  try {
    return { value: JSON.parse(readFileSync(file, 'utf8')), problems: [] };
  } catch (err) {
    return { problems: [{ file, path: '', message: `is not valid JSON (${(err as Error).message})` }] };
  }
}

function checkFile<T>(file: string, schema: z.ZodType<T>): Checked<T> {
  const json = readJson(file);
  if (json.problems.length) return { problems: json.problems };
  const parsed = schema.safeParse(json.value, { reportInput: true });
  return parsed.success ? { value: parsed.data, problems: [] } : { problems: zodProblems(file, parsed.error.issues) };
}

function jsonFilesIn(dir: string): string[] {
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => join(dir, f))
    : [];
}

/**
 * Checks every file of a mappings folder and collects every problem (not only the first), each naming
 * its file, the path inside it and what is expected. `mappings` is set only when there is none.
 */
export function checkMappings(dir: string = defaultMappingsDir): { mappings?: Mappings; problems: ConfigProblem[] } {
  const [site, routing, thresholds, codes] = (Object.keys(rootFiles) as (keyof typeof rootFiles)[]).map((name) =>
    checkFile(join(dir, name), rootFiles[name] as z.ZodType),
  );
  const mapFiles = jsonFilesIn(join(dir, folders.conceptMaps));
  const maps = mapFiles.map((file) => checkFile(file, conceptMapSchema as z.ZodType<ConceptMap>));
  const sourceFiles = jsonFilesIn(join(dir, folders.sources));
  const sources = sourceFiles.map((file) => checkFile(file, sourceMappingSchema));
  const conceptMaps = maps.flatMap((m, i) => (m.value ? [{ file: mapFiles[i] as string, map: m.value }] : []));
  const loadedSources: SourceMapping[] = sources.flatMap((s, i) =>
    s.value ? [{ ...s.value, name: basename(sourceFiles[i] as string, '.json'), file: sourceFiles[i] as string }] : [],
  );
  // A ConceptMap that did not load is reported once, not again by every source that names it.
  const unloaded = mapFiles.filter((_, i) => !maps[i]?.value).map((f) => basename(f, '.json'));
  const cross = [...checkConceptMaps(conceptMaps), ...checkSources(loadedSources, conceptMaps, unloaded)];
  const problems = [...[site, routing, thresholds, codes, ...maps, ...sources].flatMap((c) => c!.problems), ...cross];
  if (problems.length) return { problems };
  return {
    problems,
    mappings: {
      site: site!.value,
      routing: routing!.value,
      thresholds: thresholds!.value,
      codes: codes!.value,
      sources: loadedSources.map((s) => resolveCodeRefs(s, conceptMaps)),
      conceptMaps: conceptMaps.map((c) => c.map),
    } as Mappings,
  };
}

/** A source's `codes` may name a ConceptMap by file name; from here on each names it by url. */
function resolveCodeRefs(source: SourceMapping, maps: { file: string; map: ConceptMap }[]): SourceMapping {
  const urlOf = (ref: string) => maps.find((m) => m.map.url === ref || basename(m.file, '.json') === ref)?.map.url ?? ref;
  return { ...source, codes: Object.fromEntries(Object.entries(source.codes).map(([field, ref]) => [field, urlOf(ref)])) };
}

/** Reads and checks every file of a mappings folder; throws MappingsError naming each file and path. */
export function loadMappings(dir: string = defaultMappingsDir): Mappings {
  const { mappings, problems } = checkMappings(dir);
  if (!mappings) throw new MappingsError(problems);
  return mappings;
}
