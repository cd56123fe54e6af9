import type { Coding, ConceptMap, ConceptMapGroup } from '@medplum/fhirtypes';

/**
 * Equivalences under which a target code may stand for the source code. A narrower, specialised or
 * inexact target would assert more (or other) than the sender said: in a clinical record that is
 * worse than no translation, so those are never applied.
 */
const usableEquivalences = new Set(['relatedto', 'equivalent', 'equal', 'wider', 'subsumes']);

/** The outcome of translating one code: the translated code, or why there is none. */
export type CodeTranslation = { ok: true; code: string } | { ok: false; reason: string };

/** A ConceptMap by its url, or undefined. */
export function conceptMapByUrl(maps: readonly ConceptMap[], url: string): ConceptMap | undefined {
  return maps.find((m) => m.url === url);
}

function targetOf(group: ConceptMapGroup, code: string): string | undefined {
  const element = group.element?.find((e) => e.code === code);
  return element?.target?.find((t) => t.code && usableEquivalences.has(t.equivalence ?? ''))?.code;
}

function unmappedOf(group: ConceptMapGroup, code: string): string | undefined {
  if (group.unmapped?.mode === 'provided') return code;
  if (group.unmapped?.mode === 'fixed') return group.unmapped.code;
  return undefined;
}

/**
 * Translates a sender's code with one ConceptMap ($translate in one direction, all groups): an
 * element's usable target first, then a group's `unmapped` rule (`provided` keeps the code, `fixed`
 * gives one). No translation is reported, never guessed or dropped.
 */
export function translateCode(map: ConceptMap, code: string): CodeTranslation {
  const groups = map.group ?? [];
  for (const group of groups) {
    const target = targetOf(group, code);
    if (target !== undefined) return { ok: true, code: target };
  }
  for (const group of groups) {
    const fallback = unmappedOf(group, code);
    if (fallback !== undefined) return { ok: true, code: fallback };
  }
  const listed = groups.some((g) => g.element?.some((e) => e.code === code));
  // The reason never quotes the code: a free-text value in a coded field could be about the person.
  return {
    ok: false,
    reason: listed ? 'it is listed with no usable target (only narrower, inexact or unmatched ones)' : 'it is not listed',
  };
}

/**
 * The standard codings a coding also has, from every ConceptMap group whose source is the coding's
 * system (e.g. engagement barriers → SNOMED CT). None when no map covers it: the original coding
 * always stays, so nothing is lost.
 */
export function standardCodings(maps: readonly ConceptMap[], coding: Coding): Coding[] {
  return maps
    .filter((m) => m.status !== 'retired')
    .flatMap((m) => m.group ?? [])
    .filter((g) => g.source === coding.system && g.target && g.target !== coding.system)
    .flatMap((g) => {
      const element = g.element?.find((e) => e.code === coding.code);
      return (element?.target ?? [])
        .filter((t) => t.code && usableEquivalences.has(t.equivalence ?? ''))
        .map((t): Coding => ({ system: g.target, code: t.code, ...(t.display ? { display: t.display } : {}) }));
    });
}

/** A contract coding followed by its standard codings from mappings/conceptmaps/ (e.g. SNOMED CT), if any. */
export function withStandardCodings(ctx: { mappings: { conceptMaps: readonly ConceptMap[] } }, coding: Coding): Coding[] {
  return [coding, ...standardCodings(ctx.mappings.conceptMaps, coding)];
}
