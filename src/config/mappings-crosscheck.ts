import { basename } from 'node:path';
import { OperationOutcomeError, validateResource } from '@medplum/core';
import type { ConceptMap, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../contract/definitions.js';
import { contractField } from '../records/aliases/contract-paths.js';
import type { ConfigProblem } from './config-problems.js';
import type { SourceMapping } from './source-schema.js';

/** A ConceptMap with the file it came from. */
export interface ConceptMapFile {
  file: string;
  map: ConceptMap;
}

/** Medplum's R4 validator returns warnings and throws errors: both become issues here. */
function fhirIssues(map: ConceptMap): OperationOutcomeIssue[] {
  try {
    return validateResource(map);
  } catch (err) {
    if (err instanceof OperationOutcomeError) return err.outcome.issue ?? [];
    throw err;
  }
}

/** Each ConceptMap is a valid R4 resource with a unique url, and uses only what translation supports. */
export function checkConceptMaps(maps: ConceptMapFile[]): ConfigProblem[] {
  if (maps.length) loadFhirDefinitions();
  return maps.flatMap(({ file, map }, i): ConfigProblem[] => {
    const fhir = fhirIssues(map)
      .filter((o) => o.severity === 'error')
      .map((o) => ({
        file,
        path: (o.expression?.[0] ?? '').replace(/^ConceptMap\.?/, ''),
        message: `not valid FHIR R4: ${o.details?.text ?? 'invalid'}`,
      }));
    const dup =
      maps.findIndex((m) => m.map.url === map.url) < i
        ? [{ file, path: 'url', message: `"${map.url}" is also the url of another ConceptMap: each needs its own` }]
        : [];
    const groups = (map.group ?? []).flatMap((g, gi): ConfigProblem[] => {
      if (g.unmapped?.mode === 'other-map')
        return [
          {
            file,
            path: `group[${gi}].unmapped.mode`,
            message: '"other-map" is not supported: list the codes here, or use "provided" or "fixed"',
          },
        ];
      if (g.unmapped?.mode === 'fixed' && !g.unmapped.code)
        return [{ file, path: `group[${gi}].unmapped.code`, message: 'is missing: "fixed" needs the code to use' }];
      return [];
    });
    return [...fhir, ...dup, ...groups];
  });
}

/** Every code a ConceptMap can produce: its usable targets and its fixed/provided fallbacks ('*' for provided). */
function producedCodes(map: ConceptMap): string[] {
  return (map.group ?? []).flatMap((g) => [
    ...(g.element ?? []).flatMap((e) =>
      (e.target ?? []).filter((t) => t.code && t.equivalence !== 'unmatched' && t.equivalence !== 'disjoint').map((t) => t.code as string),
    ),
    ...(g.unmapped?.mode === 'fixed' && g.unmapped.code ? [g.unmapped.code] : []),
  ]);
}

function fieldProblems(file: string, where: string, field: string): ConfigProblem[] {
  return contractField(field).found
    ? []
    : [{ file, path: where, message: `"${field}" is not a field of any pathway record: check it against GET /schemas/<pathway>.json` }];
}

function valueProblems(source: SourceMapping): ConfigProblem[] {
  return Object.entries(source.values).flatMap(([field, map]) => {
    const where = `values."${field}"`;
    const allowed = contractField(field).values;
    const missing = fieldProblems(source.file, where, field);
    if (missing.length || !allowed) return missing;
    return Object.entries(map)
      .filter(([, v]) => !allowed.includes(v))
      .map(([k, v]) => ({
        file: source.file,
        path: `${where}."${k}"`,
        message: `${JSON.stringify(v)} is not a value of ${field}: expected one of ${allowed.join(', ')}`,
      }));
  });
}

function codeProblems(source: SourceMapping, maps: ConceptMapFile[], unloaded: readonly string[]): ConfigProblem[] {
  return Object.entries(source.codes).flatMap(([field, ref]) => {
    const where = `codes."${field}"`;
    const missing = fieldProblems(source.file, where, field);
    if (missing.length) return missing;
    const found = maps.find((m) => m.map.url === ref || basename(m.file, '.json') === ref);
    if (!found && unloaded.includes(ref)) return [];
    if (!found) return [{ file: source.file, path: where, message: `no ConceptMap in conceptmaps/ has url or file name "${ref}"` }];
    const allowed = contractField(field).values;
    if (!allowed) return [];
    return producedCodes(found.map)
      .filter((c) => !allowed.includes(c))
      .map((c) => ({
        file: found.file,
        path: 'group',
        message: `translates to "${c}", which ${field} does not accept (used by ${basename(source.file)}): expected one of ${allowed.join(', ')}`,
      }));
  });
}

/** Each source mapping renames onto real contract fields, maps to allowed values, and names existing ConceptMaps. */
export function checkSources(sources: SourceMapping[], maps: ConceptMapFile[], unloaded: readonly string[] = []): ConfigProblem[] {
  const claimed = new Map<string, string>();
  return sources.flatMap((source) => {
    const systems = (source.appliesTo?.sourceSystems ?? []).flatMap((system, i): ConfigProblem[] => {
      const other = claimed.get(system);
      claimed.set(system, source.name);
      return other
        ? [
            {
              file: source.file,
              path: `appliesTo.sourceSystems[${i}]`,
              message: `"${system}" is already claimed by sources/${other}.json: one source mapping per system`,
            },
          ]
        : [];
    });
    const seen = new Set<string>();
    const fields = source.fields.flatMap((f, i) => {
      const dup: ConfigProblem[] = seen.has(f.from)
        ? [{ file: source.file, path: `fields[${i}].from`, message: `"${f.from}" is renamed twice` }]
        : [];
      seen.add(f.from);
      return [...dup, ...fieldProblems(source.file, `fields[${i}].to`, f.to)];
    });
    return [...systems, ...fields, ...valueProblems(source), ...codeProblems(source, maps, unloaded)];
  });
}
